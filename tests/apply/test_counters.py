"""Per-client request counters survive a reload on both engines (issue 12 item 14): NGINX keeps its
``limit_req`` zone in shared memory; HAProxy's old workers teach the new ones their stick tables over a local
peer, and ctlplane holds a reload until the serving worker can do so (up to 5 s after a cold start in 2.6)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ctlplane.apply import apply_model
from ctlplane.drivers import haproxy_api
from tests.apply.local import Echo, free_port
from tests.apply.test_local import ENGINES, generation, model_text, stop_after  # noqa: F401 - a fixture
from tests.helpers import need_binary

BURST = 59  # with 1 request per second: 60 at once; a reload (even a slow one) gives back only a few


def statuses(url: str, count: int) -> list[int]:
    with httpx.Client(timeout=5) as client:
        return [client.get(url).status_code for _ in range(count)]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_client_that_spent_its_budget_does_not_get_a_new_one_at_a_reload(
        engine: str, tmp_path: Path, echoes: dict[str, Echo], stop_after: list[Path]) -> None:  # noqa: F811
    need_binary(engine)
    port = free_port()
    model = tmp_path / "model.yaml"
    text = model_text(engine, port, {"a": [echoes["a1"]], "b": [echoes["b1"]]}, "a").replace(
        "default_pool: a}", f"default_pool: a, limits: {{requests_per_second: 1, burst: {BURST}}}}}")
    assert "limits:" in text
    model.write_text(text)
    stop_after.append(model)
    assert [r.outcome for r in apply_model(str(model))] == ["started"]  # a cold start: the hardest case
    url = f"http://127.0.0.1:{port}/"
    spent = statuses(url, BURST + 1)
    assert spent.count(200) >= BURST, spent  # the budget, spent at once
    assert statuses(url, 3) == [429, 429, 429]
    before = generation(model)
    model.write_text(text.replace("default_pool: a,", "default_pool: b,"))
    assert [r.outcome for r in apply_model(str(model))] == ["reloaded"]
    assert generation(model).workers != before.workers  # new workers: it was a reload
    after = statuses(url, 20)
    # without the hand-over all 20 would pass; at one request per second a reload gives back a few at most
    assert after.count(429) >= 10, after


NOT_YET = """0x562c7cadbf50: [06/Dec/2026:16:04:55] id=ctl_reload disabled=0 flags=0x11 resync_timeout=3s task_calls=6
  0x562c7cadc0c0: id=ctlplane(local,inactive) addr=unix:0 last_status=NONE last_hdshk=<NEVER>
"""


@pytest.mark.parametrize(("answer", "synced"), [
    (NOT_YET, False),  # 2.6 right after a cold start: still waiting for remote peers (5 s)
    (NOT_YET.replace("flags=0x11", "flags=0x33"), True),  # that wait is over
    (NOT_YET.replace("flags=0x11", "flags=0x1103"), True),  # taught by the old workers at a reload
    ("", True),  # no peers section: nothing to hand over
])
def test_a_worker_can_hand_its_tables_over_once_its_own_resync_is_finished(answer: str, synced: bool) -> None:
    assert haproxy_api.peers_synced(answer) is synced

"""Former gaps, now closed: values the model's types allow but a real binary
refuses are refused by the model (``ctlplane/model/engine_limits.py``), error
messages echoing user input stay one line, and two proxies cannot drive one
container. For each engine limit a test also shows, by rendering the model
without the engine checks, that the real binary does refuse it — so the
refusal is needed, not arbitrary.
"""

from __future__ import annotations

from typing import Any

import pytest

from ctlplane.errors import ModelError
from ctlplane.model.assets import read_assets
from ctlplane.model.load import Loaded, load_bytes, validate_data
from ctlplane.render import render_all
from ctlplane.validate import check_proxy_outputs, errors_only
from tests.helpers import need_binary
from tests.security.world import World

ENGINES_FIX = "ctlplane/model/engines.py"


def model(engine: str, pool: dict[str, Any] | None = None, service: dict[str, Any] | None = None,
          **top: Any) -> dict[str, Any]:
    return {
        "pools": [{"name": "p", "servers": [{"name": "s", "address": "127.0.0.1", "port": 8080}], **(pool or {})}],
        "services": [{"name": "web", "mode": "http", "listen": {"address": "127.0.0.1", "port": 18080},
                      "default_pool": "p", **(service or {})}],
        "proxies": [{"name": "lb", "engine": engine, "services": ["web"]}],
        **top,
    }


GAPS = {
    # id: (engine, model, what the binary says, the fix)
    "nginx-subsecond-fail-timeout": (
        "nginx", model("nginx", pool={"health": {"passive": {"window": "1500ms"}}}), "fail_timeout",
        f"{ENGINES_FIX} _nginx_pool: refuse health.passive.window that is not whole seconds "
        "(NGINX's fail_timeout takes seconds)"),
    "nginx-subsecond-cache-valid": (
        "nginx", model("nginx", service={"cache": {"valid": "500ms"}}), "invalid time value",
        f"{ENGINES_FIX} _nginx_service: refuse cache.valid that is not whole seconds "
        "(proxy_cache_valid and proxy_cache_path inactive= take seconds)"),
    "nginx-limit-conn-above-65535": (
        "nginx", model("nginx", service={"limits": {"connections_per_client": 70000}}), "connection limit",
        f"{ENGINES_FIX} _nginx_service (and the tcp services): refuse limits.connections_per_client > 65535"),
    "haproxy-timeout-above-24-days": (
        "haproxy", model("haproxy", service={"timeouts": {"server": "30d"}}), "timer overflow",
        f"{ENGINES_FIX} _haproxy_service/_haproxy_pool: refuse timeouts and health intervals above 2147483647 ms "
        "(HAProxy timers)"),
    "haproxy-check-interval-above-24-days": (
        "haproxy", model("haproxy", pool={"health": {"active": {"type": "tcp", "interval": "30d"}}}),
        "timer overflow", f"{ENGINES_FIX} _haproxy_pool: refuse health intervals above 2147483647 ms"),
}


def _unchecked(data: dict[str, Any], world: World) -> Loaded:
    """The model without the engine checks (what ctlplane would render if it did not refuse)."""
    from ctlplane.model.root import Model

    loaded = Loaded(Model.model_validate(data), world.model_file, {})
    read_assets(loaded)
    return loaded


def _stage1(data: dict[str, Any], world: World) -> Loaded:
    loaded = Loaded(validate_data(data, {}, world.model_file), world.model_file, {})
    read_assets(loaded)
    return loaded


@pytest.mark.parametrize("gap", sorted(GAPS))
def test_the_binary_refuses_what_the_model_now_refuses(gap: str, world: World) -> None:
    engine, data, message, _ = GAPS[gap]
    need_binary(engine)
    loaded = _unchecked(data, world)
    outputs = render_all(loaded.model, read_assets(loaded))
    errors = errors_only(check_proxy_outputs(outputs, {"lb": engine}))
    assert any(message in f.message for f in errors), [f.one_line() for f in errors]


@pytest.mark.parametrize("gap", sorted(GAPS))
def test_the_model_refuses_it(gap: str, world: World) -> None:
    with pytest.raises(ModelError) as caught:
        _stage1(GAPS[gap][1], world)
    assert len(caught.value.findings) == 1 and caught.value.findings[0].path, caught.value


def test_every_error_is_one_line() -> None:
    raw = b'services: []\nproxies: []\npools: [{name: p, servers: [], balance: {strategy: "x\\nerror: forged"}}]\n'
    with pytest.raises(ModelError) as caught:
        load_bytes(raw, "m.yaml")
    assert all("\n" not in f.one_line() for f in caught.value.findings)


def test_two_proxies_may_not_share_a_container() -> None:
    data = model("nginx")
    data["proxies"] = [{"name": n, "engine": "nginx", "services": ["web"],
                        "runtime": {"kind": "docker", "container": "same"}} for n in ("a", "b")]
    with pytest.raises(ModelError):
        validate_data(data, {}, "m.yaml")

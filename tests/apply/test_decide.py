"""The one pure decision of how a proxy reaches a release (ctlplane/decide.py), asked directly."""

from __future__ import annotations

from pathlib import Path

from ctlplane.decide import decide
from ctlplane.pipeline import build
from ctlplane.render import Output, RenderedFile

MODEL = """pools:
  - name: web
    servers:
      - {name: a, address: 127.0.0.1, port: 9001, weight: WEIGHT}
services:
  - {name: front, mode: http, listen: {port: PORT}, default_pool: web}
proxies:
  - {name: lb, engine: ENGINE, services: [front]}
"""


def files(tmp_path: Path, engine: str, weight: int = 1, port: int = 8080) -> Output:
    path = tmp_path / f"{engine}-{weight}-{port}.yaml"
    path.write_text(MODEL.replace("ENGINE", engine).replace("WEIGHT", str(weight)).replace("PORT", str(port)))
    return build(path).outputs["lb"]


def test_the_same_release_is_no_change_and_a_stopped_proxy_is_a_start(tmp_path: Path) -> None:
    release = files(tmp_path, "haproxy")
    assert decide(release, release, True, "haproxy").kind == "none"
    assert decide(release, release, False, "haproxy").kind == "start"
    assert decide(None, release, False, "nginx", why="orphans first").why == "orphans first"


def test_an_unknown_serving_release_is_a_reload_that_says_why(tmp_path: Path) -> None:
    change = decide(None, files(tmp_path, "nginx"), True, "nginx")
    assert change.kind == "reload" and "unknown" in change.why


def test_a_weight_is_runtime_on_haproxy_and_a_reload_on_nginx(tmp_path: Path) -> None:
    old, new = files(tmp_path, "haproxy"), files(tmp_path, "haproxy", weight=5)
    change = decide(old, new, True, "haproxy")
    assert change.kind == "runtime" and change.commands == ("set server be_web/a weight 5",)
    assert decide(files(tmp_path, "nginx"), files(tmp_path, "nginx", weight=5), True, "nginx").kind == "reload"


def test_a_listener_change_is_a_reload_and_a_mode_only_change_is_not_no_change(tmp_path: Path) -> None:
    old = files(tmp_path, "haproxy")
    assert decide(old, files(tmp_path, "haproxy", port=8081), True, "haproxy").kind == "reload"
    path, first = next(iter(old.items()))
    tighter = {**old, path: RenderedFile(first.content, 0o600)}
    assert decide(old, tighter, True, "haproxy").kind != "none"  # defect 11: a key 0644 -> 0600 is applied

"""Static content: NGINX serves files from a directory without a backend; HAProxy refuses the model.

The directory ``www`` is created beside the model file (under the test's tmp
dir) and named relative to it; the Docker driver mounts every static root
read-only at the same (absolute) path in the proxy's container. The
backend's hit counter proves static requests never reach the pool, while
other paths still do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ctlplane.errors import ModelError
from integration.harness import Deployer, Deployment, Lab
from integration.harness.probe import fetch, hits


def site(model_dir: Path) -> Path:
    root = model_dir / "www"
    (root / "css").mkdir(parents=True)
    (root / "hello.txt").write_text("hello from disk\n")
    (root / "css" / "site.css").write_text("body { color: black; }\n")
    (root / "index.html").write_text("<h1>index</h1>\n")
    return root


def deploy(deployer: Deployer, lab: Lab, engine: str) -> Deployment:
    site(deployer.tmp_path / "site")
    service = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "app",
               "static": [{"path_prefix": "/static/", "root": "www"}]}  # relative to the model file
    proxy = {"name": "lb", "engine": engine, "runtime": deployer.runtime(), "services": ["web"]}
    model = {"version": 1, "pools": [{"name": "app", "servers": lab.servers(["a"])}], "services": [service],
             "proxies": [proxy]}
    return deployer.apply_model(model, directory="site")[0]


def test_static_files(engine: str, lab: Lab, deployer: Deployer) -> None:
    if engine == "haproxy":
        with pytest.raises(ModelError, match="HAProxy does not serve static directories"):
            deploy(deployer, lab, engine)
        assert not deployer.deployments[0].state_dir.exists()  # refused before anything was written or started
        return
    lb = deploy(deployer, lab, engine)
    target = lb.target()
    for path, body, mime in [("/static/hello.txt", b"hello from disk\n", "text/plain"),
                             ("/static/css/site.css", b"body { color: black; }\n", "text/css"),
                             ("/static/", b"<h1>index</h1>\n", "text/html")]:
        answer = fetch(lab.client, target, path)
        assert (answer.status, answer.body) == (200, body), (path, answer)
        assert answer.headers.get("content-type", "").startswith(mime), (path, answer.headers)
    assert fetch(lab.client, target, "/static/missing.txt").status == 404
    assert hits(lab, "a") == 0  # none of these reached the pool
    other = fetch(lab.client, target, "/app/page")
    assert other.status == 200 and other.headers.get("x-server") == "a", other
    assert hits(lab, "a") == 1

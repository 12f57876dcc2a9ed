"""What every generated model must satisfy, shared by the CI tests and
``proof.py``: it validates, its files are confined and readable, it renders,
its rendered files keep their invariants (no code-loading directive, keys
0600, one file per certificate, only relative paths), and the real
``nginx -t`` / ``haproxy -c`` (and keepalived for pairs) accept it."""

from __future__ import annotations

import os
from typing import Any

from ctlplane.errors import ModelError
from ctlplane.model.assets import read_assets
from ctlplane.model.load import Loaded, validate_data
from ctlplane.model.root import Model
from ctlplane.model.service import HttpService, TcpService
from ctlplane.render import Output, render_all
from ctlplane.validate import check_proxy_outputs, errors_only
from tests.security.structure import haproxy_code_loading, nginx_code_loading, nginx_parse
from tests.security.world import World

# Examples per engine: a modest count in CI, many more with CTLPLANE_PROOF_EXAMPLES (make proof).
EXAMPLES = int(os.environ.get("CTLPLANE_PROOF_EXAMPLES") or 60)


def load(data: dict[str, Any], world: World) -> Loaded:
    """Stage 1 without YAML: the model and its engine refusals (raises ModelError)."""
    return Loaded(validate_data(data, {}, world.model_file), world.model_file, {})


def render_checked(engine: str, data: dict[str, Any], world: World) -> tuple[Model, dict[str, Output]]:
    try:
        loaded = load(data, world)
        assets = read_assets(loaded)
    except ModelError as exc:
        raise AssertionError(f"the generator drew a model that ctlplane refuses:\n{exc}") from None
    outputs = render_all(loaded.model, assets)
    for name, files in outputs.items():
        assert_invariants(engine, loaded.model, name, files)
    return loaded.model, outputs


def prove(engine: str, data: dict[str, Any], world: World) -> int:
    """Render and run the real config tests; return how many binary checks passed (raises on any error)."""
    model, outputs = render_checked(engine, data, world)
    findings = check_proxy_outputs(outputs, {p.name: p.engine for p in model.proxies})
    errors = [f.one_line() for f in errors_only(findings)]
    assert not errors, "a real binary refused a valid model:\n" + "\n".join(errors)
    return len(outputs) + sum("keepalived.conf" in files for files in outputs.values())


def assert_invariants(engine: str, model: Model, proxy_name: str, files: Output) -> None:
    proxy = model.proxy(proxy_name)
    parsed = nginx_parse(files["nginx.conf"].content) if engine == "nginx" else None
    found = nginx_code_loading(parsed["parsed"]) if parsed else haproxy_code_loading(files["haproxy.cfg"].content.decode())
    assert not found, found
    for rel, rendered in files.items():
        assert not rel.startswith("/") and ".." not in rel.split("/") and "\\" not in rel, rel
        if b"PRIVATE KEY" in rendered.content:
            assert rendered.mode == 0o600, f"{rel} holds a key but is {oct(rendered.mode)}"
        if rel.startswith("auth/") or (rel == "haproxy.cfg" and b"\nuserlist " in rendered.content):
            assert rendered.mode & 0o007 == 0, f"{rel} holds password hashes but is {oct(rendered.mode)}"
    services = [model.service(n) for n in proxy.services]
    tls = [s for s in services if isinstance(s, HttpService) and s.tls]
    n_certs = sum(len(s.tls.certificates) for s in tls)  # type: ignore[union-attr]
    extra = [rel for rel in files if rel.startswith("certs/pools/") or rel.endswith(("-client-ca.crt", "-client-ca.pem"))]
    certs = [rel for rel in files if rel.startswith("certs/") and rel not in extra]
    used = {p for s in services for p in ([s.pool] if isinstance(s, TcpService) else
                                          [r.pool for r in s.routes] + [s.default_pool] * bool(s.default_pool))}
    pools = [p for p in model.pools if p.name in used and p.tls]
    per_client = 2 if engine == "nginx" else 1  # NGINX: certificate and key; HAProxy: one combined PEM
    assert len(extra) == len(set(extra)) == (sum(p.tls.verify != "none" for p in pools)  # type: ignore[union-attr]
                                             + per_client * sum(p.tls.client_cert is not None for p in pools)  # type: ignore[union-attr]
                                             + sum(s.tls.client_ca is not None for s in tls)), extra  # type: ignore[union-attr]
    if engine == "nginx":
        assert len(certs) == 2 * n_certs, "two certificates derived the same file name"
        assert parsed is not None and not parsed["errors"], parsed and parsed["errors"]
        modules = [d["args"] for d in parsed["parsed"] if d["directive"] == "load_module"]
        has_tcp = any(isinstance(s, TcpService) for s in services)
        assert modules == ([["/usr/lib/nginx/modules/ngx_stream_module.so"]] if has_tcp else []), modules
    else:
        assert len([r for r in certs if r.endswith(".pem")]) == n_certs, "two certificates derived one file name"
        assert len([r for r in certs if r.endswith(".crtlist")]) == len(tls)

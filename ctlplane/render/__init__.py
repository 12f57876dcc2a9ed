"""Rendering: a pure function from (model, assets) to each proxy's files.

``render_proxy`` returns ``{relative path: RenderedFile}`` for one proxy: the
engine's root config, copies of its certificates and keys (keys 0600) and,
for a member of an HA pair, ``keepalived.conf``. The same inputs always give
the same bytes. Every path inside a config is relative to the directory the
files are written to, so the exact bytes that were validated in a private
staging directory are the bytes deployed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctlplane.gc_pause import paused_gc
from ctlplane.model.assets import Assets
from ctlplane.model.root import Model


@dataclass(frozen=True)
class RenderedFile:
    """One output file: its bytes and its permission bits."""

    content: bytes
    mode: int = 0o644

    @property
    def secret(self) -> bool:
        return self.mode & 0o077 == 0


Output = dict[str, RenderedFile]


def text_file(text: str, mode: int = 0o644) -> RenderedFile:
    return RenderedFile(text.encode("utf-8"), mode)


def render_proxy(model: Model, proxy_name: str, assets: Assets) -> Output:
    """Every file of one proxy, sorted by path. Only the engines in use are imported (start-up time), keepalived's
    only when the model has pairs."""
    from ctlplane.render.release import seal

    proxy = model.proxy(proxy_name)
    if proxy.engine == "nginx":
        from ctlplane.render.nginx import render_nginx
        files = dict(render_nginx(model, proxy, assets))
    else:
        from ctlplane.render.haproxy import render_haproxy
        files = dict(render_haproxy(model, proxy, assets))
    if model.pairs:
        from ctlplane.render.keepalived import render_keepalived_for

        files.update(render_keepalived_for(model, proxy))
    return dict(sorted(seal(files).items()))


@paused_gc
def render_all(model: Model, assets: Assets) -> dict[str, Output]:
    """Every proxy's files, keyed by proxy name."""
    return {p.name: render_proxy(model, p.name, assets) for p in model.proxies}


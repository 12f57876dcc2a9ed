"""The read-only pipeline every verb shares: load the model, read its assets,
render every proxy, and (stage 2) have the real binaries check the result.

Pure apart from reading the model's own files, listing containers when a
discovery source is given (the members of discovered pools; without one they
have their static servers only), asking OCSP responders when one is given
(``ocsp.staple``: certificates to staple whose response is due; the responses
the active releases staple are read back), and, in :func:`binary_check`,
running the proxies' config tests in a private directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ctlplane.errors import ConfigTestError, Finding
from ctlplane.model.assets import Assets, read_assets
from ctlplane.model.load import Loaded, load_file
from ctlplane.render import Output, render_all

if TYPE_CHECKING:
    from ctlplane.discovery import Source
    from ctlplane.discovery.members import Snapshot
    from ctlplane.ocsp import Responder


def _no_members() -> Snapshot:
    from ctlplane.discovery.members import EMPTY

    return EMPTY


@dataclass(frozen=True)
class Build:
    """A loaded model, its assets, and every proxy's rendered files."""

    loaded: Loaded
    assets: Assets
    outputs: dict[str, Output]
    discovered: Snapshot = field(default_factory=_no_members)  # the members rendered into discovered pools
    notes: tuple[Finding, ...] = ()  # warnings the build met (an OCSP responder that could not be used)

    @property
    def engines(self) -> dict[str, str]:
        return {p.name: p.engine for p in self.loaded.model.proxies}

    def only(self, proxy: str | None) -> dict[str, Output]:
        if proxy is None:
            return self.outputs
        return {proxy: self.outputs[proxy]}


LARGE_MODEL_SERVERS = 1000


def build(path: str | Path, progress: Callable[[str], None] | None = None, discovery: Source | None = None,
          ocsp: Responder | None = None) -> Build:
    """Stage 1: load and validate the model and its files, then render. Raises ModelError.

    ``progress`` (the CLI's) hears about the long steps of a large model; the library never prints.
    ``discovery`` lists the members of discovered pools (DriverError when it cannot); without it they render
    with their static servers only. ``ocsp`` is asked for the OCSP responses of certificates to staple that are
    due for a refresh; without it the responses the proxies staple now are kept while they are valid.
    """
    from ctlplane.discovery.expand import discovered

    loaded = load_file(path)
    assets = read_assets(loaded)
    notes: list[Finding] = []
    if assets.ocsp_subjects:
        from ctlplane.ocsp.staple import staple

        assets, notes = staple(loaded, assets, ocsp)
    snapshot, model = discovered(loaded, discovery)
    servers = sum(len(p.servers) for p in model.pools)
    if progress and servers >= LARGE_MODEL_SERVERS:
        progress(f"rendering {len(loaded.model.proxies)} proxies with {servers} servers")
    result = Build(loaded, assets, render_all(model, assets), snapshot, tuple(notes))
    if progress and servers >= LARGE_MODEL_SERVERS:
        progress(f"rendered {sum(len(o) for o in result.outputs.values())} files")
    return result


def binary_check(result: Build, proxy: str | None = None) -> list[Finding]:
    """Stage 2: the real nginx/haproxy/keepalived config tests on the rendered files."""
    from ctlplane.validate import check_proxy_outputs

    outputs = result.only(proxy)
    return check_proxy_outputs(outputs, {name: result.engines[name] for name in outputs})


def require_clean(findings: list[Finding], *, allow_skipped: bool) -> None:
    """Raise ConfigTestError when a stage-2 finding is an error (or a skip, unless allowed)."""
    errors = [f for f in findings if f.is_error or (f.severity == "skipped" and not allow_skipped)]
    if errors:
        raise ConfigTestError("a proxy refused the rendered configuration", errors)

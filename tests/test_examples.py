"""Every example validates, renders and passes the real binaries — on its own
engine and on the other one. Where the other engine cannot do a feature the
example uses, the test expects the documented refusal naming that engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctlplane.errors import ModelError
from ctlplane.model.assets import read_assets
from ctlplane.model.load import Loaded, load_file, validate_data
from ctlplane.pipeline import Build, binary_check
from ctlplane.render import render_all
from tests.helpers import ROOT, example_certs, need_binary

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
OTHER = {"nginx": "haproxy", "haproxy": "nginx"}


@pytest.fixture(scope="module", autouse=True)
def _certs() -> None:
    example_certs(ROOT / "examples" / "certs")


def _swapped(path: Path) -> Loaded:
    loaded = load_file(path)
    data = loaded.model.model_dump(mode="json")
    for proxy in data["proxies"]:
        proxy["engine"] = OTHER[proxy["engine"]]
    return Loaded(validate_data(data, loaded.positions, loaded.file), loaded.file, loaded.positions)


def _check(loaded: Loaded) -> None:
    assets = read_assets(loaded)
    result = Build(loaded, assets, render_all(loaded.model, assets))
    for engine in set(result.engines.values()):
        need_binary(engine)
    if loaded.model.pairs:
        need_binary("keepalived")
    errors = [f.one_line() for f in binary_check(result) if f.severity != "warning"]
    assert not errors, "\n".join(errors)


def test_there_are_examples() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {"quickstart", "webapp-tls", "tcp-database", "edge", "ha-pair"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_as_written(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../schemas/ctlplane.schema.json\n")
    _check(load_file(path))


# What each example uses that the other engine refuses (None: it must render there too).
SWAP_REFUSALS = {
    "quickstart": "active health checks are not in NGINX open source",
    "tcp-database": "active health checks are not in NGINX open source",
    "edge": "HAProxy does not serve static directories",
    "video-billing": None,
    "ha-pair": None,
    "webapp-tls": None,
}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_on_the_other_engine(path: Path) -> None:
    refusal = SWAP_REFUSALS[path.stem]
    if refusal is None:
        _check(_swapped(path))
        return
    with pytest.raises(ModelError) as caught:
        _swapped(path)
    assert any(refusal in f.message for f in caught.value.findings), caught.value

"""Model cases side by side: every file under tests/model/valid loads; every
file under tests/model/invalid fails with exactly the error on its first line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctlplane.errors import ModelError
from ctlplane.model.load import load_file

HERE = Path(__file__).parent / "model"


@pytest.mark.parametrize("path", sorted((HERE / "valid").glob("*.yaml")), ids=lambda p: p.stem)
def test_valid_model_loads(path: Path) -> None:
    loaded = load_file(path)
    assert loaded.model.proxies


@pytest.mark.parametrize("path", sorted((HERE / "invalid").glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_model_gives_the_expected_error(path: Path) -> None:
    expected = path.read_text().splitlines()[0].removeprefix("# error: ")
    with pytest.raises(ModelError) as caught:
        load_file(path)
    first = caught.value.findings[0]
    assert first.file == str(path)
    assert first.one_line().removeprefix(f"{path}:") == expected

"""The documentation stays true: docs/reference.md is what docs/gen_reference.py
makes from the model's schema; every model in a recipe (a ```yaml block whose
first line is ``# ctlplane model``) passes stage 1 — and stage 2 with the real
binaries when they are installed — or, marked ``# ctlplane model: refused "…"``,
fails with that message; every local link in the docs resolves; and the
architecture page names every module of the package."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from ctlplane.errors import CtlplaneError
from ctlplane.pipeline import binary_check, build, require_clean
from tests.helpers import ROOT, example_certs, in_ci

DOCS = ROOT / "docs"
RECIPES = sorted((DOCS / "recipes").glob("*.md"))
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)
MARKER = "# ctlplane model"
REFUSED = re.compile(r'^# ctlplane model: refused "(.+)"$')
FEATURES = ["balancing", "health-checks", "sticky-sessions", "tls", "compression", "caching", "static-content",
            "access-lists", "limits", "tcp-services", "ha-pair", "watch", "ci", "status", "observability",
            "websocket", "http2-grpc", "mtls", "proxy-protocol", "redirects-rewrites", "headers", "authentication",
            "error-pages"]


def recipe_models() -> list[tuple[str, str]]:
    found = []
    for path in RECIPES:
        for n, match in enumerate(BLOCK.finditer(path.read_text())):
            if match.group(1).startswith(MARKER):
                found.append((f"{path.stem}#{n}", match.group(1)))
    return found


def test_reference_is_in_sync() -> None:
    sys.path.insert(0, str(DOCS))
    try:
        import gen_reference  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    committed = (DOCS / "reference.md").read_text()
    assert committed == gen_reference.generate(), "docs/reference.md drifted: run python docs/gen_reference.py"


def test_every_feature_has_a_recipe_with_a_model() -> None:
    models = {name.split("#")[0] for name, _ in recipe_models()}
    assert {p.stem for p in RECIPES} >= set(FEATURES)
    assert set(FEATURES) - {"watch", "ci", "status"} <= models


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What recipe models may reference beside them: certs/ (example certificates), static/, errors/ and auth/
    (the golden case's htpasswd files)."""
    base = tmp_path_factory.mktemp("recipes")
    example_certs(base / "certs")
    shutil.copytree(ROOT / "examples" / "static", base / "static")
    shutil.copytree(ROOT / "examples" / "errors", base / "errors")
    shutil.copytree(ROOT / "tests" / "golden" / "auth", base / "auth", ignore=shutil.ignore_patterns("expected"))
    return base


@pytest.mark.parametrize(("name", "text"), recipe_models(), ids=[n for n, _ in recipe_models()])
def test_recipe_model(name: str, text: str, workdir: Path) -> None:
    path = workdir / f"{name.replace('#', '-')}.yaml"
    path.write_text(text)
    refused = REFUSED.match(text.splitlines()[0])
    if refused:
        with pytest.raises(CtlplaneError) as caught:
            build(path)
        assert refused.group(1) in str(caught.value)
        return
    result = build(path)  # stage 1
    findings = binary_check(result)  # stage 2 (skipped per binary when it is missing, except in CI)
    require_clean(findings, allow_skipped=not in_ci())


LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_resolve(page: Path) -> None:
    for target, _ in LINK.findall(CODE.sub("", page.read_text())):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: broken link {target}"


def test_architecture_names_every_module() -> None:
    text = (DOCS / "architecture.md").read_text()
    modules = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "ctlplane").rglob("*.py"))
               if p.name not in ("__init__.py", "__main__.py")]
    missing = [m for m in modules
               if not re.search(r"(?<![\w/.])" + re.escape(m.removeprefix("ctlplane/")) + r"\b", text)]
    assert not missing, f"docs/architecture.md's module map lacks {missing}"

"""The layering the architecture promises: the pure core (model/, render/) imports nothing that acts on the
world or belongs to a verb; state/ never starts a process; only cli/ prints. Checked on the import
statements of every module (including imports inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "ctlplane"
FORBIDDEN = {
    "model": ("ctlplane.drivers", "ctlplane.state", "ctlplane.apply", "ctlplane.transaction", "ctlplane.cli",
              "ctlplane.status", "ctlplane.render", "ctlplane.watch", "ctlplane.pairs", "ctlplane.health"),
    "render": ("ctlplane.drivers", "ctlplane.state", "ctlplane.apply", "ctlplane.transaction", "ctlplane.cli",
               "ctlplane.status", "ctlplane.watch", "ctlplane.pairs", "ctlplane.health", "ctlplane.validate"),
    "state": ("ctlplane.drivers", "ctlplane.apply", "ctlplane.transaction", "ctlplane.cli", "ctlplane.status",
              "subprocess"),
    "drivers": ("ctlplane.apply", "ctlplane.transaction", "ctlplane.cli", "ctlplane.status", "ctlplane.pairs"),
}
ALLOWED_EXCEPTIONS = {
    ("model", "ctlplane.state.paths"),  # assets checks that the proxies' state directories do not overlap
    ("render", "ctlplane.state.layout"),  # pure constants: where a config finds its own files in the layout
}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_pure_core_and_the_state_layer_keep_to_their_side() -> None:
    broken = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for name in sorted(imports(path)):
                if (layer, name) in ALLOWED_EXCEPTIONS:
                    continue
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    broken.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not broken, "\n".join(broken)


def test_only_the_cli_prints() -> None:
    printing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                printing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not printing, printing


def test_only_the_process_seam_starts_processes() -> None:
    starters = [str(p.relative_to(ROOT)) for p in sorted(PACKAGE.rglob("*.py")) if "subprocess" in imports(p)]
    assert starters == ["ctlplane/drivers/process.py"]

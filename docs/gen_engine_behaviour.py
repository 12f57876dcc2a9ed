"""Generate docs/engine-behaviour.md from the parity table (integration/parity/table.py).

Run ``python docs/gen_engine_behaviour.py`` after changing the table;
``tests/test_parity_table.py`` fails when the committed page differs from
what this script makes. Every row of the page is a scenario that
``integration/test_parity.py`` runs on both engines with real traffic.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from integration.parity.table import (  # noqa: E402
    AREAS,
    DIFFERENCES_WITHOUT_SCENARIO,
    NO_SCENARIO,
    SCENARIOS,
    Scenario,
)

PAGE = ROOT / "docs" / "engine-behaviour.md"
HEADER = """# Engine behaviour: one model, the same behaviour on NGINX and HAProxy

ctlplane promises that a model means one behaviour, whichever engine renders it. This page is generated
from the parity table (`integration/parity/table.py`, by `docs/gen_engine_behaviour.py`; a test keeps it
in sync), and every row is a scenario that `integration/test_parity.py` runs against **both** engines in
Docker with real traffic: a small model, a request sequence from the lab's clients, and the observable
outcome — which must be the same on both. Where an engine cannot do what a model says, the model is
**refused** with a located error (`file:line:col (field.path)`) naming the engine and what to use
instead; nothing is silently dropped. The few places where the engines still differ are listed under
[Known differences](#known-differences), each with its reason (the scenarios that show them check the
documented outcome on each engine).

Outcomes are shown as the probe reports them: statuses, the backend that answered (`a`, `b`, `c`), what
the backend received (`seen:…`), response headers (`res:…`, `has:…`), and `{c1}`/`{c2}` for the client
addresses. Issue 12's items are listed with their scenarios [at the end](#issue-12-items).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _outcome(value: Any) -> str:
    return "`" + _cell(json.dumps(value, separators=(", ", ": "))) + "`"


def _row(s: Scenario) -> str:
    nginx = haproxy = "same"
    if s.differs:
        nginx, haproxy = _outcome(s.differs["nginx"]), _outcome(s.differs["haproxy"])
    if "nginx" in s.refused:
        nginx = "refused: " + _cell(s.refused["nginx"])
    if "haproxy" in s.refused:
        haproxy = "refused: " + _cell(s.refused["haproxy"])
    both = "—" if len(s.refused) == 2 else _outcome(s.expect) if not s.differs else "differs (see below)"
    return f"| `{s.id}` | {_cell(s.says)} | {both} | {nginx} | {haproxy} |"


def generate() -> str:
    parts = [HEADER]
    for area in AREAS:
        rows = [s for s in SCENARIOS if s.area == area]
        if not rows:
            continue
        parts.append(f"\n## {area}\n\n| scenario | the model says | outcome on both engines | NGINX | HAProxy |\n"
                     "|---|---|---|---|---|\n" + "\n".join(_row(s) for s in rows) + "\n")
    refused = [(s, e) for s in SCENARIOS for e in sorted(s.refused)]
    parts.append("\n## Refused combinations\n\nWhat an engine cannot honour is refused when the model is loaded, "
                 "with the field's location, the engine and the alternative:\n\n| scenario | engine | the "
                 "refusal says |\n|---|---|---|\n"
                 + "\n".join(f"| `{s.id}` | {e} | {_cell(s.refused[e])} … |" for s, e in refused) + "\n")
    parts.append("\n## Known differences\n\nWhere the engines cannot be aligned and a refusal would take away a "
                 "sound default, ctlplane documents the difference:\n\n"
                 + "".join(f"- **`{s.id}`** — {s.why}\n" for s in SCENARIOS if s.differs)
                 + "".join(f"- **{title}** — {text}\n" for title, text in DIFFERENCES_WITHOUT_SCENARIO.items()))
    parts.append("\n## Fields without a scenario of their own\n\nEvery other field of the model is proved by at "
                 "least one scenario above (`tests/test_parity_table.py` fails when a new field has neither a "
                 "scenario nor a line here):\n\n| field | why |\n|---|---|\n"
                 + "\n".join(f"| `{f}` | {_cell(why)} |" for f, why in sorted(NO_SCENARIO.items())) + "\n")
    items: dict[int, list[str]] = {}
    for s in SCENARIOS:
        for item in s.items:
            items.setdefault(item, []).append(f"`{s.id}`")
    parts.append("\n## Issue 12 items\n\n| item | scenarios |\n|---|---|\n"
                 + "\n".join(f"| {n} | {', '.join(items[n])} |" for n in sorted(items)) + "\n")
    return "".join(parts)


if __name__ == "__main__":
    PAGE.write_text(generate())
    print(f"wrote {PAGE.relative_to(ROOT)}")

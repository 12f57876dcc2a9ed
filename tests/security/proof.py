"""The large run behind ``make proof``: many generated models per engine
through the real binaries, and the whole hostile corpus in every string slot.

Usage: python tests/security/proof.py [EXAMPLES]   (default 1000 per engine;
also read from CTLPLANE_PROOF_EXAMPLES). Prints how many cases passed and
exits 1 on the first failure (hypothesis shrinks it and prints the model).
The engines run in parallel processes.
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.security.checks import prove  # noqa: E402
from tests.security.hostile import CORPUS, Judge, cases, hostile_text, make_base, put, rename_cases, twin  # noqa: E402
from tests.security.strategies import models  # noqa: E402
from tests.security.world import make_world  # noqa: E402

ENGINES = ("nginx", "haproxy")


def generated(engine: str, examples: int) -> str:
    world = make_world(Path(tempfile.mkdtemp(prefix=f"ctlplane-proof-{engine}-")))
    count = collections.Counter()

    @settings(max_examples=examples, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        count["checks"] += prove(engine, data.draw(models(engine, world), label="model"), world)
        count["models"] += 1

    started = time.monotonic()
    check()
    return (f"{engine}: {count['models']} generated valid models, {count['checks']} real config tests, "
            f"100% accepted ({time.monotonic() - started:.0f}s)")


def generated_hostile(engine: str, examples: int) -> str:
    world = make_world(Path(tempfile.mkdtemp(prefix=f"ctlplane-hostile-{engine}-")))
    judge = Judge(make_base(engine, world), world)
    outcomes: collections.Counter[str] = collections.Counter()

    @settings(max_examples=examples, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(slot=st.sampled_from(judge.base.slots), value=hostile_text())
    def check(slot: tuple[tuple[str | int, ...], str, str], value: str) -> None:
        outcomes[judge(put(judge.base.data, slot[0], value), put(judge.base.data, slot[0], twin(value)))] += 1

    check()
    return (f"{engine}: {sum(outcomes.values())} generated hostile strings in random fields: "
            f"{outcomes['refused']} refused, {outcomes['same']} rendered unchanged, 0 holes")


def hostile(engine: str) -> str:
    world = make_world(Path(tempfile.mkdtemp(prefix=f"ctlplane-hostile-{engine}-")))
    judge = Judge(make_base(engine, world), world)
    outcomes: collections.Counter[str] = collections.Counter()
    failures = []
    for label, data, benign in [*cases(judge.base, CORPUS), *rename_cases(judge.base, CORPUS)]:
        try:
            outcomes[judge(data, benign)] += 1
        except Exception as exc:  # noqa: BLE001 - every hole is listed
            failures.append(f"  {label}: {type(exc).__name__}: {str(exc)[:300]}")
    total = sum(outcomes.values()) + len(failures)
    line = (f"{engine}: {total} hostile cases ({len(judge.base.slots)} slots x {len(CORPUS)} values, plus renames): "
            f"{outcomes['refused']} refused with a located one-line error, {outcomes['same']} rendered with "
            f"an unchanged structure, {outcomes['plain']} syntax-free values rendered, {len(failures)} holes")
    if failures:
        raise SystemExit("\n".join([line, *failures[:50]]))
    return line


def main() -> int:
    examples = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CTLPLANE_PROOF_EXAMPLES") or 1000)
    with ProcessPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(generated, e, examples) for e in ENGINES] + [pool.submit(hostile, e) for e in ENGINES]
        jobs += [pool.submit(generated_hostile, e, examples * 5) for e in ENGINES]
        try:
            for job in jobs:
                print(job.result(), flush=True)
        except SystemExit as failed:
            print(failed, file=sys.stderr)
            return 1
        except Exception as failed:  # noqa: BLE001 - hypothesis' report of the falsifying model
            print(f"FAILED: {failed}", file=sys.stderr)
            return 1
    print("proof: every generated model passed the real binaries; no hostile value changed a config")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Property: every valid model renders configs that the real binaries accept.

Hypothesis draws arbitrary valid models for each engine (see
``strategies.py``: every feature, both engines' refusals respected); each one
is loaded, its files read, rendered, checked for invariants, and judged by the
real ``nginx -t`` or ``haproxy -c`` (plus keepalived for HA pairs). The count
is modest in CI; ``make proof`` runs many more (CTLPLANE_PROOF_EXAMPLES).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.helpers import need_binary
from tests.security.checks import EXAMPLES, prove
from tests.security.strategies import models
from tests.security.world import World

# In CI the examples are derandomized (fixed by the test's name): every run checks the same models, so a
# result is reproducible; `make proof` draws fresh random models at a larger count.
IN_CI = os.environ.get("CI", "").lower() == "true"
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True, derandomize=IN_CI,
                    phases=[Phase.explicit, Phase.generate] if IN_CI else list(Phase),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_every_valid_model_passes_the_real_binary(engine: str, world: World) -> None:
    need_binary(engine)

    @SETTINGS
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        prove(engine, data.draw(models(engine, world), label="model"), world)

    check()

"""A field whose default is a model object gets one shared, immutable default (``types.shared_default``):
every service without limits holds the same ``Limits()``, nothing can change it, and the field still reads
as unset."""

from __future__ import annotations

import pydantic
import pytest

from ctlplane.model.load import load_bytes
from ctlplane.model.service import Limits

MODEL = b"""\
pools: [{name: a, servers: [{name: a1, address: 127.0.0.1, port: 9}]}]
services:
  - {name: one, mode: http, listen: {port: 8081}, default_pool: a}
  - {name: two, mode: http, listen: {port: 8082}, default_pool: a}
  - {name: three, mode: http, listen: {port: 8083}, default_pool: a, limits: {connections_per_client: 5}}
proxies: [{name: lb, engine: haproxy, services: [one, two, three]}]
"""


def test_services_without_limits_share_one_default_that_cannot_change() -> None:
    one, two, three = load_bytes(MODEL).model.services
    assert one.limits is two.limits and one.limits == Limits()
    assert three.limits.connections_per_client == 5 and three.limits is not one.limits
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        one.limits.connections_per_client = 1  # type: ignore[misc]
    assert "limits" not in one.model_fields_set and "limits" in three.model_fields_set

"""The escaping filters' fast path (a string with nothing to escape or refuse is quoted as it is) gives exactly
what the general path gives, and refuses exactly what it refuses, for any string."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctlplane.errors import RenderError
from ctlplane.render import filters


def general(engine: str, value: str) -> str:
    """The filters as written before the fast path: check, refuse, then escape."""
    if filters._CONTROL.search(value):
        raise RenderError("control", [])
    if engine == "nginx":
        if "$" in value:
            raise RenderError("dollar", [])
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if "'" in value:
        raise RenderError("quote", [])
    return "'" + value + "'"


def outcome(fn: Callable[[str], str], value: str) -> str | None:
    try:
        return fn(value)
    except RenderError:
        return None


TRICKY = st.text(alphabet=st.sampled_from(list("ab $\"'\\\t\n\x00\x7f\x1f~é/:-")), max_size=12)


@given(TRICKY | st.text(max_size=20))
def test_nginx_quote_fast_path_matches_the_general_one(value: str) -> None:
    assert outcome(filters.nginx_quote, value) == outcome(lambda v: general("nginx", v), value)


@given(TRICKY | st.text(max_size=20))
def test_haproxy_quote_fast_path_matches_the_general_one(value: str) -> None:
    assert outcome(filters.haproxy_quote, value) == outcome(lambda v: general("haproxy", v), value)


@pytest.mark.parametrize("fn", [filters.nginx_quote, filters.haproxy_quote])
def test_integers_and_str_subclasses_still_print_and_other_types_are_refused(fn: Callable[[object], str]) -> None:
    class Word(str):
        pass

    assert fn(7).strip("'\"") == "7" and fn(Word("web")).strip("'\"") == "web"
    for bad in (True, None, 1.5, b"x"):
        with pytest.raises(RenderError):
            fn(bad)

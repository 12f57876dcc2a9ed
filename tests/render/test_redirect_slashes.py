"""A redirect to, or a rewrite with, a new prefix ending in '/' drops the leading slashes and backslashes of
the rest of the path on both engines: ``/old//evil.com`` to ``/`` would otherwise answer ``Location:
//evil.com`` (another host to a browser) or proxy ``//evil.com``. The real binaries judge the output; the
traffic proof is the parity suite (``redirect-slashes``, ``rewrite-slashes``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.render.test_issue12 import ENGINES, binary_ok, model, render

ROUTES: list[dict[str, Any]] = [
    {"path_prefix": "/old/", "redirect": {"to_path_prefix": "/"}},
    {"path_prefix": "/keep/", "redirect": {"to_path_prefix": "/k"}},
    {"path_prefix": "/rw/", "pool": "app", "rewrite": {"replace_prefix": "/"}},
    {"path_prefix": "/api", "pool": "app", "rewrite": {"strip_prefix": True}},
    {"path_prefix": "/v1/", "pool": "app", "rewrite": {"replace_prefix": "/v2"}},
]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_new_prefix_ending_in_a_slash_drops_the_rests_leading_slashes(engine: str) -> None:
    text, files = render(model(engine, service={"routes": ROUTES}))
    if engine == "nginx":
        # "[/\\\\]*" in the config: NGINX unquotes it to the PCRE class [/\\] (a slash or a backslash)
        assert ('if ($request_uri ~ "^\\\\/old\\\\/[/\\\\\\\\]*(?<ctl_rest>[^?]*)(?<ctl_query>.*)") {\n'
                '                return 301 "$ctl_to_path$ctl_rest$ctl_query";\n') in text
        assert 'if ($request_uri ~ "^\\\\/keep\\\\/(?<ctl_rest>[^?]*)(?<ctl_query>.*)")' in text
        assert 'rewrite "(?s)^\\\\/rw\\\\/[/\\\\\\\\]*(.*)" "$ctl_rw_prefix$1" break;' in text
        assert 'rewrite "(?s)^\\\\/api[/\\\\\\\\]*(.*)" "/$1" break;' in text
        assert 'rewrite "(?s)^\\\\/v1\\\\/(.*)" "$ctl_rw_prefix$1" break;' in text
    else:
        # '\\\\' in the log-format: HAProxy's argument parser makes it the regex ^[/\\]+
        assert "redirect location '/%[path,bytes(5),regsub(^[/\\\\\\\\]+,)]%[pathq,regsub(^[^?]*,)]' code 301" in text
        assert "redirect location '/k%[path,bytes(6)]%[pathq,regsub(^[^?]*,)]' code 301" in text
        assert "set-path '/%[path,bytes(4),regsub(^[/\\\\\\\\]+,)]'" in text
        assert "set-path '/%[path,bytes(4),regsub(^[/\\\\\\\\]+,)]' if { var(txn.ctl_route) -m int 3 }" in text
        assert "set-path '/v2%[path,bytes(4)]'" in text
    binary_ok(engine, files)


"""The soak gate reads both access log formats of both engines and compares the 5xx share with before."""

from __future__ import annotations

from ctlplane.fleet.gate import Answers, count, judge
from ctlplane.model.fleet import Gate

NGINX_TEXT = ('127.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET /a\\"b HTTP/1.1" 502 157 "-" "curl/7.88" host=a '
              'upstream=127.0.0.1:9 pool=app upstream_time_ms=-1 total_time_ms=1 request_id="x"')
HAPROXY_TEXT = ('<134>Jan  1 10:00:00 haproxy[7]: 127.0.0.1 - - [01/Jan/2026:10:00:00.123] "GET / HTTP/1.1" 200 '
                '99 "-" "curl" host=a upstream=127.0.0.1:9001 pool=app upstream_time_ms=1 total_time_ms=1 '
                'request_id="y"')
JSON = '{"client":"127.0.0.1","host":"a","path":"/","status":504,"upstream":"-","pool":"app"}'
NOISE = "[WARNING]  (7) : Server be_app/a1 is DOWN, reason: Layer4 connection problem"


def test_both_formats_are_counted_and_other_lines_skipped() -> None:
    assert count("\n".join([NGINX_TEXT, HAPROXY_TEXT, JSON, NOISE, "{broken"])) == Answers(3, 2)
    assert count("") == Answers() and Answers().share == 0.0


def test_the_gate_compares_the_share_with_before() -> None:
    gate = Gate(max_5xx_increase=0.1)
    assert judge(gate, Answers(10, 1), Answers(10, 2), []) is None  # 10% -> 20%: exactly the allowed rise
    assert judge(gate, Answers(10, 1), Answers(10, 3), []) is not None
    assert judge(gate, Answers(), Answers(), []) is None  # no traffic since: nothing to judge
    assert judge(gate, Answers(), Answers(1, 1), []) is not None
    assert judge(gate, Answers(), Answers(), ["edge: pool app has 0 of 1 servers up"]) == \
        "pools without a healthy server: edge: pool app has 0 of 1 servers up"
    assert judge(Gate(pools_healthy=False), Answers(), Answers(), ["edge: down"]) is None

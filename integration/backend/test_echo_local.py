"""Local (no docker) checks of the echo backend: runs echo.py on 127.0.0.1."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

ECHO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "echo.py")
READY_RE = re.compile(r"READY name=(\S+) http=127\.0\.0\.1:(\d+)(?: tcp=127\.0\.0\.1:(\d+))?")


def start_echo(name="e1", tcp=True):
    """Start echo.py on kernel-chosen free ports; return (proc, http_port, tcp_port)."""
    cmd = [sys.executable, ECHO, "--name", name, "--http-port", "0", "--bind", "127.0.0.1"]
    if tcp:
        cmd += ["--tcp-port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # blocks until READY (or EOF if it died)
    m = READY_RE.search(line)
    if not m:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        raise RuntimeError("echo did not start: %r %r" % (line, err))
    return proc, int(m.group(2)), int(m.group(3)) if m.group(3) else None


def stop_echo(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    proc.stdout.close()
    proc.stderr.close()


@pytest.fixture(scope="module")
def echo():
    proc, http_port, tcp_port = start_echo("e1")
    base = "http://127.0.0.1:%d" % http_port
    client = httpx.Client(base_url=base, timeout=5)
    try:
        yield {"proc": proc, "base": base, "port": http_port, "tcp": tcp_port, "client": client}
    finally:
        client.close()
        stop_echo(proc)


@pytest.fixture
def c(echo):
    """httpx client against a freshly reset echo server."""
    client = echo["client"]
    assert client.get("/_ctl/reset").status_code == 200
    assert client.get("/_ctl/hits", params={"reset": "1"}).status_code == 200
    return client


def test_basic_json_and_headers(c):
    r = c.get("/some/path?x=1&y=2", headers={"Host": "app.example", "X-Test": "v"})
    assert r.status_code == 200
    assert r.headers["x-server"] == "e1"
    assert r.headers["x-powered-by"] == "echo"
    assert r.headers["server"] == "echo/1.0"
    assert r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.content)
    body = r.json()
    assert body["server"] == "e1"
    assert body["path"] == "/some/path"
    assert body["query"] == "x=1&y=2"
    assert body["uri"] == "/some/path?x=1&y=2"
    assert body["host"] == "app.example"
    assert body["headers"]["X-Test"] == "v"
    assert body["method"] == "GET"
    assert body["hits"] == 1
    assert "cache-control" not in r.headers


def test_all_methods_and_body(c):
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        r = c.request(method, "/m", content=b"x" * 1000)
        assert r.status_code == 200, method
        assert r.json()["method"] == method
        assert r.json()["body_bytes"] == 1000
    r = c.head("/m")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) > 0


def test_keepalive_reuses_connection(echo, c):
    conn = http.client.HTTPConnection("127.0.0.1", echo["port"], timeout=5)
    try:
        conn.request("GET", "/a")
        r1 = conn.getresponse()
        r1.read()
        sock = conn.sock
        assert sock is not None and not r1.will_close
        # body (content-length) and a chunked body must not desync the stream
        conn.request("POST", "/b", body=b"hello")
        r2 = conn.getresponse()
        assert json.loads(r2.read())["body_bytes"] == 5
        conn.request("POST", "/c", body=iter([b"abc", b"defg"]), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        r3 = conn.getresponse()
        assert json.loads(r3.read())["body_bytes"] == 7
        conn.request("GET", "/d")
        r4 = conn.getresponse()
        assert json.loads(r4.read())["path"] == "/d"
        assert conn.sock is sock, "connection was not kept alive"
    finally:
        conn.close()


def test_keepalive_has_no_nagle_stall(c):
    # headers and body must leave in one write: two small writes on a kept-alive
    # connection stall ~40 ms each on Nagle + delayed ACK.
    t0 = time.monotonic()
    for _ in range(100):
        assert c.get("/x").status_code == 200
    assert time.monotonic() - t0 < 2.0


def test_hits_count_only_non_control(c):
    for _ in range(3):
        c.get("/x")
    c.get("/healthz")
    c.get("/_ctl/state")
    r = c.get("/_ctl/hits")
    assert r.json() == {"server": "e1", "hits": 3}
    assert c.get("/_ctl/hits", params={"reset": "1"}).json()["hits"] == 3
    assert c.get("/_ctl/hits").json()["hits"] == 0


def test_slow_mode(c):
    assert c.get("/_ctl/slow", params={"ms": "300"}).json()["slow_ms"] == 300
    t0 = time.monotonic()
    assert c.get("/x").status_code == 200
    assert time.monotonic() - t0 >= 0.3
    # control paths and health are not slowed
    t0 = time.monotonic()
    c.get("/healthz")
    c.get("/_ctl/state")
    assert time.monotonic() - t0 < 0.25
    c.get("/_ctl/reset")
    t0 = time.monotonic()
    c.get("/x")
    assert time.monotonic() - t0 < 0.25


def test_per_request_sleep(c):
    t0 = time.monotonic()
    assert c.get("/x", params={"sleep_ms": "250"}).status_code == 200
    assert time.monotonic() - t0 >= 0.25
    t0 = time.monotonic()
    c.get("/x")
    assert time.monotonic() - t0 < 0.2


def test_fail_mode_and_healthz(c):
    r = c.get("/healthz")
    assert r.status_code == 200 and r.text == "ok\n"
    assert c.get("/_ctl/fail", params={"status": "502"}).json()["fail_status"] == 502
    r = c.get("/x")
    assert r.status_code == 502
    assert r.json()["server"] == "e1"
    assert c.get("/healthz").status_code == 502
    assert c.get("/_ctl/hits").status_code == 200  # control unaffected
    c.get("/_ctl/fail")
    assert c.get("/x").status_code == 503  # default status
    c.get("/_ctl/reset")
    assert c.get("/x").status_code == 200
    assert c.get("/healthz").status_code == 200


def test_close_mode(echo, c):
    assert c.get("/_ctl/close").json()["close"] is True
    with httpx.Client(base_url=echo["base"], timeout=5) as fresh:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            fresh.get("/x")
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            fresh.get("/healthz")
        assert fresh.get("/_ctl/state").status_code == 200
        assert fresh.get("/_ctl/reset").status_code == 200
        assert fresh.get("/x").status_code == 200


def test_cacheable(c):
    r = c.get("/cacheable/thing")
    assert r.headers["cache-control"] == "public, max-age=60"
    assert c.get("/cacheable").headers["cache-control"] == "public, max-age=60"
    assert "cache-control" not in c.get("/notcacheable").headers


def test_big_body(c):
    r = c.get("/big", params={"bytes": "100000"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["content-length"] == "100000"
    assert r.content == b"a" * 100000
    assert c.get("/big", params={"bytes": "0"}).content == b""


def test_tcp_echo(echo):
    with socket.create_connection(("127.0.0.1", echo["tcp"]), timeout=5) as s:
        f = s.makefile("rwb")
        assert f.readline() == b"e1\n"
        for line in (b"hello\n", b"second line\n"):
            f.write(line)
            f.flush()
            assert f.readline() == line


def test_sigterm_is_fast_and_clean():
    proc, http_port, _ = start_echo("e2", tcp=True)
    # an idle keep-alive connection must not hold shutdown up
    conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
    conn.request("GET", "/x")
    conn.getresponse().read()
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=5)
    elapsed = time.monotonic() - t0
    conn.close()
    stderr = proc.stderr.read()
    stop_echo(proc)
    assert rc == 0, stderr
    assert elapsed < 2.0
    assert "Traceback" not in stderr


def _ws_client():
    harness = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "harness")
    sys.path.insert(0, harness)
    try:
        import parity_ws
    finally:
        sys.path.remove(harness)
    return parity_ws


def test_websocket_echo_and_idle(echo):
    ws = _ws_client()
    target = "127.0.0.1:%d" % echo["port"]
    found = ws.op_websocket({"target": target, "path": "/ws", "idle": 0.2})
    assert found == {"status": 101, "accept_ok": True, "server": "e1", "first": "e1:hello", "after_idle": "e1:again"}
    # without Upgrade, /ws is an ordinary echo answer
    assert httpx.get("http://%s/ws" % target).json()["path"] == "/ws"
    # the backend itself never closes an idle tunnel first
    found = ws.op_websocket({"target": target, "path": "/ws", "wait_close": 0.3})
    assert found["closed"] is False and found["first"] == "e1:hello"

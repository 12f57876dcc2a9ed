"""``ctlplane status`` against a REAL local HAProxy and NGINX (echo backends on
loopback): HAProxy's servers with up/down, weights, sessions and last check;
NGINX's generation and stub_status counters; drift after the model changes;
"stopped" after ``down``; the table on a terminal (colours unless NO_COLOR) and
in a pipe; plus the pure parsers on captured output."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ctlplane.cli.status_cmd import tables
from ctlplane.drivers import driver_for, procfs
from ctlplane.model.load import load_file
from ctlplane.model.proxy import Admin
from ctlplane.pipeline import build
from ctlplane.render import text_file
from ctlplane.state.paths import proxy_dir
from ctlplane.status import (ProxyStatus, ServerRow, StubStatus, admin_url, drift_paths, model_status,
                             parse_show_stat, parse_stub_status)
from tests.apply.local import Echo, free_port, start_echo, stop_echoes
from tests.helpers import ROOT, need_binary

ENV = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}


def ctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ctlplane", *args], capture_output=True, text=True,
                          env=env or ENV, timeout=60)


def model_text(echoes: dict[str, Echo], ports: dict[str, int], weight_a2: int = 1) -> str:
    a1, a2 = echoes["a1"].port, echoes["a2"].port
    return f"""pools:
  - name: app
    health:
      active: {{type: http, path: /, interval: 1s, rise: 1, fall: 1}}
    servers:
      - {{name: a1, address: 127.0.0.1, port: {a1}, weight: 3}}
      - {{name: a2, address: 127.0.0.1, port: {a2}, weight: {weight_a2}}}
      - {{name: dead, address: 127.0.0.1, port: {ports['dead']}, weight: 2}}
  - name: web
    servers:
      - {{name: w1, address: 127.0.0.1, port: {a1}}}
services:
  - {{name: front, mode: http, listen: {{address: 127.0.0.1, port: {ports['hp']}}}, default_pool: app}}
  - {{name: site, mode: http, listen: {{address: 127.0.0.1, port: {ports['ng']}}}, default_pool: web}}
proxies:
  - {{name: hp, engine: haproxy, services: [front], workers: 1}}
  - {{name: ng, engine: nginx, services: [site], workers: 1, admin: {{port: {ports['admin']}}}}}
"""


def stop_all(model: Path) -> None:
    loaded = load_file(model)
    for proxy in loaded.model.proxies:
        driver_for(loaded, proxy.name).control.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """hp (HAProxy, checked pool with a dead server) and ng (NGINX with an admin listener), applied and
    serving; every proxy and echo backend is stopped afterwards."""
    need_binary("haproxy")
    need_binary("nginx")
    from ctlplane.apply import apply_model

    echoes = {name: start_echo(name) for name in ("a1", "a2")}
    ports = {name: free_port() for name in ("hp", "ng", "admin", "dead")}
    model = tmp_path_factory.mktemp("status") / "lb.yaml"
    model.write_text(model_text(echoes, ports))
    try:
        assert [r.outcome for r in apply_model(str(model))] == ["started", "started"]
        _wait_for_checks(model)
        for _ in range(5):
            httpx.get(f"http://127.0.0.1:{ports['hp']}/", timeout=5, trust_env=False).raise_for_status()
            httpx.get(f"http://127.0.0.1:{ports['ng']}/", timeout=5, trust_env=False).raise_for_status()
        yield {"model": model, "ports": ports, "echoes": echoes}
    finally:
        stop_all(model)
        stop_echoes(list(echoes.values()))


def _wait_for_checks(model: Path, timeout: float = 15.0) -> None:
    """Until HAProxy's first checks have run: a1 and a2 UP by L7OK, dead DOWN."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = {s.server: s for s in model_status(build(model), ["hp"])[0].servers}
        if (rows and rows["dead"].status == "DOWN"
                and all(rows[n].status == "UP" and rows[n].check_status == "L7OK" for n in ("a1", "a2"))):
            return
        time.sleep(0.2)
    raise AssertionError(f"health checks did not settle: {rows}")


def _settled_table(model: object, timeout: float = 15.0) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``ctlplane status`` once HAProxy's last checks of a1 and a2 passed: on a CPU-starved machine a check of
    the Python echo can time out (fall 1 takes the server out until the next one), which is the truth, not
    a table to assert on; asked again until it settles (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        run = ctl("status", str(model))
        lines = [" ".join(line.split()) for line in run.stdout.splitlines()]
        settled = all(any(ln.startswith(f"app {n} UP ") and ln.endswith(" L7OK 200") for ln in lines)
                      for n in ("a1", "a2"))
        if settled or run.returncode != 0 or time.monotonic() > deadline:
            return run, lines
        time.sleep(0.5)


def test_table_for_people(live: dict[str, object]) -> None:
    run, lines = _settled_table(live["model"])
    assert run.returncode == 0, run.stderr
    hp = next(line for line in lines if line.startswith("hp "))
    ng = next(line for line in lines if line.startswith("ng "))
    assert hp.startswith("hp haproxy running ") and hp.endswith(" in sync")
    assert ng.startswith("ng nginx running ") and ng.endswith(" in sync")
    assert "POOL SERVER STATUS WEIGHT SESSIONS TOTAL CHECK" in lines
    assert any(line.startswith("app a1 UP 3 0 ") and line.endswith(" L7OK 200") for line in lines), lines
    assert any(line.startswith("app a2 UP 1 0 ") and line.endswith(" L7OK 200") for line in lines), lines
    assert any(line.startswith("app dead DOWN 2 0 0 L4CON") for line in lines), lines
    assert "ACTIVE ACCEPTED HANDLED REQUESTS READING WRITING WAITING" in lines
    assert "\x1b[" not in run.stdout  # not a terminal: plain text, no colour


def test_json_for_machines(live: dict[str, object]) -> None:
    run = ctl("status", str(live["model"]), "--output", "json", "--detailed-exitcode")
    assert run.returncode == 0, run.stderr
    payload = json.loads(run.stdout)
    assert payload["ok"] is True and payload["in_sync"] is True
    hp, ng = payload["proxies"]
    loaded = load_file(live["model"])
    for entry in (hp, ng):
        driver = driver_for(loaded, entry["proxy"])
        gen = driver.control.observe()
        assert entry["state"] == "in sync" and entry["drift"] == [] and entry["problems"] == []
        assert entry["master"] == gen.master and entry["workers"] == sorted(gen.workers) and len(gen.workers) == 1
        assert entry["release"] == gen.release == entry["rendered"] == entry["active"] == driver.store.active_release()
    servers = {s["server"]: s for s in hp["servers"]}
    assert {n: (s["up"], s["weight"], s["pool"]) for n, s in servers.items()} == {
        "a1": (True, 3, "app"), "a2": (True, 1, "app"), "dead": (False, 2, "app")}
    assert servers["a1"]["total_sessions"] + servers["a2"]["total_sessions"] == 5
    assert servers["dead"]["check_status"].startswith("L4")
    # NGINX: its own pid file names the master; stub_status counted our 5 requests (and this probe)
    pid_file = proxy_dir(load_file(live["model"]), "ng") / "run" / "nginx.pid"
    children = {p.pid for p in procfs.processes().values() if p.ppid == ng["master"]}
    assert ng["master"] == int(pid_file.read_text()) and set(ng["workers"]) == children
    stub = ng["stub_status"]
    assert stub["requests"] >= 6 and stub["accepts"] >= 1 and stub["active"] >= 1
    assert stub["accepts"] == stub["handled"]
    assert hp["stub_status"] is None and ng["servers"] == []


def test_drift_after_editing_the_model(live: dict[str, object]) -> None:
    model = Path(live["model"])
    edited = model.parent / "edited.yaml"  # same directory, so the same state directories
    edited.write_text(model_text(live["echoes"], live["ports"], weight_a2=5))  # type: ignore[arg-type]
    run = ctl("status", str(edited))
    assert run.returncode == 0, run.stderr
    hp = next(" ".join(line.split()) for line in run.stdout.splitlines() if line.startswith("hp "))
    assert hp.endswith("drift: 1 file(s) differ (run ctlplane plan)")
    detailed = ctl("status", str(edited), "--detailed-exitcode", "-o", "json")
    assert detailed.returncode == 2
    payload = json.loads(detailed.stdout)
    assert payload["in_sync"] is False
    assert [(p["proxy"], p["state"], p["drift"]) for p in payload["proxies"]] == [
        ("hp", "drift", ["haproxy.cfg"]), ("ng", "in sync", [])]


def test_terminal_gets_a_rich_table_with_colours_unless_no_color(live: dict[str, object]) -> None:
    coloured = _on_a_terminal(["status", str(live["model"])], {k: v for k, v in ENV.items() if k != "NO_COLOR"})
    assert "┃" in coloured and "\x1b[32m" in coloured  # box drawing, green "UP"/"in sync"
    plain = _on_a_terminal(["status", str(live["model"])], ENV)
    assert "┃" in plain and "\x1b[3" not in plain  # NO_COLOR: still a table, no colour


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ctlplane", *args], stdout=follower, stderr=follower,
                            stdin=subprocess.DEVNULL, env={**env, "COLUMNS": "140", "TERM": "xterm"})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(60) == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_stopped_after_down(tmp_path: Path) -> None:
    need_binary("haproxy")
    need_binary("nginx")
    from ctlplane.apply import apply_model

    model = tmp_path / "small.yaml"
    model.write_text(f"""pools:
  - {{name: p, servers: [{{name: s1, address: 127.0.0.1, port: {free_port()}}}]}}
services:
  - {{name: a, mode: http, listen: {{address: 127.0.0.1, port: {free_port()}}}, default_pool: p}}
  - {{name: b, mode: http, listen: {{address: 127.0.0.1, port: {free_port()}}}, default_pool: p}}
proxies:
  - {{name: h, engine: haproxy, services: [a], workers: 1}}
  - {{name: n, engine: nginx, services: [b], workers: 1}}
""")
    try:
        apply_model(str(model))
        assert ctl("status", str(model), "--detailed-exitcode").returncode == 0
        down = ctl("down", str(model))
        assert down.returncode == 0, down.stderr
    finally:
        stop_all(model)
    run = ctl("status", str(model))
    assert run.returncode == 0
    rows = [" ".join(line.split()) for line in run.stdout.splitlines() if line.startswith(("h ", "n "))]
    assert [r.split()[:3] + [r.split()[-1]] for r in rows] == [["h", "haproxy", "stopped", "stopped"],
                                                                ["n", "nginx", "stopped", "stopped"]]
    detailed = ctl("status", str(model), "--detailed-exitcode", "--output", "json")
    assert detailed.returncode == 2
    assert [(p["state"], p["master"], p["workers"]) for p in json.loads(detailed.stdout)["proxies"]] == [
        ("stopped", None, []), ("stopped", None, [])]


def test_status_errors_are_exit_1(tmp_path: Path) -> None:
    run = ctl("status", str(ROOT / "tests" / "model" / "invalid" / "bad_port.yaml"), "--detailed-exitcode")
    assert run.returncode == 1 and run.stderr.startswith("error: ")
    unknown = ctl("status", str(ROOT / "tests" / "model" / "valid" / "minimal.yaml"), "--proxy", "nope")
    assert unknown.returncode == 1 and "no proxy named 'nope'" in unknown.stderr


# --- the pure parts, on captured output -------------------------------------------------------------

SHOW_STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,\
weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,\
check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,\
req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,\
rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,\
agent_rise,agent_fall,agent_health,addr,
fe_front,FRONTEND,,,0,0,4096,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,0,0,0,0,0,0,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,
be_app,a1,0,0,2,3,,17,0,0,,0,,0,0,0,0,UP,3,1,0,0,0,3,0,,1,3,1,,0,,2,0,,0,L7OK,200,1,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,\
Layer7 check passed,,1,2,2,,,,127.0.0.1:37775,
be_app,dead,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,2,2,,1,3,3,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,\
Connection refused,,0,0,0,0,,,,Layer4 connection problem,,1,2,0,,,,127.0.0.1:1,
be_app,BACKEND,0,0,0,0,410,0,0,0,0,0,,0,0,0,0,UP,4,2,0,,0,3,0,,1,3,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,,
"""


def test_parse_show_stat() -> None:
    rows = parse_show_stat(SHOW_STAT)
    assert [(r.pool, r.server, r.status, r.weight, r.current_sessions, r.total_sessions, r.check(), r.up)
            for r in rows] == [("app", "a1", "UP", 3, 2, 17, "L7OK 200", True),
                               ("app", "dead", "DOWN", 1, 0, 0, "L4CON Connection refused", False)]
    assert rows[0].check_duration_ms == 1 and rows[0].address == "127.0.0.1:37775"
    assert parse_show_stat("") == () and parse_show_stat("Unknown command\n") == ()


def test_parse_stub_status() -> None:
    text = "Active connections: 3 \nserver accepts handled requests\n 10 10 42 \nReading: 0 Writing: 1 Waiting: 2 \n"
    assert parse_stub_status(text) == StubStatus(3, 10, 10, 42, 0, 1, 2)
    with pytest.raises(ValueError):
        parse_stub_status("<html>404</html>")


def test_drift_paths_and_admin_url() -> None:
    rendered = {"nginx.conf": text_file("a"), "certs/x.crt": text_file("c")}
    assert drift_paths(rendered, {"nginx.conf": b"a", "certs/x.crt": b"c"}) == ()
    assert drift_paths(rendered, {"nginx.conf": b"b", "old.conf": b""}) == ("certs/x.crt", "nginx.conf", "old.conf")
    assert admin_url(Admin(port=8404), "/status") == "http://127.0.0.1:8404/status"
    assert admin_url(Admin(address="0.0.0.0", port=1), "/s") == "http://127.0.0.1:1/s"
    assert admin_url(Admin(address="::", port=1), "/s") == "http://[::1]:1/s"


def test_states_and_tables_by_verbosity() -> None:
    row = ServerRow("be_app", "a1", "UP", 3, 0, 4, "L7OK", "200", 1, "Layer7 check passed", "", "127.0.0.1:1")
    running = ProxyStatus("hp", "haproxy", "local", 10, (11,), "abc", (), servers=(row,), rendered="abc")
    drifted = ProxyStatus("ng", "nginx", "local", 20, (21, 22), "def", ("nginx.conf", "certs/a.key"),
                          stub=StubStatus(1, 2, 2, 3, 0, 1, 0), rendered="fed")
    stopped = ProxyStatus("x", "nginx", "docker", None, (), None, (), problems=("cannot read the processes: boom",))
    assert [s.summary() for s in (running, drifted, stopped)] == [
        "in sync", "drift: 2 file(s) differ (run ctlplane plan)", "stopped"]
    normal = tables([running, drifted, stopped])
    assert [t.title for t in normal] == ["proxies", "hp: servers", "ng: connections (stub_status)", "x: could not read"]
    assert [t.title for t in tables([running, drifted, stopped], -1)] == ["proxies"]
    verbose = tables([running], 1)[1]
    assert verbose.headers[-2:] == ["ADDRESS", "CHECK DETAIL"] and verbose.rows[0][-1] == "Layer7 check passed 1 ms"
    assert stopped.as_dict()["state"] == "stopped" and running.as_dict()["servers"][0]["pool"] == "app"

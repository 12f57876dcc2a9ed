"""Data plane: requests per second through ctlplane's generated config against a hand-tuned one.

The backends are fast (an NGINX answering a fixed 200 on two ports), so the proxy, not the backend, is the
bottleneck. Per engine, wrk (keep-alive, ``--latency``) against: (a) one backend directly (the ceiling),
(b) the config ctlplane generates for one HTTP service over the two backends (model defaults, started
with ``apply_model``), (c) a config an expert would write by hand for the same services doing the same
duties (each request logged with the same fields, the request id passed on or generated, the client's address,
scheme, host and port passed on, WebSocket upgrades, the backends' internal headers removed, the same retries),
each the cheapest way the engine offers, tuned for throughput, and (d) a bare proxy without those duties (what
they cost). Then the same over TLS
(keep-alive requests per second, and handshakes per second: a new connection per request), and over
HTTP/2 with ``h2load`` when it is installed. Rounds are interleaved; the ratio generated / hand-tuned is
the figure to read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (ROOT, Wrk, WrkResult, cleanup_on_exit, docs_header, free_port, publish,  # noqa: E402
                    quietly, stop_process, table)

from ctlplane.apply import apply_model  # noqa: E402
from ctlplane.drivers import driver_for  # noqa: E402
from ctlplane.model.load import load_file  # noqa: E402

HEADING = "## Data plane"
HEADERS = ["engine", "protocol", "target", "req/s", "p50 ms", "p99 ms", "failed", "proxy CPU us/req",
           "generated / hand-tuned"]
TARGET = 0.95
CERTS = ROOT / "examples" / "certs"


def backend_conf(ports: list[int]) -> str:
    servers = "".join(f"  server {{ listen 127.0.0.1:{p}; access_log off; location / {{ return 200 'b{i}\\n'; }} }}\n"
                      for i, p in enumerate(ports))
    return (f"worker_processes 1;\npid run/b.pid;\nerror_log stderr warn;\nevents {{ worker_connections 4096; }}\n"
            f"http {{\n  keepalive_requests 100000;\n{servers}}}\n")


def model(engine: str, http_port: int, tls_port: int, backends: list[int]) -> str:
    servers = "\n".join(f"      - {{name: b{i}, address: 127.0.0.1, port: {p}}}" for i, p in enumerate(backends))
    # keepalive 64: the idle connections to the servers the hand-tuned configs keep too (the model's default is 32;
    # under HTTP/2's 320 concurrent streams the pool size, not the config, set the row: 32 -> 64 was +20 % req/s)
    return (f"pools:\n  - name: fast\n    keepalive: 64\n    servers:\n{servers}\nservices:\n"
            f"  - {{name: plain, mode: http, listen: {{address: 127.0.0.1, port: {http_port}}}, default_pool: fast}}\n"
            f"  - name: secure\n    mode: http\n    listen: {{address: 127.0.0.1, port: {tls_port}}}\n"
            f"    default_pool: fast\n    tls:\n      certificates:\n"
            f"        - {{cert: {CERTS}/www.crt, key: {CERTS}/www.key}}\n"
            f"proxies:\n  - {{name: lb, engine: {engine}, services: [plain, secure], workers: 1}}\n"
            f"files: {{allowed_bases: [{CERTS}]}}\n")


def tuned_nginx(http_port: int, tls_port: int, backends: list[int], full: bool) -> str:
    """What an expert writes by hand for the same services. ``full``: the same duties as the generated config,
    each done the cheapest way NGINX offers: each request logged with the same fields (the pool, the upstream and
    total times in whole milliseconds, the request id), the client's X-Request-ID passed on or one generated
    (``$request_id``), the client's address, scheme, Host as sent, host and port passed on, WebSocket upgrades
    passed on (with the generated config's one-hour timeouts), the backends' X-Powered-By hidden and X-Accel-*
    ignored, retries on connection errors and timeouts; without: the bare proxy (what those duties cost)."""
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in backends)
    access = "access_log logs/access.log main buffer=64k flush=1s;" if full else "access_log off;"
    headers = ("proxy_set_header Host $host_as_sent; proxy_set_header X-Real-IP $remote_addr; "
               "proxy_set_header X-Forwarded-For $remote_addr; proxy_set_header X-Forwarded-Proto $scheme; "
               "proxy_set_header X-Forwarded-Host $host_as_sent; proxy_set_header X-Forwarded-Port $server_port; "
               "proxy_set_header X-Request-ID $req_id; proxy_set_header Upgrade $http_upgrade; "
               "proxy_set_header Connection $connection_upgrade; proxy_hide_header X-Powered-By; "
               "proxy_next_upstream error timeout; proxy_next_upstream_tries 3;") if full \
        else 'proxy_set_header Connection "";'
    proxy = f"proxy_pass http://fast; proxy_http_version 1.1; {headers}"
    # WebSocket upgrades get one-hour timeouts, as in the generated config (NGINX's only way: a named location)
    upgrade = ("error_page 418 = @upgrade; if ($http_upgrade) { return 418; } " if full else "")
    named = ("location @upgrade { proxy_read_timeout 1h; proxy_send_timeout 1h; send_timeout 1h; "
             f"{proxy} }}" if full else "")
    return f"""worker_processes 1;
pcre_jit on;
pid run/t.pid;
error_log logs/error.log warn;
events {{ worker_connections 4096; multi_accept off; }}
http {{
  map $request_time $total_ms {{ "~^0\\.0*(?<ms>\\d+)$" $ms; "~^(?<s>[1-9]\\d*)\\.(?<ms>\\d{{3}})$" $s$ms;
    default -1; }}
  map $upstream_header_time $upstream_ms {{ "~^0\\.0*(?<ms>\\d+)$" $ms; "~^(?<s>[1-9]\\d*)\\.(?<ms>\\d{{3}})$" $s$ms;
    default -1; }}
  map $http_x_request_id $req_id {{ "" $request_id; default $http_x_request_id; }}
  map $http_host $host_as_sent {{ "" $host; default $http_host; }}
  map $http_upgrade $connection_upgrade {{ "" ""; default upgrade; }}
  log_format main '$remote_addr - - [$time_local] "$request" $status $bytes_sent "$http_referer" '
                  '"$http_user_agent" host=$host upstream=$upstream_addr pool=$proxy_host '
                  'upstream_time_ms=$upstream_ms total_time_ms=$total_ms request_id="$req_id"';
  {access}
  client_body_temp_path tmp/client_body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  proxy_ignore_headers X-Accel-Redirect X-Accel-Expires X-Accel-Limit-Rate X-Accel-Buffering X-Accel-Charset;
  keepalive_requests 10000;
  ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m; ssl_session_tickets off;
  ssl_ecdh_curve X25519:prime256v1:secp384r1;
  upstream fast {{
{servers}    keepalive 64;
  }}
  server {{ listen 127.0.0.1:{http_port}; location / {{ {upgrade}{proxy} }} {named} }}
  server {{ listen 127.0.0.1:{tls_port} ssl http2; ssl_certificate {CERTS}/www.crt;
           ssl_certificate_key {CERTS}/www.key; location / {{ {upgrade}{proxy} }} {named} }}
}}
"""


def tuned_haproxy(http_port: int, tls_port: int, backends: list[int], full: bool, workdir: Path) -> str:
    """As :func:`tuned_nginx`, for HAProxy. With ``full``, the same duties as the generated config: the same log
    fields (the request's referer, user agent and host saved at request time, the pool as the backend's name,
    ``%Tr``/``%Ta``, the request id), the client's X-Request-ID passed on or 32 hex digits generated, the
    client's address, scheme, host and port passed on, bodies over 1 MB refused by their Content-Length (NGINX's
    ``client_max_body_size``), the request buffered before it is sent (NGINX's request buffering), the backends'
    Server, X-Powered-By and X-Accel-* headers removed, the same retries (connection failures and empty
    responses, not for non-idempotent methods) and passive health checks. Idle connections to the backends
    are shared by every request (``http-reuse always``, what NGINX's upstream keepalive does), made safe by
    the retry of empty responses."""
    pem = workdir / "www.pem"
    pem.write_bytes((CERTS / "www.crt").read_bytes() + (CERTS / "www.key").read_bytes())
    pem.chmod(0o600)
    check = " observe layer4 error-limit 3 on-error mark-down" if full else ""
    servers = "".join(f"  server b{i} 127.0.0.1:{p} check inter 10s{check}\n" for i, p in enumerate(backends))
    log_format = ("'%ci - - [%trl] %{+Q}r %ST %B \"%{+E}[var(txn.referer)]\" \"%{+E}[var(txn.ua)]\" "
                  "host=%[var(txn.host)] upstream=%si:%sp pool=%b upstream_time_ms=%Tr total_time_ms=%Ta "
                  "request_id=\"%{+E}[var(txn.rid)]\"'")
    defaults = (f"  log-format {log_format}\n  option http-buffer-request\n  retries 2\n"
                "  retry-on conn-failure empty-response\n" if full else "")

    def rules(scheme: str) -> str:
        if not full:
            return ""
        return ("  http-request set-var(txn.host) req.hdr(host),host_only\n"
                "  http-request set-var(txn.referer) req.fhdr(referer)\n"
                "  http-request set-var(txn.ua) req.fhdr(user-agent)\n"
                "  http-request set-var(txn.rid) req.fhdr(x-request-id,1)\n"
                "  http-request set-var(txn.rid) uuid,regsub(-,,g) unless { var(txn.rid) -m len 1: }\n"
                "  http-request deny deny_status 413 if { req.hdr_val(content-length) gt 1048576 }\n"
                "  http-request set-header X-Forwarded-For %[src]\n"
                "  http-request set-header X-Real-IP %[src]\n"
                f"  http-request set-header X-Forwarded-Proto {scheme}\n"
                "  http-request set-header X-Forwarded-Host %[req.hdr(host)] if { req.hdr(host) -m found }\n"
                "  http-request set-header X-Forwarded-Port %[dst_port]\n"
                "  http-request set-header X-Request-ID %[var(txn.rid)]\n"
                + "".join(f"  http-response del-header {h}\n" for h in (
                    "Server", "X-Powered-By", "X-Accel-Redirect", "X-Accel-Expires", "X-Accel-Limit-Rate",
                    "X-Accel-Buffering", "X-Accel-Charset")))

    no_retry = "  http-request disable-l7-retry if { method POST PATCH LOCK }\n" if full else ""
    logging = "  log stderr format raw local0 info\n" if full else ""
    return f"""global
  maxconn 4096
  nbthread 1
{logging}  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
  ssl-default-bind-curves X25519:P-256:P-384
defaults
  mode http
  log global
{defaults}  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend plain
  bind 127.0.0.1:{http_port}
{rules("http")}  default_backend fast
frontend secure
  bind 127.0.0.1:{tls_port} ssl crt {pem} alpn h2,http/1.1
{rules("https")}  default_backend fast
backend fast
  balance roundrobin
{no_retry}{servers}"""


def start(argv: list[str], workdir: Path, log: Path) -> subprocess.Popen[bytes]:
    for sub in ("run", "logs", "tmp"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(argv, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)


def start_tuned(engine: str, workdir: Path, ports: tuple[int, int], backends: list[int],
                full: bool) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True)
    if engine == "nginx":
        (workdir / "nginx.conf").write_text(tuned_nginx(*ports, backends, full))
        argv = ["nginx", "-p", f"{workdir}/", "-c", f"{workdir}/nginx.conf", "-e", "logs/error.log",
                "-g", "daemon off;"]
    else:
        (workdir / "haproxy.cfg").write_text(tuned_haproxy(*ports, backends, full, workdir))
        argv = ["haproxy", "-db", "-f", str(workdir / "haproxy.cfg")]
    return start(argv, workdir, workdir / "logs" / "out.log")


def wait_up(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process behind port {port} exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def h2load(url: str, seconds: int) -> WrkResult:
    """h2load over HTTP/2 with TLS for ``seconds`` (32 connections, 10 streams each)."""
    done = subprocess.run(["h2load", "-D", str(seconds), "-c", "32", "-m", "10", "-t", "1", url],
                          capture_output=True, text=True, timeout=seconds + 30, check=False)
    import re

    finished = re.search(r"finished in ([\d.]+)(s|ms), ([\d.]+) req/s", done.stdout)
    status = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", done.stdout)
    if not finished or not status:
        raise RuntimeError("h2load printed no summary:\n" + done.stdout + done.stderr)
    seconds_taken = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    return WrkResult(int(status.group(2)), seconds_taken, float(finished.group(3)), non2xx=int(status.group(3)))


def load(kind: str, url: str, seconds: int, connections: int) -> WrkResult:
    if kind == "h2":
        return h2load(url, seconds)
    headers = ("Connection: close",) if kind == "tls handshakes" else ()
    wrk = Wrk(url, seconds, connections=connections, headers=headers)
    try:
        return wrk.result()
    finally:
        wrk.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants (a master's workers), from /proc."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue  # exited meanwhile
        total += int(fields[11]) + int(fields[12])
        todo += [int(c) for c in children]
    return total / os.sysconf("SC_CLK_TCK")


def summarise(engine: str, kind: str, target: str, results: list[WrkResult], tuned: float | None,
              cpu: float) -> list[object]:
    total = results[0]
    for r in results[1:]:
        total = total + r
    lat = [r.latency_ms or {} for r in results]
    p50 = sorted(x.get("50", float("nan")) for x in lat)[len(lat) // 2]
    p99 = sorted(x.get("99", float("nan")) for x in lat)[len(lat) // 2]
    ratio = f"{total.rps / tuned:.2f}" if tuned and target == "ctlplane generated" else "-"
    per_request = f"{cpu / total.requests * 1e6:.1f}" if total.requests else "-"
    return [engine, kind, target, f"{total.rps:.0f}", f"{p50:.2f}", f"{p99:.2f}", total.failed, per_request, ratio]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="load per run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s")
    parser.add_argument("--engines", default="nginx,haproxy")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    args.markdown = args.markdown or args.write_docs
    rounds, seconds = (1, 3) if args.quick else (max(1, min(args.rounds, 10)), max(1, min(args.seconds, 60)))
    command = "python bench/data_plane.py " + " ".join(sys.argv[1:] if argv is None else argv)
    subprocess.run([sys.executable, str(ROOT / "examples" / "certs" / "generate.py")], check=True)
    kinds = ["http", "tls keep-alive", "tls handshakes"] + (["h2"] if shutil.which("h2load") else [])
    rows, verdicts = [], []
    with cleanup_on_exit() as stack, tempfile.TemporaryDirectory(prefix="ctlplane-dataplane-") as tmp:
        work = Path(tmp)
        backends = [free_port(), free_port()]
        (work / "backend").mkdir()
        (work / "backend" / "b.conf").write_text(backend_conf(backends))
        backend = start(["nginx", "-p", f"{work}/backend/", "-c", f"{work}/backend/b.conf", "-e", "stderr",
                         "-g", "daemon off;"], work / "backend", work / "backend" / "out.log")
        stack.callback(quietly(lambda: stop_process(backend)))
        wait_up(backends[0], backend)
        for engine in args.engines.split(","):
            gen, tuned, nolog = (free_port(), free_port()), (free_port(), free_port()), (free_port(), free_port())
            path = work / engine / "model.yaml"
            path.parent.mkdir(parents=True)
            path.write_text(model(engine, *gen, backends))
            driver = driver_for(load_file(path), "lb")
            stack.callback(quietly(driver.control.stop))
            if [r.outcome for r in apply_model(str(path))] != ["started"]:
                raise RuntimeError(f"{engine}: the generated config did not start")
            procs = [start_tuned(engine, work / f"{engine}-tuned", tuned, backends, full=True),
                     start_tuned(engine, work / f"{engine}-nolog", nolog, backends, full=False)]
            for proc in procs:
                stack.callback(quietly(lambda p=proc: stop_process(p)))
            for port, proc in ((p, None) for p in gen):
                wait_up(port, proc)
            for ports, proc in ((tuned, procs[0]), (nolog, procs[1])):
                for port in ports:
                    try:
                        wait_up(port, proc)
                    except RuntimeError as exc:
                        log = Path(str(proc.args[2 if engine == "nginx" else 2]).rstrip("/"))
                        raise RuntimeError(f"{exc}: {engine} hand-written config; see {log}/logs") from exc
            targets = {"direct (one backend)": (backends[0], None), "ctlplane generated": gen,
                       "hand-tuned": tuned, "bare proxy (no log, headers, retries)": nolog}
            master = int((driver.control.state_dir / "run" / f"{engine}.pid").read_text().split()[0])
            pids = {"direct (one backend)": backend.pid, "ctlplane generated": master, "hand-tuned": procs[0].pid,
                    "bare proxy (no log, headers, retries)": procs[1].pid}
            for kind in kinds:
                urls = {}
                for name, ports in targets.items():
                    if ports[1] is None and kind != "http":
                        continue  # the backend speaks plain HTTP only
                    port = ports[0] if kind == "http" else ports[1]
                    urls[name] = f"{'http' if kind == 'http' else 'https'}://127.0.0.1:{port}/"
                results: dict[str, list[WrkResult]] = {k: [] for k in urls}
                cpu = dict.fromkeys(urls, 0.0)
                for round_no in range(rounds):
                    for name, url in urls.items():
                        print(f"{engine} {kind} round {round_no + 1}/{rounds}: {name}", file=sys.stderr, flush=True)
                        before = cpu_seconds(pids[name])
                        results[name].append(load(kind, url, seconds, args.connections))
                        cpu[name] += cpu_seconds(pids[name]) - before
                tuned_rps, gen_rps = (sum(r.requests for r in results[name]) / sum(r.seconds for r in results[name])
                                      for name in ("hand-tuned", "ctlplane generated"))
                rows += [summarise(engine, kind, name, results[name], tuned_rps, cpu[name]) for name in urls]
                ratio = gen_rps / tuned_rps
                cost = [cpu[name] / max(1, sum(r.requests for r in results[name]))
                        for name in ("hand-tuned", "ctlplane generated")]
                cpu_ratio = f"{cost[0] / cost[1]:.2f}" if cost[1] else "-"
                verdicts.append(f"{engine} {kind}: generated / hand-tuned = {ratio:.2f} (target >= {TARGET}): "
                                f"{'met' if ratio >= TARGET else 'MISSED'}; proxy CPU per request, hand-tuned / "
                                f"generated = {cpu_ratio}")
            driver.control.stop()
            for proc in procs:
                stop_process(proc)
    bullet = "- " if args.markdown else ""
    text = "\n".join([table(HEADERS, rows, markdown=args.markdown), "", *(bullet + v for v in verdicts)])
    if args.markdown:
        text = (docs_header(command.strip()) + f"  \nLoad: wrk `-t1 -c{args.connections} -d{seconds}s --latency` "
                f"(keep-alive; `Connection: close` for handshakes), h2load `-c32 -m10`; {rounds} interleaved round(s) "
                "per target; req/s over all rounds, p50/p99 the median of the rounds.\n\n" + text)
    publish(text, HEADING, DOC_INTRO, DOC_NOTES, write_docs=args.write_docs)
    return 0


DOC_INTRO = """\
Fast backends (one NGINX answering a fixed 200 on two ports), so that the proxy is the bottleneck, not the
backend. Per engine: one backend directly (the ceiling: every row adds one hop on the same two cores), the
config ctlplane generates for one HTTP service and one HTTPS service over the two backends (model defaults
but the pool's `keepalive: 64`, the idle server connections the hand-tuned configs keep too; `apply_model`),
the config an expert would write by hand for the same services doing the same duties (each request logged
with the same fields — pool, upstream and total time in milliseconds, request id —, the client's
X-Request-ID passed on or one generated, the client's address, scheme, host and port passed on, WebSocket
upgrades, the backends' X-Powered-By and X-Accel-* headers dropped, bodies over 1 MB refused, retries on
connection failures, keep-alive and connection reuse to the backends, one worker or thread like the generated
one), each done the cheapest way the engine offers and tuned for throughput, and a bare proxy without those
duties (what they cost). Then the same over TLS (keep-alive requests, and handshakes: a new connection per
request) and HTTP/2 (h2load)."""

DOC_NOTES = """\
Reading it: the ratio generated / hand-tuned is the figure; absolute numbers depend on the machine's load
(two shared cores run the client, the proxy and the backend). The bare-proxy row shows what the duties cost
(logging every request above all), which both the generated config (expert defaults) and the hand-tuned one
pay. "proxy CPU us/req" is the CPU time (user + system, from /proc) the proxy's processes spent during the
row's runs divided by its requests: on a shared machine it moves much less with the other load than req/s
does (which also depends on the CPU the client and the backend get), so its ratio, hand-tuned / generated,
is the check to read beside the throughput ratio when the load average was not low."""

if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every process started here was stopped", file=sys.stderr)
        sys.exit(130)

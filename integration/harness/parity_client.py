#!/usr/bin/env python3
"""Request sequences for the parity suite, run INSIDE a client container (stdlib only).

The host runs ``python3 /opt/ctlplane-harness/parity_client.py '<json spec>'``
through ``exec_run`` and reads one JSON document from stdout. Every operation
is bounded (per-request timeout, a deadline for paced runs, at most 2000
requests). Operations (``spec["op"]``):

* ``requests``: HTTP/1.1 requests one after the other, each on its own
  connection (``"keepalive": true`` reuses one). A request is ``{target,
  path, method, headers: [[name, value], ...], body: N, chunked, tls, sni}``;
  the answer ``{status, headers: {lower-case name: values joined by ", "},
  body, ms, error}`` (``body`` parsed as JSON when it is, else up to 4 KiB of
  text; status -1 and ``error`` when no answer came).
* ``concurrent``: the same requests, all started at once (threads).
* ``paced``: one request shape sent ``rate`` times a second for ``duration``
  seconds on one keep-alive connection; ``[[ms since start, status], ...]``.
* ``slow_header``: connect, send the first part of a request header, then
  wait up to ``wait`` seconds: ``{closed, answered, ms}``.
* ``idle``: one request, then ``idle`` seconds of silence, then whether the
  server closed the connection: ``{status, closed}``.
* ``tcp``: connect and read the first line: ``{line, closed}``;
  ``"hold": S`` keeps it open S seconds (in the background) first.
* ``websocket``: an RFC 6455 upgrade, a message round trip, an idle period
  (``parity_ws.py``).
* ``curl``: run curl with ``args`` (TLS version, curves, HTTP/2) and return
  ``{code, http_version, status, headers}``.
* ``tls_status``: ``openssl s_client -status``: ``{stapled, response_status, cert_status}`` of the OCSP
  response stapled to the handshake.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from parity_http import Reader, _connect, _split, one, proxy_header  # beside this script in the mounted harness directory
from parity_ws import op_websocket

MAX_REQUESTS = 2000


def op_requests(spec):
    out, conn = [], None
    for req in spec["requests"][:MAX_REQUESTS]:
        result, sock = one(req, conn if spec.get("keepalive") else None, spec.get("timeout", 5.0))
        out.append(result)
        if spec.get("keepalive"):
            conn = sock
        elif sock is not None:
            sock.close()
    return out


def op_threads(spec):
    """``threads`` threads, each sending ``each`` requests one after the other (a new connection each)."""
    out = []
    lock = threading.Lock()

    def run():
        for _ in range(int(spec["each"])):
            result, sock = one(spec["request"], None, spec.get("timeout", 5.0))
            if sock is not None:
                sock.close()
            with lock:
                out.append(result)

    threads = [threading.Thread(target=run) for _ in range(min(int(spec["threads"]), 32))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def op_concurrent(spec):
    requests = spec["requests"][:MAX_REQUESTS]
    out = [None] * len(requests)

    def run(i):
        result, sock = one(requests[i], None, spec.get("timeout", 5.0))
        out[i] = result
        if sock is not None:
            sock.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    stagger = min(float(spec.get("stagger", 0.0)), 1.0)  # seconds between starts (0: all at once)
    for n, t in enumerate(threads):
        if n and stagger:
            time.sleep(stagger)
        t.start()
    for t in threads:
        t.join(spec.get("timeout", 5.0) + 5)
    return out


def op_paced(spec):
    req, rate, duration = spec["request"], float(spec["rate"]), min(float(spec["duration"]), 20.0)
    out, conn, start, n = [], None, time.monotonic(), 0
    while n < MAX_REQUESTS:
        due = start + n / rate
        if due - start > duration:
            break
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        result, conn = one(req, conn, spec.get("timeout", 5.0))
        out.append([round((time.monotonic() - start) * 1000), result["status"]])
        n += 1
    return out


def op_slow_header(spec):
    start = time.monotonic()
    sock = _connect(spec, 5.0)
    sock.sendall(spec["first"].encode("latin-1"))
    sock.settimeout(float(spec["wait"]))
    try:
        data = sock.recv(65536)
        return {"closed": not data, "answered": bool(data), "ms": round((time.monotonic() - start) * 1000)}
    except TimeoutError:
        return {"closed": False, "answered": False, "ms": round((time.monotonic() - start) * 1000)}
    except OSError:
        return {"closed": True, "answered": False, "ms": round((time.monotonic() - start) * 1000)}
    finally:
        sock.close()


def op_stall_body(spec):
    """Announce a body, send a little of it, then stall: what does the proxy do after its client timeout?"""
    start = time.monotonic()
    sock = _connect(spec, 5.0)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
    sock.settimeout(float(spec["wait"]))
    try:
        reader = Reader(sock)
        status = int(reader.line().split()[1])
    except TimeoutError:
        status = None
    except (OSError, EOFError, ValueError, IndexError):
        status = -1
    sock.close()
    return {"status": status, "ms": round((time.monotonic() - start) * 1000)}


def op_slow_body(spec):
    """Send the request header at once, then the body in ``pieces`` pieces ``gap`` seconds apart (bounded): a
    slow upload whose whole takes longer than the request-header timeout, each gap shorter than the client one."""
    start = time.monotonic()
    pieces, gap = min(int(spec["pieces"]), 20), min(float(spec["gap"]), 5.0)
    sock = _connect(spec, 5.0)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: %d\r\n\r\n" % (pieces * 100))
    try:
        for _ in range(pieces):
            time.sleep(gap)
            sock.sendall(b"x" * 100)
        sock.settimeout(10.0)
        status = int(Reader(sock).line().split()[1])
    except (OSError, EOFError, ValueError, IndexError):
        status = -1
    finally:
        sock.close()
    return {"status": status, "ms": round((time.monotonic() - start) * 1000)}


def op_idle(spec):
    result, sock = one(spec["request"], None, 5.0)
    if sock is None:
        return {"status": result["status"], "closed": True}
    time.sleep(min(float(spec["idle"]), 20.0))
    sock.settimeout(1.0)
    try:
        closed = sock.recv(1) == b""
    except TimeoutError:
        closed = False
    except OSError:
        closed = True
    sock.close()
    return {"status": result["status"], "closed": closed}


def op_tcp(spec):
    host, port = _split(spec["target"])
    try:
        sock = socket.create_connection((host, port), timeout=5.0)
        if spec.get("proxy"):
            sock.sendall(proxy_header(spec["proxy"]))
    except ConnectionError:  # refused at accept (reset during the handshake)
        return {"line": None, "closed": True}
    sock.settimeout(float(spec.get("wait", 2.0)))
    try:
        data = sock.recv(1024)
    except TimeoutError:
        data = None
    except OSError:
        data = b""
    if spec.get("hold"):
        threading.Timer(float(spec["hold"]), sock.close).start()
    else:
        sock.close()
    if data is None:
        return {"line": None, "closed": False}
    return {"line": data.decode("utf-8", "replace").strip() or None, "closed": not data}


def op_tcp_idle(spec):
    """Read the greeting, then stay silent: did the proxy close the connection within ``idle`` seconds?"""
    host, port = _split(spec["target"])
    sock = socket.create_connection((host, port), timeout=5.0)
    start = time.monotonic()
    greeting = sock.recv(1024).decode("utf-8", "replace").strip()
    sock.settimeout(float(spec["idle"]))
    try:
        closed = sock.recv(1024) == b""
    except TimeoutError:
        closed = False
    except OSError:
        closed = True
    sock.close()
    return {"greeting": greeting or None, "closed": closed, "ms": round((time.monotonic() - start) * 1000)}


def op_tcp_pair(spec):
    """Two connections: the first held open while the second is tried."""
    host, port = _split(spec["target"])
    first = socket.create_connection((host, port), timeout=5.0)
    first.settimeout(2.0)
    line1 = first.recv(1024).decode("utf-8", "replace").strip()
    second = op_tcp({"target": spec["target"], "wait": spec.get("wait", 2.0)})
    first.close()
    return {"first": line1 or None, "second": second}


def op_curl(spec):
    """``files`` (name -> text, e.g. a client certificate) are written to a private directory that ``{dir}`` in
    ``args`` names; with ``body`` the answer's body is returned too (parsed as JSON when it is)."""
    work = tempfile.mkdtemp()
    for name, text in (spec.get("files") or {}).items():
        path = os.path.join(work, os.path.basename(name))
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            handle.write(text)
    body_path = os.path.join(work, "body") if spec.get("body") else "/dev/null"
    args = [a.replace("{dir}", work) for a in spec["args"]]
    argv = ["curl", "-sk", "-o", body_path, "-D", "-", "-m", "5", "-w", "\n%{http_version}"] + args
    done = subprocess.run(argv, capture_output=True, timeout=20)
    text = done.stdout.decode("latin-1")
    head, _, version = text.rpartition("\n")
    lines = [ln for ln in head.replace("\r", "").split("\n") if ln]
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP") else -1
    headers = {}
    for ln in lines[1:]:
        name, _, value = ln.partition(":")
        headers[name.strip().lower()] = value.strip()
    found = {"code": done.returncode, "http_version": version.strip(), "status": status, "headers": headers}
    if spec.get("body"):
        try:
            with open(body_path) as handle:
                found["body"] = json.load(handle)
        except (OSError, ValueError):
            found["body"] = None
    shutil.rmtree(work, ignore_errors=True)
    return found


def op_tls_status(spec):
    """``openssl s_client -status`` to ``target`` with SNI ``servername``: whether the server stapled an OCSP
    response, its response status and the certificate's status (None when absent)."""
    host, _, port = spec["target"].rpartition(":")
    argv = ["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", spec["servername"], "-status"]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    text = done.stdout.decode("latin-1")
    found = {"stapled": "OCSP Response Status:" in text, "response_status": None, "cert_status": None}
    for line in text.splitlines():
        name, _, value = line.strip().partition(": ")
        if name == "OCSP Response Status":
            found["response_status"] = value.strip()
        elif name == "Cert Status":
            found["cert_status"] = value.strip()
    return found


OPS = {"requests": op_requests, "concurrent": op_concurrent, "threads": op_threads, "paced": op_paced, "slow_header": op_slow_header, "tls_status": op_tls_status,
       "idle": op_idle, "stall_body": op_stall_body, "slow_body": op_slow_body, "tcp": op_tcp, "tcp_idle": op_tcp_idle, "tcp_pair": op_tcp_pair, "curl": op_curl,
       "websocket": op_websocket}


def main():
    spec = json.loads(sys.argv[1])
    json.dump(OPS[spec["op"]](spec), sys.stdout)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Connection probes that run INSIDE a client container (stdlib only), like ``load.py``.

The host runs ``python3 /opt/ctlplane-harness/netprobe.py <kind> '<json spec>'``
through ``exec_run`` and reads JSON from stdout (one document per line).

``tls``: ``{"ca": PEM, "probes": [{"target": "IP:PORT", "sni": NAME | null,
"min": "TLSv1_2" | null, "max": ..., "ciphers": OPENSSL-STRING | null,
"host": Host header | null, "path": "/"}]}`` -> one line ``{"results": [...]}``,
per probe ``{"ok", "version", "cipher", "subject_cn", "san", "error",
"status", "headers"}``. The peer is verified against the CA (hostnames are
not: the test compares the certificate's names itself); with ``host`` set an
HTTP/1.1 GET is sent over the connection and its status and headers returned.

``tcp_limit``: ``{"target", "hold": N, "extra": M, "pause": S, "timeout": T}``
opens N connections and keeps them (each must send the backend's name line
and echo a line back), then tries M more, prints ``{"phase": "held", ...}``,
waits S seconds (the host checks another client meanwhile), closes one held
connection and retries one new connection until it is served or T seconds
pass, and prints ``{"phase": "after_close", ...}``. Every socket operation
has a timeout, so the script ends within roughly S + T + 2 * timeout seconds.
"""

import http.client
import json
import socket
import ssl
import sys
import time
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose


def _split(target):
    host, _, port = target.rpartition(":")
    return host, int(port)


def _version(name):
    return getattr(ssl.TLSVersion, name) if name else None


def _context(ca, probe):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # the test compares the certificate's names itself
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=ca)
    if probe.get("ciphers"):
        ctx.set_ciphers(probe["ciphers"])
    if probe.get("min"):
        ctx.minimum_version = _version(probe["min"])
    if probe.get("max"):
        ctx.maximum_version = _version(probe["max"])
    return ctx


def _names(cert):
    subject = dict(item for rdn in cert.get("subject", ()) for item in rdn)
    san = sorted(value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS")
    return subject.get("commonName"), san


def _http(sock, host, path):
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode("latin-1"))
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    resp.read()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}


def tls_probe(ca, probe, timeout):
    out = {"ok": False, "version": None, "cipher": None, "subject_cn": None, "san": [], "error": None,
           "status": None, "headers": {}}
    try:
        ctx = _context(ca, probe)
        with socket.create_connection(_split(probe["target"]), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=probe.get("sni")) as sock:
                out["version"], out["cipher"] = sock.version(), sock.cipher()[0]
                out["subject_cn"], out["san"] = _names(sock.getpeercert())
                if probe.get("host"):
                    out["status"], out["headers"] = _http(sock, probe["host"], probe.get("path") or "/")
        out["ok"] = True
    except Exception as exc:  # noqa: BLE001 - every failure is a result
        out["error"] = "%s: %s" % (type(exc).__name__, exc)
    return out


def run_tls(spec):
    timeout = float(spec.get("timeout", 5.0))
    return {"results": [tls_probe(spec["ca"], p, timeout) for p in spec["probes"]]}


def _serve_check(target, timeout):
    """Connect; the backend's name line must come first and a line must echo back. Returns (sock, name|error)."""
    sock = None
    try:
        sock = socket.create_connection(_split(target), timeout=timeout)
        reader = sock.makefile("rb")
        name = reader.readline(4096).decode("utf-8", "replace").strip()
        if not name:
            sock.close()
            return None, "closed without a name line"
        sock.sendall(b"ping\n")
        if reader.readline(4096) != b"ping\n":
            sock.close()
            return None, "no echo from " + name
        return sock, name
    except Exception as exc:  # noqa: BLE001 - every failure is a result
        if sock is not None:
            sock.close()
        return None, "%s: %s" % (type(exc).__name__, exc)


def run_tcp_limit(spec):
    target, timeout = spec["target"], float(spec.get("timeout", 3.0))
    held = [_serve_check(target, timeout) for _ in range(int(spec["hold"]))]
    extra = [_serve_check(target, timeout) for _ in range(int(spec.get("extra", 1)))]
    for sock, _ in extra:
        if sock is not None:
            sock.close()
    print(json.dumps({"phase": "held", "held": [[s is not None, r] for s, r in held],
                      "extra": [[s is not None, r] for s, r in extra]}), flush=True)
    time.sleep(float(spec.get("pause", 1.0)))
    for sock, _ in held[:1]:
        if sock is not None:
            sock.close()
    deadline, tries = time.monotonic() + timeout, 0
    while True:  # the proxy notices the closed connection asynchronously
        tries += 1
        sock, reply = _serve_check(target, timeout)
        if sock is not None or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    print(json.dumps({"phase": "after_close", "reopened": [sock is not None, reply], "tries": tries}), flush=True)
    for s in [sock] + [s for s, _ in held]:
        if s is not None:
            s.close()


def main(argv):
    kind, spec = argv[1], json.loads(argv[2])
    if kind == "tls":
        print(json.dumps(run_tls(spec)), flush=True)
    elif kind == "tcp_limit":
        run_tcp_limit(spec)
    else:
        raise SystemExit("unknown probe " + kind)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

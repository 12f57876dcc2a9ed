#!/usr/bin/env python3
"""Tiny dependency-free HTTP + TCP echo backend for ctlplane integration tests.

Usage:
    python3 echo.py --name NAME --http-port P [--tcp-port Q] [--bind ADDR] [--log]

Ports may be 0 (the kernel picks one); the ready line printed on stdout says
which ports were bound:

    READY name=NAME http=ADDR:P tcp=ADDR:Q

HTTP (HTTP/1.1, keep-alive, every method):
    Any path          -> 200 JSON {"server", "method", "path", "query", "uri",
                         "host", "headers", "client", "body_bytes", "hits"}
                         headers: X-Server: NAME, X-Powered-By: echo,
                         Server: echo/1.0, Content-Length.
    /cacheable*       -> additionally Cache-Control: public, max-age=60
    ?set=Name:Value   -> adds the response header Name: Value (repeatable; letters,
                         digits and '-' in the name; printable ASCII in the value)
    /drip?chunks=N&ms=M -> N chunks of 1 KiB, M ms apart (a slow response body)
    /big?bytes=N      -> N bytes of 'a', text/plain or ?type=T (N capped at 64 MiB)
    ?sleep_ms=N       -> this request sleeps N ms before answering
    /healthz          -> 200 "ok" (fail status in fail mode, closed in close
                         mode; never slowed; not counted in hits)
    /ws* with Upgrade: websocket -> 101 (RFC 6455 handshake, X-Server: NAME), then
                         every text/binary message is echoed as "NAME:" + message,
                         pings answered with pongs, a close frame answered and the
                         connection closed; an idle tunnel is kept for an hour
Control paths (never slowed/failed/closed, not counted in hits):
    /_ctl/slow?ms=N       later requests sleep N ms (0 turns it off)
    /_ctl/fail?status=S   later non-control requests answer status S (default 503)
    /_ctl/close           later non-control requests: connection closed, no answer
    /_ctl/reset           back to normal (hits counter kept)
    /_ctl/hits            {"server": NAME, "hits": N}
    /_ctl/hits?reset=1    same, then the counter is set to 0
    /_ctl/state           current mode as JSON

TCP (--tcp-port): on connect writes "NAME\\n", then echoes every line back
until the peer closes.

SIGTERM / SIGINT: listeners stop and the process exits within ~0.2 s.
Stdlib only; runs on Python >= 3.7 (tested on 3.11).
"""

import argparse
import base64
import hashlib
import json
import struct
import signal
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BIG_BYTES = 64 * 1024 * 1024
MAX_SLEEP_MS = 10 * 60 * 1000
IDLE_TIMEOUT_S = 75  # > nginx's default upstream keepalive_timeout (60 s)
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_MAX_MESSAGE = 1 << 20
WS_IDLE_S = 3600


def ws_accept(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.strip().encode("ascii") + WS_GUID).digest()).decode("ascii")


def ws_read(rfile):
    """One frame: (opcode, payload), or None when the peer closed or sent something malformed."""
    head = rfile.read(2)
    if len(head) < 2:
        return None
    opcode, masked, length = head[0] & 0x0F, head[1] & 0x80, head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", rfile.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", rfile.read(8))[0]
    if length > WS_MAX_MESSAGE:
        return None
    mask = rfile.read(4) if masked else b""
    payload = rfile.read(length)
    if len(payload) < length or (masked and len(mask) < 4):
        return None
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return opcode, payload


def ws_frame(opcode, payload):
    """An unmasked (server) frame with FIN set."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


class State:
    """Mutable runtime behaviour shared by all handler threads."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.slow_ms = 0
        self.fail_status = 0
        self.close = False
        self.hits = 0

    def snapshot(self):
        with self.lock:
            return {
                "server": self.name,
                "slow_ms": self.slow_ms,
                "fail_status": self.fail_status,
                "close": self.close,
                "hits": self.hits,
            }


def _joined(items):
    """Request headers as a dict; a header sent several times is joined with ", " (RFC 9110 5.3)."""
    found = {}
    for key, value in items:
        found[key] = found[key] + ", " + value if key in found else value
    return found


def _set_headers(qs):
    """Response headers asked for with ?set=Name:Value (a safe name and printable value only)."""
    extra = {}
    for item in qs.get("set", [])[:20]:
        name, _, value = item.partition(":")
        if name and all(c.isalnum() or c == "-" for c in name) and value and all(32 <= ord(c) < 127 for c in value):
            extra[name] = value.strip()
    return extra


def _int(qs, key, default, lo, hi):
    try:
        value = int(qs.get(key, [default])[0])
    except (TypeError, ValueError):
        value = default
    return max(lo, min(hi, value))


class EchoHTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "echo/1.0"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    state = None  # set on a subclass per server
    log_requests = False

    # -- plumbing ---------------------------------------------------------
    def setup(self):
        super().setup()
        # Headers and body go out in one write (see _send), and NODELAY keeps
        # multi-write responses (/big) from hitting the Nagle/delayed-ACK 40 ms stall.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def version_string(self):
        return "echo/1.0"

    def log_message(self, fmt, *args):
        if self.log_requests:
            sys.stderr.write("%s [%s] %s\n" % (self.state.name, self.address_string(), fmt % args))

    def _read_body(self):
        """Consume the request body so keep-alive stays in sync. Returns its size."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            total = 0
            for _ in range(100000):
                line = self.rfile.readline(65537)
                if not line:
                    self.close_connection = True
                    return total
                try:
                    size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    return total
                if size == 0:
                    # trailers until blank line
                    for _ in range(100):
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    return total
                remaining = size
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 65536))
                    if not chunk:
                        self.close_connection = True
                        return total
                    remaining -= len(chunk)
                    total += len(chunk)
                self.rfile.readline(3)  # CRLF after chunk
            self.close_connection = True
            return total
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        remaining = max(0, length)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                self.close_connection = True
                break
            remaining -= len(chunk)
        return length - remaining

    def _send(self, status, body, content_type="application/json", extra=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Server", self.state.name)
        self.send_header("X-Powered-By", "echo")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        # end_headers() would flush the headers on their own; send head + body
        # in a single write instead.
        head = b"".join(self._headers_buffer) + b"\r\n"
        self._headers_buffer = []
        self.wfile.write(head if self.command == "HEAD" else head + body)

    def _send_json(self, status, obj, extra=None):
        self._send(status, json.dumps(obj, sort_keys=True) + "\n", "application/json", extra)

    def _drop(self):
        """Close the connection without writing anything."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- dispatch ---------------------------------------------------------
    def _handle(self):
        body_bytes = self._read_body()
        parts = urlsplit(self.path)
        path = parts.path or "/"
        qs = parse_qs(parts.query)
        st = self.state

        if path.startswith("/_ctl/"):
            return self._control(path[len("/_ctl/"):], qs)

        with st.lock:
            slow_ms, fail_status, close = st.slow_ms, st.fail_status, st.close

        if path == "/healthz":
            if close:
                return self._drop()
            if fail_status:
                return self._send(fail_status, "failing\n", "text/plain")
            return self._send(200, "ok\n", "text/plain")

        with st.lock:
            st.hits += 1
            hits = st.hits

        sleep_ms = slow_ms + _int(qs, "sleep_ms", 0, 0, MAX_SLEEP_MS)
        if sleep_ms:
            time.sleep(sleep_ms / 1000.0)

        if close:
            return self._drop()

        if path.startswith("/ws") and "websocket" in (self.headers.get("Upgrade") or "").lower():
            return self._websocket()

        extra = {}
        if path.startswith("/cacheable"):
            extra["Cache-Control"] = "public, max-age=60"
        extra.update(_set_headers(qs))
        status = fail_status or 200

        if path == "/drip":
            return self._drip(status, _int(qs, "chunks", 4, 1, 10000), _int(qs, "ms", 100, 0, 60000), extra)

        if path == "/big":
            n = _int(qs, "bytes", 1024, 0, MAX_BIG_BYTES)
            kind = qs.get("type", ["text/plain"])[0]
            self.send_response(status)
            self.send_header("Content-Type", kind if all(c.isalnum() or c in "/+.-" for c in kind) else "text/plain")
            self.send_header("Content-Length", str(n))
            self.send_header("X-Server", st.name)
            self.send_header("X-Powered-By", "echo")
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                block = b"a" * 65536
                remaining = n
                while remaining > 0:
                    k = min(remaining, len(block))
                    self.wfile.write(block[:k])
                    remaining -= k
            return

        self._send_json(
            status,
            {
                "server": st.name,
                "method": self.command,
                "path": path,
                "query": parts.query,
                "uri": self.path,
                "host": self.headers.get("Host", ""),
                "headers": _joined(self.headers.items()),
                "client": self.client_address[0],
                "body_bytes": body_bytes,
                "hits": hits,
            },
            extra,
        )

    def _websocket(self):
        """The RFC 6455 handshake, then echo messages (prefixed with this server's name) until a close."""
        key = self.headers.get("Sec-WebSocket-Key")
        if not key:
            return self._send(400, "no Sec-WebSocket-Key\n", "text/plain")
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws_accept(key))
        self.send_header("X-Server", self.state.name)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        self.connection.settimeout(WS_IDLE_S)
        prefix = (self.state.name + ":").encode("utf-8")
        try:
            for _ in range(1000000):
                frame = ws_read(self.rfile)
                if frame is None:
                    return
                opcode, payload = frame
                if opcode == 0x8:  # close: answer it, then end the tunnel
                    self.wfile.write(ws_frame(0x8, payload[:2]))
                    return
                if opcode == 0x9:
                    self.wfile.write(ws_frame(0xA, payload))
                elif opcode in (0x1, 0x2):
                    self.wfile.write(ws_frame(opcode, prefix + payload))
                self.wfile.flush()
        except (ConnectionError, TimeoutError, OSError, struct.error):
            return

    def _drip(self, status, chunks, ms, extra):
        """``chunks`` blocks of 1 KiB, ``ms`` apart, with a Content-Length announced up front."""
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(chunks * 1024))
        self.send_header("X-Server", self.state.name)
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        for i in range(chunks):
            if i:
                time.sleep(ms / 1000.0)
            self.wfile.write(b"d" * 1024)
            self.wfile.flush()

    def _control(self, action, qs):
        st = self.state
        with st.lock:
            if action == "slow":
                st.slow_ms = _int(qs, "ms", 0, 0, MAX_SLEEP_MS)
            elif action == "fail":
                st.fail_status = _int(qs, "status", 503, 100, 599)
            elif action == "close":
                st.close = True
            elif action == "reset":
                st.slow_ms, st.fail_status, st.close = 0, 0, False
            elif action == "hits":
                hits = st.hits
                if qs.get("reset", ["0"])[0] not in ("0", "", "false"):
                    st.hits = 0
        if action == "hits":
            return self._send_json(200, {"server": st.name, "hits": hits})
        if action not in ("slow", "fail", "close", "reset", "state"):
            return self._send_json(404, {"server": st.name, "error": "unknown control " + action})
        return self._send_json(200, st.snapshot())

    def __getattr__(self, name):
        # do_GET, do_POST, do_PUT, do_DELETE, do_PATCH, do_HEAD, do_OPTIONS, ...
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


class QuietMixin:
    """Don't print tracebacks for clients that vanish mid-request."""

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            return
        super().handle_error(request, client_address)


def _family(bind):
    return socket.AF_INET6 if ":" in bind else socket.AF_INET


class EchoHTTPServer(QuietMixin, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class EchoTCPHandler(socketserver.StreamRequestHandler):
    state = None
    timeout = IDLE_TIMEOUT_S * 4

    def handle(self):
        try:
            self.wfile.write((self.state.name + "\n").encode("utf-8"))
            for _ in range(10000000):
                line = self.rfile.readline(1 << 20)
                if not line:
                    break
                self.wfile.write(line)
        except (ConnectionError, TimeoutError, OSError):
            pass


class EchoTCPServer(QuietMixin, socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def make_servers(name, http_port, tcp_port=None, bind="0.0.0.0", log=False):
    state = State(name)
    http_handler = type("Handler", (EchoHTTPHandler,), {"state": state, "log_requests": log})
    EchoHTTPServer.address_family = _family(bind)
    servers = [EchoHTTPServer((bind, http_port), http_handler)]
    if tcp_port is not None:
        tcp_handler = type("TCPHandler", (EchoTCPHandler,), {"state": state})
        EchoTCPServer.address_family = _family(bind)
        servers.append(EchoTCPServer((bind, tcp_port), tcp_handler))
    return state, servers


def main(argv=None):
    ap = argparse.ArgumentParser(description="HTTP + TCP echo backend")
    ap.add_argument("--name", required=True)
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--tcp-port", type=int, default=None)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--log", action="store_true", help="log each request to stderr")
    args = ap.parse_args(argv)

    _, servers = make_servers(args.name, args.http_port, args.tcp_port, args.bind, args.log)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    threads = []
    for srv in servers:
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        t.start()
        threads.append(t)

    def addr(srv):
        host, port = srv.server_address[:2]
        return "%s:%d" % (host, port)

    line = "READY name=%s http=%s" % (args.name, addr(servers[0]))
    if len(servers) > 1:
        line += " tcp=%s" % addr(servers[1])
    print(line, flush=True)

    while not stop.wait(0.5):
        if not all(t.is_alive() for t in threads):
            break
    for srv in servers:
        srv.shutdown()
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

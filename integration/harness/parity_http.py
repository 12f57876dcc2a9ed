"""A small HTTP/1.1 client for ``parity_client.py`` (stdlib only, runs inside client containers).

Raw sockets, so a test controls exactly what is sent: repeated headers, no Host, a Content-Length
body or a chunked one, TLS with any SNI and no verification. :func:`one` sends one request (on a
given keep-alive connection or a new one) and reads one answer; it never raises for network
failures: status -1 and the error text instead. A body sent after the proxy already refused the
request (413) is dropped and the answer still read.
"""

import json
import socket
import ssl
import struct
import time

MAX_BODY_TEXT = 4096


def _split(target):
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


def proxy_header(spec):
    """A PROXY protocol header (``{"version": 1 | 2, "src": IPv4, "dst": IPv4}``) as a balancer sends it."""
    src, dst, sport, dport = spec["src"], spec.get("dst", "192.0.2.1"), 40000, 80
    if int(spec["version"]) == 1:
        return ("PROXY TCP4 %s %s %d %d\r\n" % (src, dst, sport, dport)).encode("ascii")
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def _connect(req, timeout):
    host, port = _split(req["target"])
    sock = socket.create_connection((host, port), timeout=timeout)
    if req.get("proxy"):
        sock.sendall(proxy_header(req["proxy"]))
    if req.get("tls"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname=req.get("sni") or None)
    return sock


def _head(req):
    lines = ["%s %s HTTP/%s" % (req.get("method", "GET"), req.get("path", "/"), req.get("version", "1.1"))]
    headers = [list(h) for h in req.get("headers", [])]
    names = {h[0].lower() for h in headers}
    if "host" not in names and not req.get("no_host"):
        headers.insert(0, ["Host", "www.example.com"])
    size = int(req.get("body", 0))
    if size and req.get("chunked"):
        headers.append(["Transfer-Encoding", "chunked"])
    elif size or req.get("method", "GET") in ("POST", "PUT"):
        headers.append(["Content-Length", str(size)])
    lines += ["%s: %s" % (k, v) for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), size


def _send_body(sock, size, chunked):
    block = b"x" * 65536
    left = size
    while left > 0:
        n = min(left, len(block))
        sock.sendall(b"%x\r\n%s\r\n" % (n, block[:n]) if chunked else block[:n])
        left -= n
    if chunked:
        sock.sendall(b"0\r\n\r\n")


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def rest(self):
        try:
            while True:
                self.fill()
        except (EOFError, OSError):
            pass
        data, self.buf = self.buf, b""
        return data


def _response(reader, method):
    status_line = reader.line().decode("latin-1")
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = reader.line().decode("latin-1")
        if not line:
            break
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = headers[key] + ", " + value.strip() if key in headers else value.strip()
    if 100 <= status < 200 and status != 101:
        return _response(reader, method)
    body = b""
    if method == "HEAD" or status in (101, 204, 304):
        pass
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int(reader.line().split(b";")[0] or b"0", 16)
            if size == 0:
                reader.line()
                break
            body += reader.exactly(size)
            reader.line()
    elif "content-length" in headers:
        body = reader.exactly(int(headers["content-length"].split(",")[0]))
    else:
        body = reader.rest()
    return status, headers, body


def _decode(body, headers):
    if headers.get("content-encoding"):
        return {"encoded_bytes": len(body)}
    text = body.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text[:MAX_BODY_TEXT]


def one(req, conn=None, timeout=5.0):
    """Send one request (on ``conn`` when given); returns (result, connection or None)."""
    start = time.monotonic()
    sock = conn
    try:
        if sock is None:
            sock = _connect(req, timeout)
        head, size = _head(req)
        try:
            sock.sendall(head)
            _send_body(sock, size, req.get("chunked"))
        except OSError:
            pass  # refused early (413): the answer may still be there to read
        status, headers, body = _response(Reader(sock), req.get("method", "GET"))
        result = {"status": status, "headers": headers, "body": _decode(body, headers),
                  "ms": round((time.monotonic() - start) * 1000)}
        return result, sock
    except (OSError, EOFError, ValueError, IndexError) as exc:
        if sock is not None:
            sock.close()
        return {"status": -1, "headers": {}, "body": "", "error": "%s: %s" % (type(exc).__name__, exc),
                "ms": round((time.monotonic() - start) * 1000)}, None

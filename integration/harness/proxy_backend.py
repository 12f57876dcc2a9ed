"""The lab's PROXY protocol backend (container ``q``): the image's echo backend behind a PROXY header reader.

    python3 proxy_backend.py --name q

Every connection must start with a PROXY protocol header, version 1 or 2 (else it is closed). Port 8080
answers HTTP like the echo backend, adding ``X-Backend-Proxy-Src`` (the client address the header named,
``local`` for a v2 LOCAL header such as a health check's) and ``X-Backend-Proxy-Version`` to the request
headers it echoes (any such header from the peer removed first); port 9000 greets a TCP connection with
``q from=<address> v=<version>`` and closes. The header is read in the connection's thread, byte by byte
up to its end, so nothing after it is consumed. Python 3.11 standard library only (runs in the offline image).
"""

import argparse
import signal
import socket
import struct
import sys
import threading

sys.path.insert(0, "/opt/ctlplane")
import echo  # noqa: E402  (the image's echo backend)

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
SRC, VERSION = "X-Backend-Proxy-Src", "X-Backend-Proxy-Version"


def _exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed inside the PROXY header")
        data += chunk
    return data


def read_proxy(sock):
    """(version, source address) from the connection's PROXY header; ValueError when there is none."""
    start = _exact(sock, 6)
    if start == b"PROXY ":
        line = b""
        while not line.endswith(b"\r\n"):
            line += _exact(sock, 1)
            if len(line) > 101:
                raise ValueError("PROXY v1 line too long")
        parts = line.decode("ascii").split()
        return 1, parts[1] if parts[0] in ("TCP4", "TCP6") else "unknown"
    if start + _exact(sock, 6) != V2_SIGNATURE:
        raise ValueError("no PROXY header")
    command, family, length = struct.unpack("!BBH", _exact(sock, 4))
    body = _exact(sock, length)
    if command & 0x0F == 0:
        return 2, "local"
    if family >> 4 == 1:
        return 2, socket.inet_ntop(socket.AF_INET, body[:4])
    if family >> 4 == 2:
        return 2, socket.inet_ntop(socket.AF_INET6, body[:16])
    return 2, "unknown"


class Quiet:
    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (OSError, ValueError)):
            return
        super().handle_error(request, client_address)


class ProxyHttpHandler(echo.EchoHTTPHandler):
    def setup(self):
        self.proxied = read_proxy(self.request)
        super().setup()

    def parse_request(self):
        ok = super().parse_request()
        if ok:
            for name in (SRC, VERSION):
                del self.headers[name]
            self.headers[VERSION] = str(self.proxied[0])
            self.headers[SRC] = self.proxied[1]
        return ok


class ProxyTcpHandler(echo.EchoTCPHandler):
    def handle(self):
        version, src = read_proxy(self.request)
        self.wfile.write(("%s from=%s v=%d\n" % (self.state.name, src, version)).encode("ascii"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    args = ap.parse_args()
    state = echo.State(args.name)
    http_cls = type("S", (Quiet, echo.EchoHTTPServer), {})
    tcp_cls = type("T", (Quiet, echo.EchoTCPServer), {})
    servers = [http_cls(("0.0.0.0", 8080), type("H", (ProxyHttpHandler,), {"state": state})),
               tcp_cls(("0.0.0.0", 9000), type("TH", (ProxyTcpHandler,), {"state": state}))]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("READY name=%s proxy=8080,9000" % args.name, flush=True)
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

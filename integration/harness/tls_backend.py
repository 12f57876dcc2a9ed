"""The lab's TLS backend (container ``t``): the image's echo backend (``/opt/ctlplane/echo.py``) behind TLS.

    python3 tls_backend.py --name t --pki DIR

``DIR`` holds ``server.crt`` / ``server.key`` (its certificate) and ``client-ca.pem`` (the CA of the client
certificates it accepts). Ports: 8443 HTTP over TLS requiring a client certificate, 9443 HTTP over TLS
without asking for one, 9444 the TCP echo over TLS. The common name of the client certificate it saw is
added to the request headers it echoes as ``X-Backend-Tls-Client`` (``CN=<name>``) (any such header from the peer removed first),
so a probe reads what the proxy presented. Handshakes run in the connection's thread, never in accept.
Runs inside the offline image (Python 3.11 standard library only).
"""

import argparse
import os
import signal
import ssl
import sys
import threading

sys.path.insert(0, "/opt/ctlplane")
import echo  # noqa: E402  (the image's echo backend)

SEEN = "X-Backend-Tls-Client"


def context(pki, require_client):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(pki, "server.crt"), os.path.join(pki, "server.key"))
    if require_client:
        ctx.load_verify_locations(os.path.join(pki, "client-ca.pem"))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def subject(sock):
    cert = sock.getpeercert() if hasattr(sock, "getpeercert") else None
    if not cert:
        return None
    names = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    return "CN=" + names[0] if names else None


class TlsMixin:
    """Wrap each accepted socket (handshake deferred to the handler's thread); quiet about failed handshakes."""

    ctx = None

    def get_request(self):
        sock, addr = super().get_request()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (OSError, ValueError)):
            return
        super().handle_error(request, client_address)


class Handshake:
    def setup(self):
        self.request.do_handshake()
        super().setup()


class TlsHttpHandler(Handshake, echo.EchoHTTPHandler):
    def parse_request(self):
        ok = super().parse_request()
        if ok:
            del self.headers[SEEN]
            seen = subject(self.request)
            if seen:
                self.headers[SEEN] = seen
        return ok


class TlsTcpHandler(Handshake, echo.EchoTCPHandler):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--pki", required=True)
    args = ap.parse_args()
    state = echo.State(args.name)
    servers = []
    for port, require in ((8443, True), (9443, False)):
        handler = type("H%d" % port, (TlsHttpHandler,), {"state": state})
        server_cls = type("S%d" % port, (TlsMixin, echo.EchoHTTPServer), {"ctx": context(args.pki, require)})
        servers.append(server_cls(("0.0.0.0", port), handler))
    tcp_handler = type("T", (TlsTcpHandler,), {"state": state})
    tcp_cls = type("TS", (TlsMixin, echo.EchoTCPServer), {"ctx": context(args.pki, False)})
    servers.append(tcp_cls(("0.0.0.0", 9444), tcp_handler))
    for srv in servers:
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("READY name=%s tls=8443,9443,9444" % args.name, flush=True)
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

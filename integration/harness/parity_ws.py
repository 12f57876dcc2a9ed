"""A WebSocket client for the parity suite, run INSIDE a client container (stdlib only).

``op_websocket(spec)``: connect to ``spec["target"]`` (plain or ``"tls": true``), send an
RFC 6455 upgrade for ``spec["path"]`` (Host ``spec["host"]``), and report what happened:

* ``status``: the answer's status (101 when the upgrade went through; -1 without an answer),
  ``accept_ok``: Sec-WebSocket-Accept is the one RFC 6455 derives from our key,
  ``server``: the X-Server header of the backend that took the tunnel;
* ``first``: the echo of a first message (the backend answers ``NAME:`` + message);
* then ``idle`` seconds of silence, and ``after_idle``: the echo of a second message
  (``None`` when the tunnel was closed meanwhile);
* or, with ``"wait_close": S`` instead of ``idle``, up to S seconds waiting for the proxy to
  close the idle tunnel: ``closed`` and ``closed_ms`` (since the first echo).

Every wait is bounded; a message is masked as a client's must be.
"""

import base64
import hashlib
import os
import struct
import time

from parity_http import Reader, _connect  # beside this script in the mounted harness directory

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, payload):
    """A masked client frame with FIN set."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("closed")
        data += chunk
    return data


def read_frame(sock, buffered):
    """(opcode, payload) of the next server frame; ``buffered`` holds bytes read past the handshake."""
    def take(n):
        nonlocal buffered
        have, buffered = buffered[:n], buffered[n:]
        return have + (_exactly(sock, n - len(have)) if len(have) < n else b"")

    first, second = take(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", take(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", take(8))[0]
    return first & 0x0F, take(min(length, 1 << 20)), buffered


def _echo(sock, buffered, text):
    sock.sendall(frame(0x1, text.encode()))
    opcode, payload, buffered = read_frame(sock, buffered)
    return (payload.decode("utf-8", "replace") if opcode == 0x1 else None), buffered


def op_websocket(spec):
    key = base64.b64encode(os.urandom(16)).decode()
    want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    out = {"status": -1, "accept_ok": False, "server": None, "first": None}
    try:
        sock = _connect(spec, 5.0)
    except OSError:
        return out
    try:
        sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                      % (spec.get("path", "/ws"), spec.get("host", "www.example.com"), key)).encode())
        reader = Reader(sock)
        out["status"] = int(reader.line().split()[1])
        headers = {}
        for _ in range(100):
            line = reader.line().decode("latin-1")
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        out["accept_ok"] = headers.get("sec-websocket-accept") == want
        out["server"] = headers.get("x-server")
        if out["status"] != 101:
            return out
        buffered, reader.buf = reader.buf, b""  # what came after the handshake belongs to the tunnel
        out["first"], buffered = _echo(sock, buffered, "hello")
        start = time.monotonic()
        if "wait_close" in spec:
            sock.settimeout(min(float(spec["wait_close"]), 60.0))
            try:
                closed = sock.recv(1) == b""
            except TimeoutError:
                closed = False
            except OSError:
                closed = True
            out["closed"] = closed
            out["closed_ms"] = round((time.monotonic() - start) * 1000) if closed else None
            return out
        time.sleep(min(float(spec.get("idle", 0)), 60.0))
        sock.settimeout(5.0)
        try:
            out["after_idle"], buffered = _echo(sock, buffered, "again")
        except (OSError, EOFError):
            out["after_idle"] = None
        return out
    except (OSError, EOFError, ValueError, IndexError):
        return out
    finally:
        sock.close()

"""Single raw HTTP fetches from a client container, and backend hit counters.

:func:`fetch` runs one ``curl`` in a client container and returns the status,
the response headers (lower-case names) and the body as raw bytes (curl
without ``--compressed``: a gzip body stays gzip). :func:`hits` reads a
backend's request counter straight from its ``/_ctl/hits`` (not through a
proxy, so it counts only what got past the proxy).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

_SCRIPT = (
    "import base64,subprocess,sys\n"
    "r=subprocess.run(sys.argv[1:],capture_output=True)\n"
    "sys.stdout.write(base64.b64encode(r.stdout).decode()+'\\n'+base64.b64encode(r.stderr).decode()+'\\n')\n"
    "sys.exit(r.returncode)\n"
)


@dataclass(frozen=True)
class Fetched:
    """One answer: status (-1 when curl failed), headers with lower-case names, raw body bytes."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    blocks = [b for b in head.decode("latin-1").split("\r\n\r\n") if b.strip()]
    if not blocks:
        return -1, {}
    lines = blocks[-1].splitlines()  # the final response (after any 1xx)
    parts = lines[0].split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:]) if v}
    return status, headers


def fetch(client: Any, target: str, path: str = "/", headers: dict[str, str] | None = None) -> Fetched:
    """One GET ``http://target/path`` with curl inside ``client``'s container; the body is not decoded."""
    argv = ["curl", "-s", "-m", "5", "-o", "/dev/stdout", "-D", "/dev/stderr"]
    for key, value in (headers or {}).items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(f"http://{target}{path}")
    result = client.container.exec_run(["python3", "-c", _SCRIPT, *argv])
    lines = (result.output or b"").decode("ascii", "replace").splitlines()
    if len(lines) < 2:
        return Fetched(-1)
    body, head = base64.b64decode(lines[0]), base64.b64decode(lines[1])
    status, found = _parse_head(head)
    return Fetched(status, found, body)


def hits(lab: Any, name: str) -> int:
    """How many non-control requests backend ``name`` has answered since its last counter reset."""
    answer = fetch(lab.client, lab.backends[name].http, "/_ctl/hits")
    assert answer.status == 200, answer
    return int(json.loads(answer.body)["hits"])

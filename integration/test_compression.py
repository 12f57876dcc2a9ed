"""gzip compression on both engines: only when the client asks for it, only for the listed types.

One proxy in front of backend ``a`` with ``compression: {types: [text/plain]}``.
``/big?bytes=20000`` is 20000 bytes of text/plain; the echo's own answer
(``/``) is application/json, which is not in the list. Bodies are read raw
(curl without ``--compressed``), so a gzip body is checked by decompressing it.
"""

from __future__ import annotations

import gzip

from integration.harness import Deployer, Lab
from integration.harness.probe import fetch

BIG = 20_000
SERVICE = {"name": "web", "mode": "http", "listen": {"port": 80}, "default_pool": "app",
           "compression": {"types": ["text/plain"]}}


def test_gzip_only_when_accepted_and_listed(engine: str, lab: Lab, deployer: Deployer) -> None:
    lb = deployer.deploy(engine, pools=[{"name": "app", "servers": lab.servers(["a"])}], services=[SERVICE])
    gz = {"Accept-Encoding": "gzip"}

    zipped = fetch(lab.client, lb.target(), f"/big?bytes={BIG}", gz)
    assert zipped.status == 200 and zipped.headers.get("content-encoding") == "gzip", (zipped.status, zipped.headers)
    assert "accept-encoding" in zipped.headers.get("vary", "").lower(), zipped.headers  # caches keep both forms
    assert len(zipped.body) < BIG // 10, len(zipped.body)  # 20000 x 'a' compresses to well under 1 kB
    assert gzip.decompress(zipped.body) == b"a" * BIG

    plain = fetch(lab.client, lb.target(), f"/big?bytes={BIG}")  # not asked for: identity
    assert plain.status == 200 and "content-encoding" not in plain.headers, plain.headers
    assert plain.body == b"a" * BIG

    other = fetch(lab.client, lb.target(), "/", gz)  # application/json is not in compression.types
    assert other.status == 200 and "content-encoding" not in other.headers, other.headers
    assert other.headers.get("content-type", "").startswith("application/json"), other.headers
    print(f"\n{engine}: {BIG} bytes text/plain -> {len(zipped.body)} bytes gzip")

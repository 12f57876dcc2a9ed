"""The release bundle: deterministic, content-addressed, split into Swarm-sized parts and joined back with every
part checked; private keys only ever in secrets; unpacked into a new directory with keys 0600."""

from __future__ import annotations

import io
import json
import shutil
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from ctlplane.fleet.bundle import (MANIFEST, PART_BYTES, BundleError, build_bundle, join_parts, read_manifest,
                                   secret_name, sha256, split, unpack)
from ctlplane.fleet.sources import release_sources
from ctlplane.model.assets import read_assets
from ctlplane.model.load import load_file
from tests.helpers import example_certs

PROXY = {"name": "edge", "engine": "haproxy", "services": ["web"],
         "runtime": {"kind": "docker", "container": "edge", "network": "host"}}
FLEET = {"name": "edge", "manager": {"url": "ssh://ops@manager1"}, "nodes": {"labels": {"ctlplane.fleet": "edge"}},
         "proxies": ["edge"]}


def model(servers: int = 1) -> dict[str, Any]:
    return {
        "pools": [{"name": "app", "servers": [{"name": f"s{i}", "address": f"10.{i // 65536}.{i // 256 % 256}."
                                                f"{i % 256}", "port": 8080} for i in range(servers)]}],
        "services": [{"name": "web", "mode": "http", "listen": {"address": "0.0.0.0", "port": 8443},
                      "default_pool": "app",
                      "tls": {"certificates": [{"cert": "certs/www.crt", "key": "certs/www.key"}]},
                      "error_pages": [{"status": [503], "file": "pages/503.html"}]}],
        "proxies": [PROXY], "fleet": FLEET,
    }


def make(directory: Path, servers: int = 1) -> Path:
    example_certs(directory / "certs")
    (directory / "pages").mkdir(parents=True, exist_ok=True)
    (directory / "pages" / "503.html").write_text("<h1>busy</h1>")
    path = directory / "model.yaml"
    path.write_text(json.dumps(model(servers)))
    return path


def bundle_of(path: Path) -> Any:
    loaded = load_file(path)
    sources = release_sources(loaded, read_assets(loaded))
    return build_bundle("edge", sources.model, sources.files, sources.keys)


def names(tar: bytes) -> list[tuple[str, int, int, int, str, float]]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return [(m.name, m.mode, m.uid, m.gid, m.uname + m.gname, m.mtime) for m in archive.getmembers()]


def test_round_trip_with_keys_as_secrets(tmp_path: Path) -> None:
    path = make(tmp_path / "src")
    bundle = bundle_of(path)
    key = (tmp_path / "src" / "certs" / "www.key").read_bytes()
    assert bundle.secrets == {secret_name("edge", key): key} and bundle.digest == sha256(bundle.tar)
    assert key not in bundle.tar
    assert [n[0] for n in names(bundle.tar)] == [MANIFEST, "certs", "certs/www.crt", "model.yaml", "pages",
                                                 "pages/503.html"]
    assert {n[1:] for n in names(bundle.tar)} <= {(0o644, 0, 0, "", 0), (0o755, 0, 0, "", 0)}
    manifest = read_manifest(bundle.tar)
    assert manifest["secrets"] == {"certs/www.key": {"secret": secret_name("edge", key), "sha256": sha256(key)}}
    assert manifest["files"]["model.yaml"] == sha256(path.read_bytes())
    out = tmp_path / "out"
    unpack(join_parts([(p.name, p.data, p.labels["ctlplane.sha256"]) for p in split("edge", bundle.tar)],
                      bundle.digest), bundle.secrets, out)
    assert (out / "model.yaml").read_bytes() == path.read_bytes()
    assert (out / "certs" / "www.key").read_bytes() == key
    assert stat.S_IMODE((out / "certs" / "www.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "pages" / "503.html").stat().st_mode) == 0o644
    again = bundle_of(out / "model.yaml")  # the unpacked release is a valid model with the same files
    assert again.digest == bundle.digest


def test_the_same_model_twice_gives_the_same_digest_and_a_changed_file_another(tmp_path: Path) -> None:
    first = bundle_of(make(tmp_path / "a"))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert bundle_of(tmp_path / "b" / "model.yaml").digest == first.digest
    (tmp_path / "b" / "pages" / "503.html").write_text("<h1>later</h1>")
    assert bundle_of(tmp_path / "b" / "model.yaml").digest != first.digest


def test_a_corrupted_part_is_refused_by_name(tmp_path: Path) -> None:
    bundle = bundle_of(make(tmp_path))
    parts = split("edge", bundle.tar, size=1000)
    assert len(parts) > 2
    entries = [(p.name, p.data, p.labels["ctlplane.sha256"]) for p in parts]
    bad = bytearray(entries[1][1])
    bad[10] ^= 1
    entries[1] = (entries[1][0], bytes(bad), entries[1][2])
    with pytest.raises(BundleError) as caught:
        join_parts(entries, bundle.digest)
    assert caught.value.findings[0].file == parts[1].name == f"ctl-edge-{bundle.digest[:16]}-2-of-{len(parts)}"
    assert "corrupted" in caught.value.findings[0].message
    with pytest.raises(BundleError, match="join to sha256"):  # no part shas (the agent's mount): the digest catches it
        join_parts([(n, d, None) for n, d, _ in entries], bundle.digest)
    with pytest.raises(BundleError, match="missing or corrupted"):
        join_parts([(p.name, p.data, p.labels["ctlplane.sha256"]) for p in parts[:-1]], bundle.digest)


def test_a_model_of_10000_servers_splits_and_joins_back(tmp_path: Path) -> None:
    bundle = bundle_of(make(tmp_path, servers=10_000))
    parts = split("edge", bundle.tar)
    assert len(parts) >= 2 and all(len(p.data) <= PART_BYTES for p in parts)
    assert [p.labels["ctlplane.part"] for p in parts] == [str(k) for k in range(1, len(parts) + 1)]
    assert {p.labels["ctlplane.release"] for p in parts} == {bundle.digest}
    assert all(len(p.name) <= 64 for p in parts)
    key = (tmp_path / "certs" / "www.key").read_bytes()
    assert not any(key in p.data or b"PRIVATE KEY" in p.data for p in parts)
    joined = join_parts([(p.name, p.data, p.labels["ctlplane.sha256"]) for p in parts], bundle.digest)
    assert joined == bundle.tar


def test_unpack_refuses_escapes_and_a_wrong_secret(tmp_path: Path) -> None:
    bundle = bundle_of(make(tmp_path / "src"))
    name = next(iter(bundle.secrets))
    with pytest.raises(BundleError, match="missing or different"):
        unpack(bundle.tar, {name: b"another key"}, tmp_path / "o1")
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as archive:
        data = json.dumps({"files": {"../x": sha256(b"x")}, "secrets": {}}).encode()
        for member, content in ((MANIFEST, data), ("../x", b"x")):
            info = tarfile.TarInfo(member)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    with pytest.raises(BundleError, match="not a plain relative path"):
        unpack(evil.getvalue(), {}, tmp_path / "o2")
    assert not (tmp_path / "x").exists()


def test_a_file_outside_the_model_directory_cannot_travel(tmp_path: Path) -> None:
    from ctlplane.errors import ModelError

    path = make(tmp_path / "m")
    data = model()
    data["services"][0]["error_pages"][0]["file"] = str(tmp_path / "elsewhere" / "503.html")
    data["files"] = {"allowed_bases": [str(tmp_path / "elsewhere")]}
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "503.html").write_text("x")
    path.write_text(json.dumps(data))
    loaded = load_file(path)
    with pytest.raises(ModelError, match="lies outside the model's directory"):
        release_sources(loaded, read_assets(loaded))

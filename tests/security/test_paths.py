"""File paths in a model are normalized and confined.

Certificates, keys, static roots and state directories must resolve (after
symlinks) inside the model file's directory or a directory listed in
``files.allowed_bases``; ``..`` and NUL never pass; a symlink leading out is
refused; a static root may not expose the model, a key or a state directory;
no two proxies share a state directory; a world-readable key is refused with
a clear message; every file ctlplane writes that holds a key is 0600; a
certificate file that also holds a key never lands in a world-readable copy.
"""

from __future__ import annotations

import datetime
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ctlplane.state.releases import ReleaseStore
from ctlplane.errors import Finding, ModelError
from ctlplane.model.assets import Assets, read_assets
from ctlplane.model.load import load_file
from ctlplane.render import render_all


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def write_pair(ca: trustme.CA, directory: Path, stem: str = "site", key_mode: int = 0o600) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert("www.example.com")
    cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert.write_bytes(leaf.cert_chain_pems[0].bytes())
    key.write_bytes(leaf.private_key_pem.bytes())
    os.chmod(key, key_mode)
    return cert, key


def model(tls: dict[str, Any] | None = None, static: list[dict[str, str]] | None = None,
          proxies: list[dict[str, Any]] | None = None, files: dict[str, Any] | None = None,
          engine: str = "nginx") -> dict[str, Any]:
    service: dict[str, Any] = {"name": "web", "mode": "http", "listen": {"port": 18080}, "default_pool": "p"}
    if tls:
        service["tls"] = tls
    if static:
        service["static"] = static
    data: dict[str, Any] = {
        "pools": [{"name": "p", "servers": [{"name": "s", "address": "127.0.0.1", "port": 8080}]}],
        "services": [service],
        "proxies": proxies or [{"name": "lb", "engine": engine, "services": ["web"]}],
    }
    if files:
        data["files"] = files
    return data


def stage1(directory: Path, data: dict[str, Any]) -> Assets:
    path = directory / "model.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return read_assets(load_file(path))


def refused(directory: Path, data: dict[str, Any]) -> Finding:
    with pytest.raises(ModelError) as caught:
        stage1(directory, data)
    first = caught.value.findings[0]
    assert first.line and first.path and "\n" not in first.one_line(), first.one_line()
    return first


def tls(cert: str, key: str) -> dict[str, Any]:
    return {"certificates": [{"cert": cert, "key": key}]}


# ---------------------------------------------------------------- confinement


@pytest.mark.parametrize("value, why", [
    ("../outside/site.crt", "'..'"), ("certs/../../outside/site.crt", "'..'"), ("certs/a\x00b.crt", "pattern"),
    ("certs/site.crt\n", "pattern"), ("certs/ site.crt", "pattern"),
])
def test_traversal_and_nul_never_pass_the_model(tmp_path: Path, ca: trustme.CA, value: str, why: str) -> None:
    write_pair(ca, tmp_path / "certs")
    finding = refused(tmp_path, model(tls=tls(value, "certs/site.key")))
    assert finding.path == "services[0].tls.certificates[0].cert"
    assert why in finding.message or "match" in finding.message


def test_an_absolute_path_outside_the_model_directory_is_refused(tmp_path: Path, ca: trustme.CA) -> None:
    outside, _ = write_pair(ca, tmp_path / "elsewhere")
    (tmp_path / "m").mkdir()
    write_pair(ca, tmp_path / "m" / "certs")
    finding = refused(tmp_path / "m", model(tls=tls(str(outside), "certs/site.key")))
    assert "outside the allowed directories" in finding.message and finding.path.endswith(".cert")
    finding = refused(tmp_path / "m", model(tls=tls("certs/site.crt", "/etc/ssl/private/x.key")))
    assert "outside the allowed directories" in finding.message


def test_a_symlink_leading_out_is_refused_unless_its_target_is_allowed(tmp_path: Path, ca: trustme.CA) -> None:
    cert, key = write_pair(ca, tmp_path / "vault")
    base = tmp_path / "m"
    (base / "certs").mkdir(parents=True)
    (base / "certs" / "site.crt").symlink_to(cert)
    (base / "certs" / "site.key").symlink_to(key)
    finding = refused(base, model(tls=tls("certs/site.crt", "certs/site.key")))
    assert str(key.resolve()) in finding.message or str(cert.resolve()) in finding.message
    assets = stage1(base, model(tls=tls("certs/site.crt", "certs/site.key"),
                                files={"allowed_bases": [str(tmp_path / "vault")]}))
    assert assets.certs[("web", 0)].key_pem == key.read_bytes()


def test_a_symlinked_directory_leading_out_is_refused(tmp_path: Path, ca: trustme.CA) -> None:
    write_pair(ca, tmp_path / "vault")
    base = tmp_path / "m"
    base.mkdir()
    (base / "certs").symlink_to(tmp_path / "vault")
    assert "outside" in refused(base, model(tls=tls("certs/site.crt", "certs/site.key"))).message
    (base / "www").symlink_to("/etc")
    finding = refused(base, model(static=[{"path_prefix": "/s/", "root": "www"}]))
    assert finding.path == "services[0].static[0].root" and "'/etc'" in finding.message


def test_paths_are_normalized(tmp_path: Path, ca: trustme.CA) -> None:
    _, key = write_pair(ca, tmp_path / "certs")
    assets = stage1(tmp_path, model(tls=tls("./certs//site.crt", str(tmp_path / "certs" / "." / "site.key"))))
    assert assets.certs[("web", 0)].key_pem == key.read_bytes()


@pytest.mark.parametrize("root", ["/", "/etc", "/proc/self", "."])
def test_a_static_root_cannot_expose_the_system_or_the_model(tmp_path: Path, root: str) -> None:
    finding = refused(tmp_path, model(static=[{"path_prefix": "/s/", "root": root}]))
    assert finding.path == "services[0].static[0].root"
    assert "outside the allowed" in finding.message or "contains the model file" in finding.message


def test_a_static_root_holding_a_key_or_a_state_directory_is_refused(tmp_path: Path, ca: trustme.CA) -> None:
    write_pair(ca, tmp_path / "pub" / "certs")
    (tmp_path / "m").mkdir()
    base = tmp_path / "m"
    write_pair(ca, base / "www" / "certs")
    finding = refused(base, model(tls=tls("www/certs/site.crt", "www/certs/site.key"),
                                  static=[{"path_prefix": "/s/", "root": "www"}]))
    assert "contains private key" in finding.message
    (base / "site").mkdir()
    proxies = [{"name": "lb", "engine": "nginx", "services": ["web"],
                "runtime": {"kind": "local", "state_dir": "site/state"}}]
    finding = refused(base, model(static=[{"path_prefix": "/s/", "root": "site"}], proxies=proxies))
    assert "contains state directory" in finding.message


def test_state_directories_are_confined_and_never_shared(tmp_path: Path) -> None:
    def proxies(*dirs: str | None) -> list[dict[str, Any]]:
        out = []
        for i, d in enumerate(dirs):
            runtime: dict[str, Any] = {"kind": "docker", "container": f"c{i}"}
            if d:
                runtime["config_dir"] = d
            out.append({"name": f"lb{i}", "engine": "nginx", "services": ["web"], "runtime": runtime})
        return out

    assert "outside the allowed" in refused(tmp_path, model(proxies=proxies("/etc/nginx"))).message
    finding = refused(tmp_path, model(proxies=proxies("state/x", "state/x")))
    assert "overlaps" in finding.message and finding.path == "proxies[1].runtime.config_dir"
    assert "overlaps" in refused(tmp_path, model(proxies=proxies("state", "state/inner"))).message
    assert "overlaps" in refused(tmp_path, model(proxies=proxies(None, ".ctlplane/lb0"))).message
    stage1(tmp_path, model(proxies=proxies("state/a", "state/b", None)))
    stage1(tmp_path, model(proxies=proxies(str(tmp_path.parent / "shared")),
                           files={"allowed_bases": [str(tmp_path.parent / "shared")]}))


@pytest.mark.parametrize("base", ["/", "relative/dir", "/a/../b", "/a//b", "/a/"])
def test_allowed_bases_must_be_absolute_normalized_and_not_the_root(tmp_path: Path, base: str) -> None:
    finding = refused(tmp_path, model(files={"allowed_bases": [base]}))
    assert finding.path == "files.allowed_bases[0]"


# ---------------------------------------------------------------- keys


def test_a_key_readable_by_everyone_is_refused_clearly(tmp_path: Path, ca: trustme.CA) -> None:
    write_pair(ca, tmp_path / "certs", key_mode=0o644)
    finding = refused(tmp_path, model(tls=tls("certs/site.crt", "certs/site.key")))
    assert finding.path == "services[0].tls.certificates[0].key"
    assert "readable by everyone: chmod 600" in finding.message
    os.chmod(tmp_path / "certs" / "site.key", 0o640)  # group-readable (e.g. ssl-cert) is accepted
    stage1(tmp_path, model(tls=tls("certs/site.crt", "certs/site.key")))


def test_a_key_that_is_a_fifo_is_refused_without_waiting(tmp_path: Path, ca: trustme.CA) -> None:
    write_pair(ca, tmp_path / "certs")
    os.unlink(tmp_path / "certs" / "site.key")
    os.mkfifo(tmp_path / "certs" / "site.key", 0o600)
    result: list[BaseException | None] = []

    def run() -> None:
        try:
            stage1(tmp_path, model(tls=tls("certs/site.crt", "certs/site.key")))
            result.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    assert result and isinstance(result[0], ModelError), "reading a FIFO blocked or was accepted"
    assert "not a regular file" in str(result[0])


def test_a_certificate_file_holding_a_key_never_reaches_a_world_readable_copy(tmp_path: Path,
                                                                              ca: trustme.CA) -> None:
    cert, key = write_pair(ca, tmp_path / "certs")
    cert.write_bytes(key.read_bytes() + cert.read_bytes())  # a combined PEM used as the certificate
    data = model(tls=tls("certs/site.crt", "certs/site.key"))
    for engine in ("nginx", "haproxy"):
        data["proxies"][0]["engine"] = engine
        (tmp_path / "model.yaml").write_text(yaml.safe_dump(data))
        loaded = load_file(tmp_path / "model.yaml")
        files = render_all(loaded.model, read_assets(loaded))["lb"]
        for rel, rendered in files.items():
            if b"PRIVATE KEY" in rendered.content:
                assert rendered.mode == 0o600, f"{engine}: {rel} holds a key and is {oct(rendered.mode)}"


def test_files_holding_keys_are_written_0600(tmp_path: Path, ca: trustme.CA) -> None:
    write_pair(ca, tmp_path / "certs")
    data = model(tls=tls("certs/site.crt", "certs/site.key"))
    for engine in ("nginx", "haproxy"):
        data["proxies"][0]["engine"] = engine
        (tmp_path / "model.yaml").write_text(yaml.safe_dump(data))
        loaded = load_file(tmp_path / "model.yaml")
        files = render_all(loaded.model, read_assets(loaded))["lb"]
        store = ReleaseStore(tmp_path / f"state-{engine}")
        release = store.releases / store.stage(files)
        with_keys = [rel for rel, f in files.items() if b"PRIVATE KEY" in f.content]
        assert with_keys
        for rel in with_keys:
            assert stat.S_IMODE(os.stat(release / rel).st_mode) == 0o600, rel
            assert files[rel].mode == 0o600


def test_certificate_names_must_be_host_names(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("evil;\nload_module x")]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(tmp_path / "c.key", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    os.close(fd)
    finding = refused(tmp_path, model(tls=tls("c.crt", "c.key")))
    assert "not a valid host name" in finding.message and "\n" not in finding.one_line()
    data = model(tls=tls("c.crt", "c.key"))
    data["services"][0]["tls"]["certificates"][0]["hosts"] = ["www.example.com"]  # explicit names win
    stage1(tmp_path, data)

"""Golden files: one folder per case under tests/golden/<case>/ holding model.yaml
and expected/<proxy>/<file>. A mismatch prints a unified diff; re-bless only with
`make golden` (CTLPLANE_BLESS=1). Every golden output also passes the real
`nginx -t` / `haproxy -c` / `keepalived` config test. Certificates and keys are
generated per run, so their bytes are not compared, only their presence; the
release id a config carries digests them too, so it is compared as its token.
Every proxy renders as started by root (docker, or ctlplane run by root),
whoever runs the tests, so the workers' user lines are part of the golden files."""

from __future__ import annotations

import difflib
import json
import os
import shutil
from pathlib import Path

import pytest

from ctlplane.discovery.containers import ContainerInfo
from ctlplane.discovery.fake import FakeDocker
from ctlplane.pipeline import Build, binary_check, build
from ctlplane.render.haproxy_view import reload_peers
from ctlplane.render.release import unseal
from tests.helpers import ROOT, example_certs, need_binary

CASES = Path(__file__).parent / "golden"
BLESS = os.environ.get("CTLPLANE_BLESS") == "1"


def built(folder: Path) -> Build:
    """The case rendered; with ``containers.json``, its discovered pools take their members from that snapshot;
    certificates to staple get their OCSP responses from a fake responder of the example CA."""
    snapshot = folder / "containers.json"
    docker = None
    if snapshot.exists():
        docker = FakeDocker([ContainerInfo(**c) for c in json.loads(snapshot.read_text())])
    ocsp = None
    if "ocsp_stapling: true" in (folder / "model.yaml").read_text():
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        from ctlplane.ocsp.fake import FakeResponder

        key = load_pem_private_key((folder / "certs" / "ca.key").read_bytes(), None)
        ocsp = FakeResponder.of_ca(x509.load_pem_x509_certificate((folder / "certs" / "ca.crt").read_bytes()),
                                   key)  # type: ignore[arg-type]
    return build(folder / "model.yaml", discovery=docker, ocsp=ocsp)


def _volatile(rel: str) -> bool:
    return rel.startswith("certs/")


def _portable(text: str, result: Build, proxy: str) -> str:
    """The rendered text with what depends on the checkout's path named instead: static roots are absolute
    paths, and HAProxy's local peer socket digests the state directory."""
    text = text.replace(str(ROOT), "<repo>")
    state_dir = result.assets.state_dirs.get(proxy)
    if state_dir is not None and result.engines[proxy] == "haproxy":
        text = text.replace(reload_peers(result.loaded.model.proxy(proxy), state_dir).address, "<local peer>")
    return text


@pytest.fixture(autouse=True)
def _root_master(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ctlplane.model.assets.effective_uid", lambda: 0)


@pytest.fixture(scope="module", autouse=True)
def _certs() -> None:
    for case in CASES.iterdir():
        if (case / "model.yaml").exists() and "certs/" in (case / "model.yaml").read_text():
            example_certs(case / "certs")


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if (p / "model.yaml").exists()))
def test_golden(case: str) -> None:
    folder = CASES / case
    result = built(folder)
    expected_root = folder / "expected"
    if BLESS:
        shutil.rmtree(expected_root, ignore_errors=True)
    problems: list[str] = []
    for proxy, sealed in result.outputs.items():
        files = unseal(sealed)  # the release id digests certificates and absolute paths, which vary per run
        for rel, rendered in files.items():
            if _volatile(rel):
                continue
            target = expected_root / proxy / rel
            got = _portable(rendered.content.decode(), result, proxy)
            if BLESS:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(got, newline="")  # byte for byte (HAProxy error pages use CRLF)
                continue
            want = target.read_bytes().decode() if target.exists() else ""
            if want != got:
                diff = difflib.unified_diff(want.splitlines(True), got.splitlines(True), f"expected/{proxy}/{rel}",
                                            f"rendered/{proxy}/{rel}")
                problems.append("".join(diff))
        if not BLESS and expected_root.exists():
            stale = {p.relative_to(expected_root / proxy).as_posix() for p in (expected_root / proxy).rglob("*")
                     if p.is_file()} - set(files)
            problems.extend(f"expected/{proxy}/{rel} is no longer rendered" for rel in sorted(stale))
    assert not problems, "golden mismatch (run `make golden` if intended):\n" + "\n".join(problems)


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if (p / "model.yaml").exists()))
def test_golden_passes_real_binaries(case: str) -> None:
    result = built(CASES / case)
    for engine in set(result.engines.values()):
        need_binary(engine)
    if any("keepalived.conf" in files for files in result.outputs.values()):
        need_binary("keepalived")
    findings = binary_check(result)
    errors = [f.one_line() for f in findings if f.severity != "warning"]
    assert not errors, "\n".join(errors)

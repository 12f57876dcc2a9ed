"""The Docker SDK client discovery builds: with TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) the engine's own CA
verifies it even when REQUESTS_CA_BUNDLE points elsewhere, as it does on many machines (this one included:
the TLS socket proxy test failed with "unable to get local issuer certificate" before)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from ctlplane.discovery.docker import client_class


def cert_path(directory: Path) -> Path:
    ca = trustme.CA()
    leaf = ca.issue_cert("ctlplane-discovery")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(directory / "key.pem"))
    return directory


def test_the_engines_ca_wins_over_requests_ca_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import docker

    certs = cert_path(tmp_path)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, "/etc/ssl/certs/ca-certificates.crt")
    env = {"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}
    client = client_class().from_env(environment=env, version="1.41", use_context=False)  # no version request
    try:
        settings = client.api.merge_environment_settings("https://127.0.0.1:2376/v1.41/_ping", {}, False, None, None)
        assert settings["verify"] == str(certs / "ca.pem")
        assert client.api.cert == (str(certs / "cert.pem"), str(certs / "key.pem"))
        plain = docker.from_env(environment=env, version="1.41", use_context=False)  # the SDK alone
        try:
            assert plain.api.merge_environment_settings("https://127.0.0.1:2376/", {}, False, None,
                                                        None)["verify"] == "/etc/ssl/certs/ca-certificates.crt"
        finally:
            plain.close()
    finally:
        client.close()


def test_without_tls_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    client = client_class().from_env(environment={"DOCKER_HOST": "tcp://127.0.0.1:2375"}, version="1.41",
                                     use_context=False)
    try:
        assert client.api.merge_environment_settings("http://127.0.0.1:2375/", {}, False, None, None)["verify"] \
            == "/etc/ssl/certs/ca-certificates.crt"
    finally:
        client.close()

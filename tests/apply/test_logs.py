"""Defect 7: proxy logs are rotatable and read from the end. NGINX logs are renamed and reopened (SIGUSR1),
HAProxy's stderr log (which it never reopens) is copied and truncated; a tail never reads a whole file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctlplane.apply import apply_model, down_model
from ctlplane.drivers import driver_for
from ctlplane.drivers.host import TAIL_BYTES, LocalFiles
from ctlplane.model.load import load_file
from ctlplane.transaction import apply_proxy
from tests.apply.fakes import fake_driver, files
from tests.apply.local import Echo, free_port, who
from tests.apply.test_local import model_text
from tests.helpers import need_binary


def test_nginx_logs_are_renamed_and_reopened(tmp_path: Path) -> None:
    driver, host = fake_driver(tmp_path, "nginx")
    apply_proxy(driver, files("nginx"))
    logs = driver.store.state_dir / "logs"
    (logs / "access.log").write_bytes(b"x" * 2048)
    (logs / "access.log.1").write_bytes(b"older")
    assert driver.control.rotate_logs(1024, keep=3) == ["logs/access.log"]
    assert (logs / "access.log.1").read_bytes() == b"x" * 2048 and (logs / "access.log.2").read_bytes() == b"older"
    assert not (logs / "access.log").exists()
    assert f"signal SIGUSR1 {driver.control.observe().master}" in host.events  # the master reopens its logs


def test_haproxy_log_is_copied_and_truncated(tmp_path: Path) -> None:
    driver, host = fake_driver(tmp_path, "haproxy")
    apply_proxy(driver, files("haproxy"))
    log = driver.store.state_dir / "logs" / "haproxy.log"
    log.write_bytes(b"y" * 2048)
    assert driver.control.rotate_logs(1024, keep=3) == ["logs/haproxy.log"]
    assert log.read_bytes() == b"" and log.with_name("haproxy.log.1").read_bytes() == b"y" * 2048
    assert driver.control.rotate_logs(1024, keep=3) == []  # small again: nothing to do


def test_tails_are_read_from_the_end(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(2_000_000)))  # about 23 MB
    files_ = LocalFiles()
    assert files_.tail(log, 2) == "line 1999998\nline 1999999"
    assert len(files_.read_since(log, 0, TAIL_BYTES)) <= TAIL_BYTES
    assert files_.read_since(log, files_.size(log) + 10) != ""  # an offset past a truncation reads from 0


@pytest.mark.parametrize("engine", ["nginx", "haproxy"])
def test_a_real_proxy_keeps_logging_after_rotation(engine: str, tmp_path: Path, echo: Echo) -> None:
    need_binary(engine)
    port = free_port()
    model = tmp_path / "model.yaml"
    model.write_text(model_text(engine, port, {"a": [echo]}, "a"))
    try:
        apply_model(model)
        driver = driver_for(load_file(model), "lb")
        logs = driver.store.state_dir / "logs"
        name = "error.log" if engine == "nginx" else "haproxy.log"
        assert driver.control.rotate_logs(0, keep=2)  # everything non-empty counts as too large
        assert (logs / f"{name}.1").stat().st_size > 0
        model.write_text(model.read_text().replace("workers: 1", "workers: 2"))
        assert [r.outcome for r in apply_model(model)] == ["reloaded"]  # the reload logs into the fresh file
        assert who(f"http://127.0.0.1:{port}/") == "a1"
        assert (logs / name).stat().st_size > 0
    finally:
        down_model(load_file(model))

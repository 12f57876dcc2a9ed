"""The parity suite: every scenario of ``integration/parity/table.py`` on NGINX and HAProxy.

One parameterized test. For each scenario and each engine: where the table says
the engine refuses the scenario's model, the model must fail to load with a
located error (file:line, field path) naming the engine and what to use
instead; otherwise the scenario's group model is deployed on that engine (once
per group and engine for the whole module, in its own container), the lab's
backends are reset, and the probe sends the request sequence from the lab's
clients. The outcomes of both engines must equal the table's expectation —
the same one for both, unless the table documents a difference (then each
engine must show exactly the documented outcome, so the documentation cannot
go stale). With ``pytest -n 2`` the scenarios of one group run on one worker
(``xdist_group``), so each group is deployed once per engine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ctlplane.errors import ModelError
from ctlplane.model.load import load_file
from integration.harness import Deployer, Deployment, DockerSession, Lab, start_lab
from integration.harness.grpc_lab import grpc_address
from integration.harness.proxy_lab import ensure_proxy_backend, proxy_backend_address
from integration.harness.tls_lab import ensure_tls_backend, tls_backend_address
from integration.parity import groups
from integration.parity.probes import PROBES, Ctx, resolve
from integration.parity.table import SCENARIOS, Scenario

ENGINES = ("nginx", "haproxy")


class Deployed:
    """Each group's deployment per engine, made on first use and kept for the module."""

    def __init__(self, deployer: Deployer, lab: Lab) -> None:
        self.deployer = deployer
        self.lab = lab
        self.found: dict[tuple[str, str], Deployment] = {}

    @property
    def book(self) -> dict[str, str]:
        return {**{n: e.ip for n, e in self.lab.backends.items()}, "c1": self.lab.clients[0].ip,
                "c2": self.lab.clients[1].ip, "void": self.lab.net.ip(98), "g": grpc_address(self.lab),
                "t": tls_backend_address(self.lab), "q": proxy_backend_address(self.lab)}

    def get(self, group: str, engine: str) -> Deployment:
        key = (group, engine)
        if key not in self.found:
            directory = f"{group}-{engine}"
            groups.prepare(group, self.deployer.tmp_path / directory)
            if group == "upstream_tls":  # its backend answers before the proxies start checking it
                ensure_tls_backend(self.lab)
            if group.startswith("proxy_"):
                ensure_proxy_backend(self.lab)
            model = groups.model(group, engine, self.book, runtime=self.deployer.runtime(f"{group}-{engine}"))
            self.found[key] = self.deployer.apply_model(model, directory)[0]
        return self.found[key]


@pytest.fixture(scope="session")
def parity_lab(docker_session: DockerSession) -> Iterator[Lab]:
    """The suite's own lab for the whole run of a worker (session scope: a worker that runs other modules'
    tests between two groups keeps the lab and the groups' deployments instead of making them again)."""
    lab = start_lab(docker_session, "parity")
    try:
        yield lab
    finally:
        lab.remove()


@pytest.fixture(scope="session")
def deployer(parity_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployer]:
    """One deployer for the run (the conftest's is per test): groups stay deployed across scenarios."""
    found = Deployer(parity_lab, tmp_path_factory.mktemp("parity"))
    try:
        yield found
    finally:
        found.teardown()


@pytest.fixture(scope="session")
def deployed(deployer: Deployer, parity_lab: Lab) -> Deployed:
    return Deployed(deployer, parity_lab)


def assert_refused(scenario: Scenario, engine: str, deployed: Deployed, tmp_path: Path) -> None:
    """The group's model, written as YAML, fails to load with a located refusal naming the engine."""
    directory = tmp_path / f"{scenario.group}-{engine}"
    groups.prepare(scenario.group, directory)
    path = directory / "model.yaml"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(groups.model(scenario.group, engine, deployed.book), indent=2))  # JSON is YAML
    with pytest.raises(ModelError) as caught:
        load_file(path)
    wanted = scenario.refused[engine]
    hits = [f for f in caught.value.findings if wanted in f.message]
    assert hits, f"{engine}: no refusal containing {wanted!r} in {caught.value}"
    for finding in hits:
        assert finding.file == str(path) and finding.line and finding.path, finding.one_line()
        assert engine in finding.message.lower() and ("use " in finding.message or "remove" in finding.message)


def run_probe(scenario: Scenario, engine: str, deployed: Deployed, lab: Lab) -> Any:
    deployment = deployed.get(scenario.group, engine)
    lab.reset()
    args = dict(scenario.args)
    for action in args.pop("_control", []):
        name, _, what = action.partition(":")
        lab.control(name, what)
    time.sleep(args.pop("_sleep", 0))
    ctx = Ctx(lab, deployment, engine, deployed.book)
    return PROBES[scenario.probe](ctx, **resolve(args, deployed.book))


@pytest.mark.parametrize("scenario", [pytest.param(s, id=s.id, marks=pytest.mark.xdist_group(s.group))
                                      for s in SCENARIOS])
def test_parity(scenario: Scenario, deployed: Deployed, parity_lab: Lab, tmp_path: Path) -> None:
    outcomes: dict[str, Any] = {}
    for engine in ENGINES:
        if engine in scenario.refused:
            assert_refused(scenario, engine, deployed, tmp_path)
            continue
        outcomes[engine] = run_probe(scenario, engine, deployed, parity_lab)
    expected = {engine: resolve((scenario.differs or {}).get(engine, scenario.expect), deployed.book)
                for engine in outcomes}
    print(f"\n{scenario.id}: " + json.dumps(outcomes))
    assert outcomes == expected, f"{scenario.says}\n  got      {outcomes}\n  expected {expected}"

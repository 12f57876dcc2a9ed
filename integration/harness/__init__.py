"""Integration-test harness: Docker networks, echo backends, clients, deploys and traffic.

Everything runs through the Docker SDK (never the docker CLI). A run's
containers and networks are labelled and removed at the end, also after a
failure or Ctrl-C (see ``session``). Traffic is sent from client containers
inside the test network (``load.py`` via ``exec_run``; the parity suite's
request sequences through ``parity_client.py`` and ``parity_http.py``),
bounded in request count and time. The fixtures in ``integration/conftest.py`` wire it up:
``docker_session`` (session), ``lab`` (module network + backends a/b/c +
clients c1/c2, reset before each test), ``deployer`` (per test) and
``engine`` (parametrizes a test over nginx and haproxy).
"""

from integration.harness.containers import Client, Echo
from integration.harness.deploy import Deployer, Deployment
from integration.harness.lab import Lab, start_lab
from integration.harness.session import DockerSession, EngineUnavailable, start_session
from integration.harness.stats import CHI2_CRITICAL_P001, chi_square, fits_weights
from integration.harness.traffic import Request, Result, Traffic
from integration.harness.wait import WaitTimeout, wait_until

__all__ = [
    "CHI2_CRITICAL_P001", "Client", "Deployer", "Deployment", "DockerSession", "Echo", "EngineUnavailable",
    "Lab", "Request", "Result", "Traffic", "WaitTimeout", "chi_square", "fits_weights", "start_lab",
    "start_session", "wait_until",
]

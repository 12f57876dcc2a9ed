"""What runs inside a deployed proxy right now, asked through ctlplane's own driver.

:func:`generation` loads the deployment's model file and asks its driver for
the serving generation (master PID and current worker PIDs), the same view
``ctlplane apply`` uses to decide and verify reloads; tests compare two
generations to tell a reload (new workers) from a runtime-API change (same
workers).
"""

from __future__ import annotations

from ctlplane.drivers import driver_for
from ctlplane.drivers.control import Observation as Generation
from ctlplane.model.load import load_file
from integration.harness.deploy import Deployment


def generation(deployment: Deployment) -> Generation:
    return driver_for(load_file(deployment.model_path), deployment.proxy).control.observe()

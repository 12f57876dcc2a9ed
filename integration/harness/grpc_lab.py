"""The gRPC and h2c backend of a lab (container ``g`` at host .20), and a gRPC client for probes.

``ensure_grpc(lab)`` starts it once per lab network: ``grpc_backend.py`` (the standard health service on
50051, h2c) and an NGINX that answers plain HTTP/2 on 8082 with the protocol it was spoken to
(``h2c_backend.conf``). grpcio is not in the offline image: the test environment's site-packages is
mounted read-only beside the harness (the image's Python is the same 3.11). ``health_check`` calls the
health service from the test process itself (grpcio is a test dependency), through a proxy's address on the
lab network, over h2c or TLS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integration.harness.containers import HARNESS_DIR, HARNESS_MOUNT, _run
from integration.harness.lab import Lab
from integration.harness.wait import wait_until

GRPC_HOST, GRPC_PORT, H2C_PORT = 20, 50051, 8082
PYLIB = "/opt/ctlplane-pylib"
_started: dict[str, str] = {}


def grpc_address(lab: Lab) -> str:
    return lab.net.ip(GRPC_HOST)


def ensure_grpc(lab: Lab) -> str:
    """The backend's address, starting its container on first use."""
    import grpc

    key = lab.net.name
    if key in _started:
        return _started[key]
    ip = grpc_address(lab)
    command = ["sh", "-c", f"nginx -c {HARNESS_MOUNT}/h2c_backend.conf && "
               f"exec python3 {HARNESS_MOUNT}/grpc_backend.py --name g --port {GRPC_PORT}"]
    site = Path(grpc.__file__).resolve().parent.parent
    container = _run(lab.net, "g", ip, command, environment={"PYTHONPATH": PYLIB},
                     volumes={str(HARNESS_DIR): {"bind": HARNESS_MOUNT, "mode": "ro"},
                              str(site): {"bind": PYLIB, "mode": "ro"}})
    wait_until(lambda: b"READY" in container.logs(), timeout=30, what="gRPC backend g READY")
    _started[key] = ip
    return ip


def health_check(target: str, service: str = "", ca_pem: bytes | None = None, authority: str | None = None,
                 timeout: float = 5.0) -> dict[str, Any]:
    """One ``grpc.health.v1.Health/Check``: the status name, the answering backend (``x-server``) and the call's
    code (``OK``, or the error's, e.g. ``NOT_FOUND`` from the backend or ``UNAVAILABLE`` from the proxy)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    options: list[tuple[str, Any]] = [("grpc.enable_http_proxy", 0)]
    if authority:
        options += [("grpc.ssl_target_name_override", authority), ("grpc.default_authority", authority)]
    if ca_pem is not None:
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca_pem), options)
    else:
        channel = grpc.insecure_channel(target, options)
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer, call = stub.Check.with_call(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            return {"code": exc.code().name, "status": None}
        server = dict(call.initial_metadata()).get("x-server")
        return {"code": "OK", "status": health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status),
                "server": server}

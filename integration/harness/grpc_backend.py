#!/usr/bin/env python3
"""A gRPC backend for the parity suite, run INSIDE a lab container (``grpc_lab.start_grpc_backend``).

Serves the standard health service (``grpc.health.v1.Health``) on ``--port`` in plain HTTP/2 (h2c): the
overall status ("") and ``--name`` are SERVING, any other service name answers NOT_FOUND (a status that
travels in the trailers); every answer carries the initial metadata ``x-server: NAME``. grpcio comes from
the test environment's site-packages, mounted read-only and put on PYTHONPATH (the image has no pip).
Prints ``READY`` once listening; stops on SIGTERM.
"""

import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


class NamedHealth(health.HealthServicer):
    def __init__(self, name):
        super().__init__()
        self.name = name

    def Check(self, request, context):
        context.send_initial_metadata((("x-server", self.name),))
        return super().Check(request, context)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=50051)
    args = ap.parse_args(argv)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    servicer = NamedHealth(args.name)
    for service in ("", args.name):
        servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port("0.0.0.0:%d" % args.port)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("READY name=%s grpc=%d" % (args.name, args.port), flush=True)
    stop.wait()
    server.stop(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

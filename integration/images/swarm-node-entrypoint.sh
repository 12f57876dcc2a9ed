#!/bin/sh
# ctlplane-swarm-node entrypoint: one dockerd in the foreground (its output is the container's log).
# It listens on the unix socket and, without TLS, on tcp port 2375 of CTLPLANE_NODE_ADDR only: the lab gives
# every node a fixed address on its own test network, so the plain API is reachable from that network alone.
set -eu
addr="${CTLPLANE_NODE_ADDR:?set CTLPLANE_NODE_ADDR to the node address on the lab network}"
rm -f /var/run/docker.pid /var/run/docker.sock
exec dockerd --host unix:///var/run/docker.sock --host "tcp://${addr}:2375" --tls=false \
    --storage-driver overlay2 ${CTLPLANE_DOCKERD_ARGS:-}

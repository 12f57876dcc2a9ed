#!/usr/bin/env bash
# Idempotently make sure a Docker engine answers on /var/run/docker.sock.
# - If the socket already answers /_ping: do nothing, exit 0.
# - Otherwise start dockerd in the background (log: /var/log/dockerd.log)
#   and wait up to ${DOCKER_START_TIMEOUT:-60}s for it to answer.
# - Exit non-zero with the log tail if it does not come up.
set -u

SOCK="${DOCKER_SOCK:-/var/run/docker.sock}"
LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
TIMEOUT="${DOCKER_START_TIMEOUT:-60}"

ping_docker() {
    [ -S "$SOCK" ] || return 1
    if command -v curl >/dev/null 2>&1; then
        [ "$(curl -s --max-time 3 --unix-socket "$SOCK" http://localhost/_ping 2>/dev/null)" = "OK" ]
    else
        python3 - "$SOCK" <<'PY' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk: break
    data += chunk
sys.exit(0 if data.endswith(b"OK") else 1)
PY
    fi
}

if ping_docker; then
    echo "start-docker: engine already answering on $SOCK"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "start-docker: dockerd not installed (apt-get install -y docker.io)" >&2
    exit 2
fi

# A dockerd may already be starting (e.g. a concurrent call): only launch one
# if none is running.
if pgrep -x dockerd >/dev/null 2>&1; then
    echo "start-docker: dockerd process present but not answering yet; waiting"
else
    # Stale pid file / socket from a previous, dead dockerd would block startup.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid 2>/dev/null)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    [ -S "$SOCK" ] && rm -f "$SOCK"
    echo "start-docker: starting dockerd (log: $LOG)"
    mkdir -p "$(dirname "$LOG")"
    # setsid: detach from this script's process group so it survives us.
    setsid dockerd >>"$LOG" 2>&1 </dev/null &
fi

deadline=$(( $(date +%s) + TIMEOUT ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    if ping_docker; then
        echo "start-docker: engine up after $(( TIMEOUT - (deadline - $(date +%s)) ))s"
        exit 0
    fi
    sleep 0.5
done

echo "start-docker: dockerd did not answer within ${TIMEOUT}s; last log lines:" >&2
tail -n 40 "$LOG" >&2 2>/dev/null || true
exit 1

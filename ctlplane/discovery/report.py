"""How discovered members are reported: located findings for the containers left
out, and the per-pool listing that ``plan`` (text and JSON) shows.

Pure: a :class:`~ctlplane.discovery.members.Snapshot` and the loaded model in,
plain lines and dictionaries out. A container left out is a warning located at
its pool's ``discover`` field in the model file, with the container's name and
id and the reason (untrusted values quoted with ``repr``, cut short).
"""

from __future__ import annotations

from dataclasses import replace

from ctlplane.discovery.members import Excluded, Snapshot
from ctlplane.errors import Finding
from ctlplane.model.load import Loaded, locate


def excluded_findings(loaded: Loaded, snapshot: Snapshot) -> list[Finding]:
    """One located warning per selected container that does not join its pool."""
    index = {p.name: i for i, p in enumerate(loaded.model.pools)}
    found = []
    for out in snapshot.excluded:
        loc = ("pools", index[out.pool], "discover", "docker", "labels")
        finding = locate(loc, out.message(), loaded.positions, loaded.file)
        found.append(replace(finding, source="docker", severity="warning"))
    return found


def pool_lines(loaded: Loaded, snapshot: Snapshot) -> list[str]:
    """Per discovered pool: its selector, then one line per member (container, address, settings) and per
    container left out."""
    lines = []
    for pool in loaded.model.pools:
        if pool.discover is None or pool.name not in snapshot.pools:
            continue
        docker = pool.discover.docker
        selector = ",".join(f"{k}={v}" for k, v in sorted(docker.labels.items()))
        where = f", network {docker.network}" if docker.network else ""
        members = snapshot.of(pool.name)
        lines.append(f"pool {pool.name}: {len(members)} discovered member(s) (docker {selector}{where})")
        for m in members:
            extra = [m.health] + ["backup"] * m.backup + ["drain"] * m.drain + ([f"weight {m.weight}"]
                                                                                  if m.weight != 1 else [])
            lines.append(f"  {m.name}  {m.address}:{m.port}  container {m.container_id}  {', '.join(extra)}")
        lines.extend(f"  left out: {_left_out(out)}" for out in snapshot.excluded_from(pool.name))
    return lines


def _left_out(out: Excluded) -> str:
    return f"container {out.container} ({out.container_id}): {out.reason}"


def as_dict(snapshot: Snapshot) -> list[dict[str, object]]:
    return [{"pool": pool,
             "members": [{"name": m.name, "container": m.container_id, "address": m.address, "port": m.port,
                          "weight": m.weight, "backup": m.backup, "drain": m.drain, "health": m.health}
                         for m in snapshot.of(pool)],
             "left_out": [{"container": e.container, "id": e.container_id, "reason": e.reason, "refused": e.refused}
                          for e in snapshot.excluded_from(pool)]}
            for pool in snapshot.pools]

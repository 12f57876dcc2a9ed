"""The fleet agent's settings and its node-local files: what one agent run is about and where it keeps things.

:class:`Settings` come from the agent service's environment (:func:`settings_from_env`: the fleet, the node,
the release digest, the soak, the gate, the parts' sha256) and name the directories the service mounts.
:func:`fetch` joins the release's parts (each checked against the sha the controller computed, the whole
against the digest), unpacks the bundle once into ``<root>/fleet/<fleet>/bundles/<digest>/`` (keys from the
secrets, 0600; its ``.ctlplane`` links to the node's one ``state/`` directory) and returns it;
``agent.json`` (:func:`read_status`, ``_write_status``) is the agent's record of what it last did, and
``_prune`` removes the bundles no longer needed. :class:`AgentError` is every failure of the agent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ctlplane.errors import CtlplaneError, Finding
from ctlplane.fleet.bundle import join_parts, part_name, read_manifest, unpack
from ctlplane.model.fleet import Gate

RELEASE_DIR = Path("/run/ctlplane/release")
SECRETS_DIR = Path("/run/secrets")
ROOT = Path("/var/lib/ctlplane")
STATUS_FILE = "agent.json"
_PART = re.compile(r"part-([1-9][0-9]{0,3})")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class AgentError(CtlplaneError):
    """The agent could not make its node serve the release (the node serves last-known-good, if it has one)."""


@dataclass(frozen=True)
class Settings:
    """What one agent run is about, from its environment (``from_env``) and options."""

    fleet: str
    node: str
    release: str
    soak_ms: int = 0
    gate: Gate = field(default_factory=Gate)
    parts_dir: Path = RELEASE_DIR
    secrets_dir: Path = SECRETS_DIR
    root: Path = ROOT
    part_shas: tuple[str, ...] | None = None
    health_file: Path | None = None  # holds the release while the proxies serve it (None: not kept)

    @property
    def home(self) -> Path:
        return self.root / "fleet" / self.fleet

    def bundle_dir(self, digest: str) -> Path:
        return self.home / "bundles" / digest


def settings_from_env(env: Mapping[str, str], **paths: Path) -> Settings:
    """The settings the controller gives an agent service: CTLPLANE_FLEET, CTLPLANE_NODE, CTLPLANE_RELEASE,
    CTLPLANE_SOAK_MS, CTLPLANE_GATE (JSON) and, optionally, CTLPLANE_PARTS (JSON list of the parts' sha256)."""
    missing = [k for k in ("CTLPLANE_FLEET", "CTLPLANE_NODE", "CTLPLANE_RELEASE") if not env.get(k)]
    if missing:
        raise AgentError("the agent's environment is incomplete", [Finding(f"{k} is not set", source="fleet")
                                                                   for k in missing])
    release = env["CTLPLANE_RELEASE"]
    try:
        if not _DIGEST.fullmatch(release):
            raise ValueError(f"CTLPLANE_RELEASE {release[:80]!r} is not a sha256 digest")
        gate = Gate.model_validate_json(env.get("CTLPLANE_GATE") or "{}")
        soak = int(env.get("CTLPLANE_SOAK_MS") or 0)
        shas = tuple(json.loads(env["CTLPLANE_PARTS"])) if env.get("CTLPLANE_PARTS") else None
    except ValidationError as exc:
        problems = [f"CTLPLANE_GATE: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise AgentError("the agent's environment is invalid", [Finding(p, source="fleet") for p in problems]) from exc
    except ValueError as exc:
        raise AgentError("the agent's environment is invalid", [Finding(str(exc).splitlines()[0][:300],
                                                                        source="fleet")]) from exc
    return Settings(env["CTLPLANE_FLEET"], env["CTLPLANE_NODE"], release, soak, gate, part_shas=shas, **paths)


def read_status(settings: Settings) -> dict[str, Any]:
    """What the agent last recorded on this node ({} before its first run)."""
    try:
        data = json.loads((settings.home / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_status(settings: Settings, **record: Any) -> None:
    from ctlplane.state.fsio import write_atomic

    write_atomic(settings.home / STATUS_FILE, json.dumps(record, sort_keys=True).encode() + b"\n", dir_mode=0o755)


def fetch(settings: Settings) -> Path:
    """The release's model directory on this node: the parts joined and checked, unpacked once."""
    final = settings.bundle_dir(settings.release)
    if (final / "model.yaml").is_file():
        return final
    found = sorted((int(m.group(1)), p) for p in _listing(settings.parts_dir) if (m := _PART.fullmatch(p.name)))
    if [k for k, _ in found] != list(range(1, len(found) + 1)) or not found:
        raise AgentError("the release's parts are incomplete", [Finding(
            f"{settings.parts_dir} holds parts {[k for k, _ in found]}, not part-1 ... part-n", source="fleet")])
    shas = settings.part_shas if settings.part_shas and len(settings.part_shas) == len(found) else None
    n = len(found)
    tar = join_parts([(part_name(settings.fleet, settings.release, k, n), p.read_bytes(), shas[k - 1] if shas else None)
                      for k, p in found], settings.release)
    secrets = {}
    for entry in read_manifest(tar).get("secrets", {}).values():
        path = settings.secrets_dir / str(entry["secret"])
        if path.is_file():
            secrets[str(entry["secret"])] = path.read_bytes()
    (settings.home / "state").mkdir(mode=0o755, parents=True, exist_ok=True)
    final.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    staging = final.with_name(f".unpack-{settings.release[:16]}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    unpack(tar, secrets, staging)
    (staging / ".ctlplane").symlink_to(settings.home / "state")
    os.rename(staging, final)
    return final


def _listing(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except OSError as exc:
        raise AgentError("the release's parts cannot be read", [Finding(f"{directory}: {exc.strerror}",
                                                                        source="fleet")]) from exc


def _prune(settings: Settings, keep: set[str | None]) -> None:
    """Remove the bundles other than the serving and last-known-good ones."""
    bundles = settings.home / "bundles"
    for path in bundles.iterdir() if bundles.is_dir() else []:
        if _DIGEST.fullmatch(path.name) and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)

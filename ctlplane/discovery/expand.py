"""A model with its discovered members written in: the input rendering takes.

:func:`expand` adds each member of a :class:`~ctlplane.discovery.members.Snapshot`
to its pool as an ordinary server (named after its container, after the
pool's static servers, in name order), so that everything downstream (engine
views, templates, golden files, ``decide``) sees one plain model and the same
snapshot always renders the same bytes. Each server is built through the
model's own types, and the root's cross-checks run again on the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from ctlplane.discovery.members import EMPTY, Member, Snapshot, resolve
from ctlplane.errors import Finding, ModelError
from ctlplane.model.pool import Pool, Server
from ctlplane.model.root import Model

if TYPE_CHECKING:
    from ctlplane.discovery import Source
    from ctlplane.model.load import Loaded


def server_of(member: Member) -> Server:
    return Server(name=member.name, address=member.address, port=member.port, weight=member.weight,
                  backup=member.backup, state="drain" if member.drain else "active")


def expand(model: Model, snapshot: Snapshot) -> Model:
    """``model`` with every discovered pool's members added to its servers."""
    if not any(p.discover is not None for p in model.pools):
        return model
    pools: list[Pool] = []
    for pool in model.pools:
        members = sorted(snapshot.of(pool.name), key=lambda m: m.name) if pool.discover is not None else []
        if members:
            pool = pool.model_copy(update={"servers": [*pool.servers, *(server_of(m) for m in members)]})
        pools.append(pool)
    try:
        return Model.model_validate({"version": model.version, "pools": pools, "services": list(model.services),
                                     "proxies": list(model.proxies), "pairs": list(model.pairs),
                                     "files": model.files})
    except ValidationError as exc:  # resolve() keeps names unique: this is a bug, reported as such
        raise ModelError("discovered members do not fit the model", [Finding(
            f"discovered members do not fit the model: {exc.errors()[0]['msg']}", source="docker")]) from None


def discovered(loaded: Loaded, source: Source | None) -> tuple[Snapshot, Model]:
    """The members ``source`` lists for the model's discovered pools, and the model with them written in."""
    from ctlplane.discovery import discovers, selectors

    model = loaded.model
    if source is None or not discovers(model):
        return EMPTY, model
    snapshot = resolve(model, source.containers(selectors(model)), source.stopping())
    return snapshot, expand(model, snapshot)

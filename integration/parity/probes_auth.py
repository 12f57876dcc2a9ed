"""Probes of authentication (see ``probes``): the authorization service is backend c, denying in fail mode."""

from __future__ import annotations

from integration.parity.probes import Ctx, Obs, _many


def p_auth_request(ctx: Ctx, port: int, path: str) -> Obs:
    """``path`` while the authorization service answers 401 (with the credentials a client would send), then
    while it answers 200: the statuses, and whether the backend saw the client's Authorization header."""
    from integration.parity.auth_users import basic

    request = {"path": path, "headers": {"Authorization": basic("sha512")}}
    ctx.lab.control("c", "fail?status=401")
    try:
        [denied] = _many(ctx, port, [request])
    finally:
        ctx.lab.control("c", "reset")
    [allowed] = _many(ctx, port, [request])
    body = allowed.get("body")
    seen = body.get("headers", {}) if isinstance(body, dict) else {}
    return {"denied": denied["status"], "allowed": allowed["status"],
            "backend_saw_authorization": any(k.lower() == "authorization" for k in seen)}

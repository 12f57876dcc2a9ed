"""The users of the authentication groups' htpasswd file: one per accepted hash type, all with ``PASSWORD``
(kept apart from ``groups_auth`` so that the table, the probes and the harness import it without the groups)."""

from __future__ import annotations

import base64

PASSWORD = "s3cret-pass"
USERS = {"sha512": "$6$", "sha256": "$5$", "bcrypt2b": "$2b$", "bcrypt2y": "$2y$", "yescrypt": "$y$"}  # -> hash


def basic(user: str, password: str = PASSWORD) -> str:
    """The Authorization header value of ``user``."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

"""The group models of issue 13's capabilities (WebSocket, HTTP/2, gRPC), merged into ``groups.GROUPS``.

Same shape as the groups in ``groups``: a function of the lab's address book returning pools, services and
proxy fields.
"""

from __future__ import annotations

from collections.abc import Callable

from integration.parity.groups import Book, Group, http, pool

SHORT = {"client": "1s", "server": "1s", "keep_alive": "1s"}  # every HTTP timeout far below the idle period


def websocket(b: Book) -> Group:
    """Upgrades: one service whose HTTP timeouts are all 1s but whose tunnel timeout is 30s, one whose tunnel
    timeout (2s) is shorter than its HTTP ones (the defaults)."""
    return {
        "pools": [pool(b, "app", ["a"]), pool(b, "chat", ["b"]), pool(b, "app2", ["a"])],
        "services": [
            http("ws", 170, default_pool="app", routes=[{"path_prefix": "/ws/chat/", "pool": "chat"}],
                 timeouts={**SHORT, "tunnel": "30s"}),
            http("wsshort", 171, default_pool="app2", timeouts={"tunnel": "2s"}),
        ],
    }


GROUPS_DAY2: dict[str, Callable[[Book], Group]] = {"websocket": websocket}

"""Response headers of the backends that the proxies never pass on, nor act upon, on both engines.

``ALWAYS_HIDDEN`` are backend details (Server, X-Powered-By) removed whatever the
model says. ``ENGINE_CONTROL`` are NGINX's X-Accel-* control headers: NGINX would
act on them (an internal redirect to any internal location, the cache lifetime,
the rate and buffering of the answer) where HAProxy would pass them to the client.
ctlplane makes both do neither: NGINX ignores them (``proxy_ignore_headers``, and
hides them by default), HAProxy deletes them from the answers.
"""

from __future__ import annotations

ALWAYS_HIDDEN = ("Server", "X-Powered-By")
ENGINE_CONTROL = ("X-Accel-Redirect", "X-Accel-Expires", "X-Accel-Limit-Rate", "X-Accel-Buffering", "X-Accel-Charset")

"""OCSP stapling done by ctlplane itself, the same for both engines.

``check`` is pure: the request for a certificate, the verification of a responder's answer (signed by the
issuer or a responder it delegated to, status good, for this certificate, current) and when an answer is due
for a refresh. ``responder`` is the one place that reaches a responder (an HTTP POST with httpx);
``fake`` stands in for it in tests. ``staple`` is the step the pipeline runs between reading the assets and
rendering: it keeps the response the proxies' active releases staple while it is fresh, fetches a new one
otherwise, and never fails an apply for a responder that cannot be reached (a located warning; the previous
response is kept while it is valid, an expired one is dropped).
"""

from __future__ import annotations

from typing import Protocol


class FetchFailed(Exception):
    """A responder could not be asked, or answered something that is not an OCSP response."""


class Responder(Protocol):
    """Where OCSP requests go: the network, or a fake one."""

    def ask(self, url: str, request: bytes) -> bytes:
        """POST the DER ``request`` to ``url`` and return the DER answer; raise FetchFailed otherwise."""

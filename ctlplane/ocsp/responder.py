"""The network side of OCSP stapling: one HTTP POST (RFC 6960 appendix A) per request, with httpx.

No proxy from the environment is used (the responder is asked directly, as a browser would), redirects are
not followed, the answer is bounded (64 KiB) and the whole exchange by a timeout. Any failure is a
:class:`~ctlplane.ocsp.FetchFailed` saying what happened; the caller decides what it means.
"""

from __future__ import annotations

from ctlplane.ocsp import FetchFailed

MAX_ANSWER = 64 * 1024
TIMEOUT = 5.0


class HttpResponder:
    """Asks OCSP responders over HTTP(S)."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout

    def ask(self, url: str, request: bytes) -> bytes:
        import httpx

        headers = {"Content-Type": "application/ocsp-request", "Accept": "application/ocsp-response"}
        try:
            with httpx.Client(timeout=self.timeout, trust_env=False, follow_redirects=False) as client, \
                    client.stream("POST", url, content=request, headers=headers) as answer:
                if answer.status_code != 200:
                    raise FetchFailed(f"HTTP {answer.status_code}")
                body = b""
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER:
                        raise FetchFailed(f"answer larger than {MAX_ANSWER // 1024} KiB")
                return body
        except httpx.HTTPError as exc:
            raise FetchFailed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc

"""OCSP stapling on real local proxies, both engines: ctlplane asks a real OCSP responder on 127.0.0.1
(the certificate's Authority Information Access URL), verifies the answer and ships it in the release;
``openssl s_client -status`` sees it stapled, status good. A response past half its validity is fetched again
at the next apply; a responder that fails then leaves the previous, still valid response stapled, with a
located warning; once it answers, HAProxy takes the new response through its runtime API (``set ssl
ocsp-response``, no reload) and NGINX reloads; a fresh response is kept without asking."""

from __future__ import annotations

import datetime
import re
import subprocess
from pathlib import Path

import pytest

from ctlplane.apply import prepare, apply_prepared
from tests.apply.local import Echo, free_port
from tests.apply.test_local import ENGINES, stop_after  # noqa: F401 - a fixture
from tests.helpers import need_binary
from tests.ocsp_pki import Pki, responder, url_of

NAME = "www.example.com"


def stapled(port: int) -> dict[str, str]:
    """What ``openssl s_client -status`` reports of the stapled OCSP response ({} when none was sent)."""
    done = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-status", "-servername", NAME],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20, check=False)
    if "OCSP Response Status" not in done.stdout:
        assert "no response sent" in done.stdout, done.stdout + done.stderr
        return {}
    fields = dict(re.findall(r"^\s*(OCSP Response Status|Cert Status|This Update): (.*)$", done.stdout, re.M))
    return {k: v.strip() for k, v in fields.items()}


def model_text(engine: str, port: int, echo: Echo) -> str:
    return f"""pools:
  - name: app
    servers: [{{name: a1, address: 127.0.0.1, port: {echo.port}}}]
services:
  - name: web
    mode: http
    listen: {{address: 127.0.0.1, port: {port}}}
    tls:
      ocsp_stapling: true
      certificates: [{{cert: certs/www.crt, key: certs/www.key}}]
    default_pool: app
proxies:
  - {{name: lb, engine: {engine}, services: [web], workers: 1}}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_the_responders_answer_is_stapled_refreshed_and_kept_when_the_responder_fails(
        engine: str, tmp_path: Path, echo: Echo, stop_after: list[Path]) -> None:  # noqa: F811
    need_binary(engine)
    pki = Pki()
    port = free_port()
    with responder(pki) as server:
        pki.write_leaf(tmp_path / "certs", "www", NAME, url_of(server))
        model = tmp_path / "model.yaml"
        model.write_text(model_text(engine, port, echo))
        stop_after.append(model)

        server.age = datetime.timedelta(hours=13)  # the first answer is past half its validity already
        prepared = prepare(str(model))
        assert prepared.build.notes == ()
        assert [r.outcome for r in apply_prepared(prepared)] == ["started"]
        assert server.asked == 1
        first = stapled(port)
        assert first["OCSP Response Status"] == "successful (0x0)" and first["Cert Status"] == "good", first

        # due, but the responder fails: a located warning, the previous response (still valid) stays stapled
        server.broken = True
        prepared = prepare(str(model))
        assert server.asked == 2
        [note] = prepared.build.notes
        assert note.severity == "warning" and note.path == "services[0].tls.certificates[0].cert", note
        assert "HTTP 503" in note.message and "keeps stapling the response of" in note.message, note
        assert [r.outcome for r in apply_prepared(prepared)] == ["unchanged"]
        assert stapled(port) == first

        # the responder is back: the new answer is stapled (HAProxy: runtime API, no reload; NGINX: reload)
        server.broken, server.age = False, datetime.timedelta(minutes=1)
        results = apply_prepared(prepare(str(model)))
        assert server.asked == 3
        if engine == "haproxy":
            assert [r.outcome for r in results] == ["runtime"]
            assert [c.split()[:3] for c in results[0].commands] == [["set", "ssl", "ocsp-response"]]
        else:
            assert [r.outcome for r in results] == ["reloaded"]
        second = stapled(port)
        assert second["Cert Status"] == "good" and second["This Update"] != first["This Update"], (first, second)

        # fresh: kept as it is, the responder is not asked again
        assert [r.outcome for r in apply_prepared(prepare(str(model)))] == ["unchanged"]
        assert server.asked == 3
        assert stapled(port) == second

"""The NGINX renderer: one proxy's ``nginx.conf`` plus copies of its
certificates and keys.

The view (``nginx_view``) makes every decision; ``templates/nginx`` only
prints it. Certificates are copied to ``certs/<service>-<index>.crt`` and
``.key`` (keys mode 0600) and referenced by those relative paths; htpasswd files to ``auth/`` (``auth_names``); a proxy
with TLS also gets ``dhparam.pem``, the RFC 7919 ffdhe2048 group. The TLS files of its pools and client CAs
are placed by ``tls_files``, the services' error pages by ``error_pages``. The
runtime directories ``logs/``, ``tmp/`` and ``cache/`` are not rendered: the
runner creates them in the staging and the deployed directory.
"""

from __future__ import annotations

from ctlplane.model.assets import Assets
from ctlplane.model.proxy import Proxy
from ctlplane.model.root import Model
from ctlplane.model.service import HttpService
from ctlplane.render import RenderedFile, text_file
from ctlplane.model.auth_assets import proxy_htpasswd
from ctlplane.render.auth_names import htpasswd_users, user_file, users_file
from ctlplane.render.env import render_template
from ctlplane.render.error_pages import nginx_files
from ctlplane.render.nginx_http import DHPARAM_FILE, FFDHE2048, cert_files
from ctlplane.render.nginx_view import nginx_view
from ctlplane.render.tls_files import tls_files

ROOT = "nginx.conf"


def render_nginx(model: Model, proxy: Proxy, assets: Assets) -> dict[str, RenderedFile]:
    """Every file of one NGINX proxy, keyed by path relative to its directory."""
    conf = nginx_view(model, proxy, assets)
    files = {ROOT: text_file(render_template("nginx/nginx.conf.j2", conf=conf))}
    if conf.http.tls_sessions:
        files[DHPARAM_FILE] = RenderedFile(FFDHE2048, 0o644)
    for name in proxy.services:
        svc = model.service(name)
        if not isinstance(svc, HttpService) or svc.tls is None:
            continue
        for i in range(len(svc.tls.certificates)):
            asset = assets.certs[(svc.name, i)]
            cert, key = cert_files(svc.name, i)
            files[cert] = RenderedFile(asset.cert_pem, 0o644)
            files[key] = RenderedFile(asset.key_pem, 0o600)
    files.update(tls_files(model, proxy, assets))
    for path in proxy_htpasswd(model, proxy.name):
        files[user_file(path)] = users_file(htpasswd_users(assets)[path])
    files.update(nginx_files([model.service(name) for name in proxy.services], assets))
    return dict(sorted(files.items()))

"""The HAProxy renderer: one proxy's ``haproxy.cfg``, its combined
certificate+key files (mode 0600) and one crt-list per TLS service.

Entry point :func:`render_haproxy`. Every decision lives in the view modules
(``haproxy_view``, ``haproxy_frontend``, ``haproxy_backend``); this module
only renders the templates under ``templates/haproxy/`` and collects the
files (the config, crt-lists, combined certificates, the two error pages and the services' own,
``error_pages``). A config holding ``userlist`` hashes (``haproxy_auth``) is written 0600.
Paths inside the config are relative to the output directory, which HAProxy
must use as its working directory (``haproxy -W -f DIR/haproxy.cfg`` with
cwd=DIR); the admin socket is ``admin.sock`` there.
"""

from __future__ import annotations

from ctlplane.model.assets import Assets
from ctlplane.model.auth_assets import proxy_htpasswd
from ctlplane.model.proxy import Proxy
from ctlplane.model.root import Model
from ctlplane.render import Output, RenderedFile, text_file
from ctlplane.render.auth_names import htpasswd_users
from ctlplane.render.env import render_template
from ctlplane.render.haproxy_auth import userlists
from ctlplane.render.error_pages import haproxy_files
from ctlplane.render.haproxy_backend import EMPTY_POOL_PAGE
from ctlplane.render.tls_files import tls_files
from ctlplane.render.haproxy_view import (EMPTY_POOL_ANSWER, ERROR_PAGES, build_view, cert_files, crt_list_word,
                                          crt_lists, error_page_path)

CONFIG_FILE = "haproxy.cfg"


def render_haproxy(model: Model, proxy: Proxy, assets: Assets) -> Output:
    """Every HAProxy file of ``proxy``, keyed by relative path, sorted."""
    view = build_view(model, proxy, assets.master_is_root(proxy.name), assets.state_dirs.get(proxy.name))
    view = view._replace(userlists=userlists(proxy_htpasswd(model, proxy.name), htpasswd_users(assets)))
    files: Output = {CONFIG_FILE: text_file(render_template("haproxy/haproxy.cfg.j2", view=view),
                                            0o600 if view.userlists else 0o644)}
    for status, page in ERROR_PAGES.items():
        files[error_page_path(status)] = RenderedFile(page, 0o644)
    if any(be.empty_page for be in view.backends):
        files[EMPTY_POOL_PAGE] = RenderedFile(EMPTY_POOL_ANSWER, 0o644)
    for path, entries in crt_lists(model, proxy, assets).items():
        files[path] = text_file(render_template("haproxy/crt-list.j2", entries=entries, word=crt_list_word))
    for path, pem in cert_files(model, proxy, assets).items():
        files[path] = RenderedFile(pem, 0o600)
    files.update(tls_files(model, proxy, assets))
    files.update(haproxy_files([model.service(name) for name in proxy.services], assets))
    return dict(sorted(files.items()))

"""Error pages an engine cannot give the same meaning, refused, located.

* NGINX: ``intercept_errors`` on a service that reaches a discovered pool. NGINX answers such a pool's
  failures with ``error_page 502 =503`` (a discovered pool's 503, as HAProxy), and with interception a 502
  *answered by a backend* would take that path too and become a 503; HAProxy keeps the backend's 502.
* HAProxy: services that share a discovered pool with different 503 pages. HAProxy answers an empty (or
  failing) pool from the pool's backend, one answer per pool, not per service.
"""

from __future__ import annotations

from collections.abc import Iterator

from ctlplane.model.error_pages import page_index
from ctlplane.model.root import CrossCheck, Model
from ctlplane.model.routing import service_pools
from ctlplane.model.service import HttpService


def _pools(svc: HttpService) -> list[str]:
    return service_pools(svc, auth=False)


def error_page_problems(model: Model, proxy: str, engine: str, indexes: list[int]) -> Iterator[CrossCheck]:
    """Every refusal of the error pages of the services at ``indexes`` on one proxy."""
    discovered = {p.name for p in model.pools if p.answers_503}
    if not discovered:
        return  # both refusals are about the services that reach a pool answering its own 503
    first: dict[str, tuple[int, str | None]] = {}  # discovered pool -> (service index, its 503 page file)
    for k in indexes:
        svc = model.services[k]
        if not isinstance(svc, HttpService):
            continue
        reached = [p for p in _pools(svc) if p in discovered]
        if engine == "nginx" and svc.intercept_errors and reached:
            yield CrossCheck(("services", k, "intercept_errors"), f"NGINX answers the failures of discovered pool "
                             f"{reached[0]!r} with its 503, and would turn a 502 answered by a backend into that "
                             f"503 too, on proxy {proxy!r} (nginx): remove intercept_errors, use a pool with "
                             "static servers, or use engine haproxy")
        if engine != "haproxy":
            continue
        n = page_index(svc.error_pages, 503)
        page = svc.error_pages[n].file if n is not None else None
        for pool in reached:
            other = first.setdefault(pool, (k, page))
            if other[1] != page:
                yield CrossCheck(("services", k, "error_pages"), f"services {model.services[other[0]].name!r} and "
                                 f"{svc.name!r} share discovered pool {pool!r} with different 503 pages on proxy "
                                 f"{proxy!r} (haproxy): HAProxy answers an empty pool per pool; use the same 503 "
                                 "page, separate pools, or engine nginx")

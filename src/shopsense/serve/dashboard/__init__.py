"""The dashboard: server-rendered HTML pages over the same state the JSON API serves.

Pages under `/dashboard`, sharing a nav bar, one module each:

- `overview` (`/dashboard`): what `shopsense data stats` reports, and weekly activity plots;
- `models` (`/dashboard/models`): the latest evaluation report as a leaderboard, and the
  registry;
- `explorer` (`/dashboard/explorer`): one customer's history and recommendations, with
  explanations;
- `customers` (`/dashboard/customers`): the active segmentation and a customer lookup;
- `pricing` (`/dashboard/pricing`): suggested prices and one product's demand curve.

Beside them: `render` (the shared layout, headers and error page), `formats` (how numbers
and times are written), `views` (what is read from the store, cached per store version),
`plots` (the SVG pictures) and `leaderboard` (the evaluation report, arranged).

Pages are Jinja2 templates with autoescaping on, one CSS file from `/static`, and no
JavaScript at all; a Content-Security-Policy header says so to the browser, so a page can
never pull in anything from another host.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from shopsense.serve.dashboard import customers, explorer, models, overview, pricing
from shopsense.serve.dashboard.render import mount_static, not_found, page_router

__all__ = ["mount_static", "router"]

_PAGE_MODULES = (overview, models, explorer, customers, pricing)

#: every dashboard page
router = APIRouter()
for _page_module in _PAGE_MODULES:
    router.include_router(_page_module.router)

#: the addresses of the pages (those without parameters in the path)
PAGES = frozenset(
    r.path
    for m in _PAGE_MODULES
    for r in m.router.routes
    if isinstance(r, APIRoute) and "{" not in r.path
)


def elsewhere(request: Request) -> Response:
    """Any other address under /dashboard: a page's address with a trailing slash
    (`/dashboard/`, `/dashboard/models/`) redirects to the page, the rest is a 404 page."""
    root = request.scope.get("root_path", "")
    path = request.url.path.removeprefix(root) if root else request.url.path
    if path.endswith("/") and path.rstrip("/") in PAGES:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{root}{path.rstrip('/')}{query}", status_code=308)
    return not_found(request)


_fallback = page_router()  # last: it answers every address the pages do not
_fallback.add_api_route("/{rest:path}", elsewhere, methods=["GET", "HEAD"])
router.include_router(_fallback)

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

from fastapi import APIRouter

from shopsense.serve.dashboard import customers, explorer, models, overview, pricing
from shopsense.serve.dashboard.render import mount_static, not_found, page_router

__all__ = ["mount_static", "router"]

#: every dashboard page
router = APIRouter()
for _page_module in (overview, models, explorer, customers, pricing):
    router.include_router(_page_module.router)
_fallback = page_router()  # last: any other address under /dashboard is a 404 page
_fallback.add_api_route("/{rest:path}", not_found, methods=["GET", "HEAD"])
router.include_router(_fallback)

"""The overview page (`/dashboard`): what `shopsense data stats` reports, the data-quality
reports of the latest ingests, and the weekly activity plot."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from shopsense.serve.dashboard.render import page, page_router, problem
from shopsense.serve.dashboard.views import (
    activity_plot_svg,
    activity_range,
    quality_reports,
    store_stats,
)
from shopsense.serve.state import NotReady, StoreBusy

router = page_router()


@router.get("", response_class=HTMLResponse)
def overview(request: Request) -> Response:
    """Store statistics and weekly activity; the time range is the chart's, without the
    stray dates it leaves out (the raw first and last rows are in the tables below)."""
    try:
        stats, tag = store_stats(request)
        quality = quality_reports(request)
        span = activity_range(request)
    except (NotReady, StoreBusy) as e:
        return problem(request, 503, str(e))
    return page(
        request,
        "overview.html",
        "Overview",
        stats=stats,
        plot_tag=tag,
        quality=quality,
        span=span,
    )


@router.get("/plots/activity.svg")
def activity_plot(request: Request) -> Response:
    """The activity plot, drawn once per store version; browsers revalidate by ETag."""
    try:
        svg, tag = activity_plot_svg(request)
    except (NotReady, StoreBusy) as e:
        return Response(str(e), status_code=503, media_type="text/plain")
    etag = f'"{tag}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(svg, media_type="image/svg+xml", headers=headers)

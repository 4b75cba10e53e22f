"""The dashboard's customers page: the active segmentation (profiles and a map of every
customer) and a lookup of one customer's segment. Reads what `/v1/segments` and
`/v1/customers/{id}` serve. When the segmentation cannot score the store's current
customers, the page says so (409) and what to run, as the API does."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from shopsense.serve import behavior
from shopsense.serve.dashboard.plots import segments_svg
from shopsense.serve.dashboard.render import page, page_router, problem
from shopsense.serve.state import NotReady, StoreBusy

router = page_router()

_PLOTS: dict[tuple[str, tuple[int, ...]], bytes] = {}  # (segmentation, store) -> SVG


def _plot(seg: behavior.Segmentation) -> bytes:
    key = (seg.label, seg.store_stamp)
    if key not in _PLOTS:
        embedding, labels = behavior.embedding_of(seg)
        _PLOTS.clear()  # only the current segmentation's picture is kept
        _PLOTS[key] = segments_svg(embedding, labels, list(seg.model.segment_names_))
    return _PLOTS[key]


@router.get("/customers", response_class=HTMLResponse)
def customers(request: Request, customer: str = "") -> Response:
    """Segment profiles, the segment map and a customer lookup."""
    try:
        seg = behavior.insights(request).segmentation()
    except (NotReady, StoreBusy) as e:
        return problem(request, 503, str(e), title="Customers")
    except behavior.CannotServe as e:
        return problem(request, 409, str(e), title="Customers")
    summary = behavior.segments_out(seg)
    found: dict[str, Any] | None = None
    message = None
    customer = customer.strip()[:128]
    if customer:
        if customer in seg.segments.index:
            row = seg.features.loc[customer]
            found = {"id": customer, "segment": str(seg.segments.loc[customer]),
                     "features": {str(k): float(v) for k, v in row.items()}}  # fmt: skip
        else:
            message = f"Customer {customer!r} has no purchases in the store's order lines."
    examples = list(seg.features.sort_values("monetary", ascending=False).index[:5])
    return page(
        request,
        "customers.html",
        "Customers",
        summary=summary,
        found=found,
        message=message,
        form_customer=customer,
        examples=examples,
        plot_tag=f"{seg.version.version}-{abs(hash(seg.store_stamp)) % 10**8}",
    )


@router.get("/plots/segments.svg")
def segments_plot(request: Request) -> Response:
    """The segment map of the active segmentation and the current store."""
    try:
        seg = behavior.insights(request).segmentation()
    except (NotReady, StoreBusy) as e:
        return Response(str(e), status_code=503, media_type="text/plain")
    except behavior.CannotServe as e:
        return Response(str(e), status_code=409, media_type="text/plain")
    return Response(_plot(seg), media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})

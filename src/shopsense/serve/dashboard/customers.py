"""The dashboard's customers page: the active segmentation (profiles and a map of every
customer) and a lookup of one customer's segment. Reads what `/v1/segments` and
`/v1/customers/{id}` serve."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from shopsense.serve import behavior
from shopsense.serve.dashboard import _page, _problem
from shopsense.serve.state import NotReady, StoreBusy

router = APIRouter(prefix="/dashboard", include_in_schema=False)

_PLOTS: dict[tuple[str, tuple[int, ...]], bytes] = {}  # (segmentation, store) -> SVG


def segments_svg(embedding: np.ndarray, labels: np.ndarray, names: list[str]) -> bytes:
    """Every customer as a dot on the first two principal components of their embedding,
    one colour per segment. A bare `Figure` (no pyplot), safe beside other threads."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=0).fit_transform(np.asarray(embedding, dtype=float))
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.subplots()
    colours = colormaps["tab10" if len(names) <= 10 else "tab20"]
    for label in np.unique(labels):
        mine = labels == label
        ax.scatter(*xy[mine].T, s=7, alpha=0.6, color=colours(int(label) % colours.N),
                   label=f"{names[int(label)]} ({int(mine.sum()):,})", linewidths=0)  # fmt: skip
    ax.set_xlabel("principal component 1", fontsize=9)
    ax.set_ylabel("principal component 2", fontsize=9)
    ax.tick_params(labelsize=8, length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False,
              markerscale=2.5)  # fmt: skip
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, facecolor="white")
    return buffer.getvalue()


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
        return _problem(request, 503, str(e), title="Customers")
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
    return _page(
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
    return Response(_plot(seg), media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})

"""The dashboard's pricing page: the suggestions with the most to gain, each with its reason,
and one product's demand curve — what it sold at each price, the fitted curve with its
uncertainty, today's and the suggested price. Reads what `/v1/pricing/...` serves (the same
suggestions, so a product's price here is its price there), shows each product's catalogue
title beside its id and says when an elasticity is borrowed from the category."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from shopsense.serve import pricing
from shopsense.serve.dashboard.plots import demand_curve_svg
from shopsense.serve.dashboard.render import page, page_router, problem
from shopsense.serve.state import NotReady, StoreBusy

router = page_router()
SHOWN = 25


def _rows(data: pricing.PricingData) -> list[dict[str, Any]]:
    s = data.suggestions[data.suggestions["status"] == "ok"]
    gain = (s["profit_new"] - s["profit_now"]).sort_values(ascending=False)
    out = []
    for item, r in s.loc[gain.index[:SHOWN]].iterrows():
        out.append({"item": str(item), "gain": float(gain.loc[item]), **r.to_dict()})
    return out


@router.get("/pricing", response_class=HTMLResponse)
def pricing_page(request: Request, item: str = "") -> Response:
    """Suggested prices with the most expected profit to gain, and a product lookup."""
    desk = pricing.desk(request)
    try:
        data = desk.pricing()
    except (NotReady, StoreBusy) as e:
        return problem(request, 503, str(e), title="Pricing")
    ok = data.suggestions[data.suggestions["status"] == "ok"]
    totals = {
        "products": len(data.suggestions),
        "priced": len(ok),
        "profit_now": float(ok["profit_now"].sum()),
        "profit_new": float(ok["profit_new"].sum()),
        "held": int((ok["bound_by"] != "").sum()),
    }
    item = item.strip()[:128]
    found, message = None, None
    if item:
        if item in ok.index:
            found = {"item": item, **data.model.elasticity(item), **ok.loc[item].to_dict()}
        elif item in data.suggestions.index:
            message = f"Product {item!r} has too little price history to be priced."
        else:
            message = f"Product {item!r} is not among the priced products."
    return page(
        request,
        "pricing.html",
        "Pricing",
        model=data.label,
        freq="week" if data.panel.freq == "W" else "month",
        totals=totals,
        rows=_rows(data),
        found=found,
        message=message,
        form_item=item,
        examples=[r["item"] for r in _rows(data)[:5]],
        plot_tag=f"{data.version.version}-{abs(hash(data.store_stamp)) % 10**8}",
    )


@router.get("/plots/demand/{item}.svg")
def demand_plot(request: Request, item: str) -> Response:
    """One product's demand curve (see `demand_curve_svg`)."""
    try:
        data = pricing.desk(request).pricing()
    except (NotReady, StoreBusy) as e:
        return Response(str(e), status_code=503, media_type="text/plain")
    s = data.suggestions
    if item not in s.index or s.loc[item, "status"] != "ok":
        return Response(f"no demand curve for {item!r}", status_code=404, media_type="text/plain")
    observed = data.panel.observed()
    observed = observed[observed["item_id"] == item]
    svg = demand_curve_svg(observed, s.loc[item].to_dict(), data.model.elasticity(item),
                           data.panel.freq)  # fmt: skip
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})

"""The dashboard's pricing page: the suggestions with the most to gain, each with its reason,
and one product's demand curve — what it sold at each price, the fitted curve with its
uncertainty, today's and the suggested price. Reads what `/v1/pricing/...` serves."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from shopsense.serve import pricing
from shopsense.serve.dashboard import _page, _problem
from shopsense.serve.state import NotReady, StoreBusy

router = APIRouter(prefix="/dashboard", include_in_schema=False)
SHOWN = 25


def demand_curve_svg(
    observed: pd.DataFrame, suggestion: dict[str, Any], elasticity: dict[str, Any], freq: str
) -> bytes:
    """Units per period against price: the periods the product sold (dots), the fitted
    constant-elasticity curve through today's expected demand (line) with the curves at the
    ends of the elasticity's 90% interval (band), today's and the suggested price."""
    from matplotlib.figure import Figure

    current = float(suggestion["current_price"])
    units_now = float(suggestion["units_now"])
    lo = min(float(observed["price"].min()), current * 0.7) * 0.95
    hi = max(float(observed["price"].max()), current * 1.3) * 1.05
    grid = np.linspace(lo, hi, 120)
    curve = units_now * (grid / current) ** float(suggestion["elasticity"])
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    low, high = elasticity.get("low"), elasticity.get("high")
    if low is not None and high is not None:
        a = units_now * (grid / current) ** float(low)
        b = units_now * (grid / current) ** float(high)
        ax.fill_between(grid, np.minimum(a, b), np.maximum(a, b), color="#2f6fde", alpha=0.12,
                        lw=0, label="90% interval of the elasticity")  # fmt: skip
    ax.plot(grid, curve, color="#2f6fde", lw=1.6, label="expected demand (this season)")
    period = "week" if freq == "W" else "month"
    ax.scatter(observed["price"], observed["units"], s=14, color="#1f2933", alpha=0.6,
               label=f"units sold per {period}", linewidths=0)  # fmt: skip
    ax.axvline(current, color="#9aa5b1", ls="--", lw=1, label=f"today {current:.2f}")
    new = suggestion.get("suggested_price")
    if new is not None:
        ax.axvline(float(new), color="#d64545", lw=1.2, label=f"suggested {float(new):.2f}")
    top = max(float(observed["units"].quantile(0.95)), float(curve.max())) * 1.2
    ax.set_ylim(0, top if top > 0 else 1)
    ax.set_xlabel("price", fontsize=9)
    ax.set_ylabel("units", fontsize=9)
    ax.tick_params(labelsize=8, length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, facecolor="white")
    return buffer.getvalue()


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
        return _problem(request, 503, str(e), title="Pricing")
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
            found = {"item": item, **ok.loc[item].to_dict(), **data.model.elasticity(item)}
        elif item in data.suggestions.index:
            message = f"Product {item!r} has too little price history to be priced."
        else:
            message = f"Product {item!r} is not among the priced products."
    return _page(
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

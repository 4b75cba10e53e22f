"""The dashboard's pictures, drawn as SVG on a bare matplotlib `Figure` (no pyplot): no
global backend or figure registry is touched, so drawing is safe beside other threads and
never opens a window. matplotlib is imported on first use, not with the service."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_INK, _GRID, _BLUE, _TEAL, _AMBER = "#1f2933", "#e4e7eb", "#2f6fde", "#0f9d8a", "#d9822b"


def _svg(fig: Figure) -> bytes:
    """The figure as SVG bytes, without a date (same picture, same bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, facecolor="white")
    return buffer.getvalue()


def activity_svg(weekly: pd.DataFrame) -> bytes:
    """Weekly events, active customers and revenue as one SVG (three stacked panels)."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    panels = [("events", "events per week", _BLUE, "bar"),
              ("customers", "active customers per week", _TEAL, "line")]  # fmt: skip
    if "revenue" in weekly and weekly["revenue"].notna().any():
        panels.append(("revenue", "revenue per week (order lines, net)", _AMBER, "bar"))
    fig = Figure(figsize=(10, 1.75 * len(panels) + 0.3), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    weeks = pd.to_datetime(weekly["week"]).to_numpy() if len(weekly) else np.array([])
    thousands = FuncFormatter(lambda v, _: f"{v:,.0f}")
    for ax, (column, label, colour, kind) in zip(axes, panels, strict=True):
        values = weekly[column].fillna(0).to_numpy(np.float64) if len(weekly) else []
        if kind == "bar":
            ax.bar(weeks, values, width=5.5, color=colour, linewidth=0)
        else:
            ax.plot(weeks, values, color=colour, linewidth=2, marker="o", markersize=3)
        ax.set_title(label, loc="left", fontsize=10, color=_INK)
        ax.yaxis.set_major_formatter(thousands)
        ax.grid(axis="y", color=_GRID, linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.spines["bottom"].set_color("#9aa5b1")
        ax.tick_params(colors=_INK, labelsize=8, length=0)
    if not len(weekly):
        axes[0].text(0.5, 0.5, "no events yet", transform=axes[0].transAxes, ha="center")
    else:
        locator = AutoDateLocator()
        axes[-1].xaxis.set_major_locator(locator)
        axes[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return _svg(fig)


def segments_svg(embedding: np.ndarray, labels: np.ndarray, names: list[str]) -> bytes:
    """Every customer as a dot on the first two principal components of their embedding,
    one colour per segment."""
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
    return _svg(fig)


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
    return _svg(fig)

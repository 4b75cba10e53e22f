"""Price suggestions with their reasons: the learned policy's next move for every product.

The suggestion is the `ThompsonPricer`'s choice for the coming period, from its posterior
after the shop's history: the `PriceHistory` fitted on the panel (demand curve, the
elasticity estimate as prior), the shop's constraints. By default it plays the posterior mean (a
suggestion a person reviews should not be a random draw); `explore=True` draws as the policy
does online.

Every suggestion says why: expected units, revenue and profit at the current and the
suggested price, the elasticity with its interval and where it came from, the price that
would be best without constraints, and the constraint that stopped the move there, if any.
A product whose elasticity is borrowed from its category (its own price never moved enough
to estimate one) says so (`elasticity_borrowed`, and in the reason).

One product's suggestion depends on that product, the rules, its cost and the model, never
on which other products are asked about at the same time: the shop's seasonal shape and the
season position are estimated once over the whole panel, and the products asked for are
picked from that result (not a panel cut down to them first).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shopsense.data.panel import PricePanel
from shopsense.pricing.elasticity import ElasticityModel
from shopsense.pricing.policy import OBJECTIVES, PriceConstraints, PriceHistory, ThompsonPricer

_TOLERANCE = 1e-6
OWN_BASIS = "own, shrunk to category"
"""`ElasticityModel`'s basis of an elasticity estimated for the product itself."""


def suggest_prices(
    panel: PricePanel,
    elasticity: ElasticityModel,
    constraints: PriceConstraints | None = None,
    *,
    unit_cost: pd.Series | None = None,
    cost_share: float = 0.5,
    objective: str = "profit",
    explore: bool = False,
    items: list[str] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per product: current and suggested price with the reasons (module docstring).

    `items` picks the rows returned (in that order; default every product of the panel);
    the computation always runs over the whole panel, so a product's row is the same alone
    or in any company. Products the panel cannot price (fewer than 4 periods with a known
    price) are reported with `status` saying so rather than left out silently.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    constraints = constraints or PriceConstraints()
    if items is not None:
        unknown = sorted(set(items) - set(panel.items))
        if unknown:
            raise KeyError(f"no price history for item(s) {unknown[:10]} in {panel.source}")
    wanted = list(dict.fromkeys(items)) if items is not None else list(panel.items)
    history = PriceHistory.fit(panel, elasticity, unit_cost=unit_cost, cost_share=cost_share)
    grid = constraints.grid(history.items, history.ref_price.copy(), history.unit_cost)
    _, _, floor = constraints.bounds(history.items, history.ref_price.copy(), history.unit_cost)
    pricer = ThompsonPricer(objective, explore=explore)
    pricer.reset(history, grid, np.random.default_rng(seed))
    feasible = constraints.feasible(grid, history.ref_price, floor)
    chosen = pricer.choose(0, feasible)
    new = grid[np.arange(history.n_items), chosen]
    mean, _ = pricer.posterior()
    e = mean[:, 1]
    current = history.ref_price
    units_now = history.expected(current, 0)
    units_new = units_now * (new / current) ** e
    best = _unconstrained_best(e, history.unit_cost, current, objective)
    table = elasticity._table().reindex(history.items)
    out = pd.DataFrame(
        {
            "item_id": history.items,
            "current_price": current,
            "suggested_price": new,
            "change": new / current - 1.0,
            "units_now": units_now,
            "units_new": units_new,
            "revenue_now": current * units_now,
            "revenue_new": new * units_new,
            "profit_now": (current - history.unit_cost) * units_now,
            "profit_new": (new - history.unit_cost) * units_new,
            "unit_cost": history.unit_cost,
            "elasticity": e,
            "elasticity_low": table["low"].to_numpy(float),
            "elasticity_high": table["high"].to_numpy(float),
            "basis": table["basis"].to_numpy(object),
            "elasticity_borrowed": (table["basis"] != OWN_BASIS).to_numpy(bool),
            "category": table["category"].astype(object).to_numpy(),
            "estimate_status": table["status"].astype(object).to_numpy(),
            "unconstrained_best": best,
            "bound_by": _binding(grid, chosen, best, current, floor, constraints),
        }
    )
    estimated = table["elasticity"].to_numpy(float)
    out["capped"] = np.where(np.abs(estimated - history.elasticity) > 1e-9, estimated, np.nan)
    out["status"] = "ok"
    out = out[out["item_id"].isin(set(wanted))].copy()
    out["reason"] = [_reason(r, objective, panel.freq) for r in out.to_dict(orient="records")]
    missing = [i for i in wanted if i not in set(history.items)]
    if missing:
        out = pd.concat(
            [out, pd.DataFrame({"item_id": missing, "status": "too little price history"})],
            ignore_index=True,
        )
    order = {item: k for k, item in enumerate(wanted)}
    out = out.sort_values("item_id", key=lambda s: s.map(order), kind="stable")
    return out.reset_index(drop=True)


def _unconstrained_best(
    e: np.ndarray, cost: np.ndarray, current: np.ndarray, objective: str
) -> np.ndarray:
    """The best price of a constant-elasticity curve with no rules: for profit, the markup
    cost * e / (1 + e) when demand is elastic (e < -1); otherwise "as high as possible"
    (inf) for both, or "as low as possible" (0) for revenue when demand is elastic."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if objective == "revenue":
            return np.where(e < -1, 0.0, np.where(e > -1, np.inf, current))
        return np.where(e < -1, cost * e / (1.0 + e), np.inf)


def _binding(
    grid: np.ndarray,
    chosen: np.ndarray,
    best: np.ndarray,
    current: np.ndarray,
    floor: np.ndarray,
    c: PriceConstraints,
) -> list[str]:
    """Which rule kept each suggestion from the unconstrained best price ("" if none): the
    rule that forbids the next grid price towards the best one."""
    out = []
    last = grid.shape[1] - 1
    for i, k in enumerate(chosen):
        p = grid[i, k]
        direction = 1 if best[i] > p * 1.005 else -1 if best[i] < p * 0.995 else 0
        if direction == 0:
            out.append("")
            continue
        j = k + direction
        if j < 0 or j > last:
            if direction > 0:
                out.append(f"highest allowed price ({p:.2f})")
            elif p <= floor[i] * 1.0001:
                out.append(f"margin floor ({c.margin_floor:.0%} over cost: >= {floor[i]:.2f})")
            else:
                out.append(f"lowest allowed price ({p:.2f})")
            continue
        q = grid[i, j]
        if q < floor[i] * (1 - 1e-9):
            out.append(f"margin floor ({c.margin_floor:.0%} over cost: >= {floor[i]:.2f})")
        elif abs(q / current[i] - 1.0) > c.max_change + 1e-9:
            out.append(f"largest change per period ({c.max_change:.0%})")
        else:
            out.append("")
    return out


def _reason(r: dict[str, Any], objective: str, freq: str) -> str:
    """One sentence a pricing analyst can check: the move, the evidence, the rule."""
    period = "week" if freq == "W" else "month"
    e = f"elasticity {r['elasticity']:.2f}"
    if np.isfinite(r["capped"]):
        e += f" (estimated {r['capped']:+.2f}, outside the plausible range, so capped)"
    if np.isfinite(r["elasticity_low"]) and np.isfinite(r["elasticity_high"]):
        e += f" (90% interval {r['elasticity_low']:.2f} to {r['elasticity_high']:.2f}"
        e += f", {r['basis']})"
    if r["elasticity_borrowed"]:
        e += f", borrowed from its category {r['category']!r} ({r['estimate_status']})"
    now, new = r[f"{objective}_now"], r[f"{objective}_new"]
    cur, sug, change = r["current_price"], r["suggested_price"], r["change"]
    if abs(change) < _TOLERANCE:
        move = f"keep {cur:.2f}"
    else:
        move = f"{'raise' if change > 0 else 'lower'} {cur:.2f} -> {sug:.2f} ({change:+.0%})"
    units = f"expected {r['units_now']:.1f} -> {r['units_new']:.1f} units/{period}"
    gain = f"{objective} {now:.2f} -> {new:.2f}/{period}"
    bound = f"; held by the {r['bound_by']}" if r["bound_by"] else ""
    return f"{move}: {e}; {units}; {gain}{bound}"

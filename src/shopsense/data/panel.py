"""The price panel: one row per (product, period) with the price customers saw and the units
they bought at it — what elasticity, the demand simulator and the price policy learn from.

Two sources:

- the store's order lines (`panel_from_order_lines`): weekly (or monthly) units come from the
  demand view (cancellations netted against the original sale), and the price is the MEDIAN
  unit price of the period's sale lines, not revenue / units. Wholesale shops give bulk
  buyers lower unit prices; revenue / units therefore falls exactly when a big order comes
  in, and a regression of units on it would "find" demand that rises as the price falls even
  where no price changed. The median line is the price an ordinary order paid. A period the
  shop traded but the product did not sell has units 0 and the last known price, marked
  `price_imputed` (the posted price is not in the data).
- a CSV in the layout of the "retail price optimisation" panel (`read_price_panel`):
  product_id, product_category_name, month_year, qty, unit_price, optionally comp_1 (a
  competitor's price), or the panel's own column names.

Errors name the file, the row and the field; nothing is guessed silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shopsense.data.demand import DemandView, demand_view
from shopsense.data.orders import order_line_view

COLUMNS = ("item_id", "category", "period", "price", "units", "price_imputed")
"""Required columns of `PricePanel.frame`; `competitor_price` and `unit_cost` are optional."""

RETAIL_PRICE_COLUMNS = {
    "product_id": "item_id",
    "product_category_name": "category",
    "month_year": "period",
    "qty": "units",
    "unit_price": "price",
    "comp_1": "competitor_price",
}


@dataclass(frozen=True)
class PricePanel:
    """Units sold per product and period at the price of that period.

    `frame` has the `COLUMNS` (+ optional `competitor_price`, `unit_cost`), one row per
    (item_id, period), sorted by item and period. `freq` is the period length ("W" or "M").
    """

    frame: pd.DataFrame
    freq: str
    source: str = "panel"

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.frame.columns]
        if missing:
            raise ValueError(f"{self.source}: price panel lacks columns {missing}")

    @property
    def items(self) -> list[str]:
        return list(pd.unique(self.frame["item_id"]))

    @property
    def periods_per_year(self) -> int:
        return 52 if self.freq == "W" else 12

    def observed(self) -> pd.DataFrame:
        """Rows with a real (not imputed) price and a sale: what a log-log fit can use."""
        f = self.frame
        return f[~f["price_imputed"] & (f["units"] > 0)]

    def select(self, items: list[str]) -> PricePanel:
        keep = self.frame["item_id"].isin(set(items))
        return PricePanel(self.frame[keep].reset_index(drop=True), self.freq, self.source)

    def until(self, cutoff: str | pd.Timestamp) -> PricePanel:
        """Periods starting before `cutoff`: the history a decision at `cutoff` may use."""
        keep = self.frame["period"] < pd.Timestamp(cutoff)
        return PricePanel(self.frame[keep].reset_index(drop=True), self.freq, self.source)

    def current_prices(self, last: int = 4) -> pd.Series:
        """item_id -> the median observed price of its last `last` priced periods."""
        obs = self.frame[~self.frame["price_imputed"]]
        tail = obs.groupby("item_id", sort=False).tail(last)
        return tail.groupby("item_id", sort=False)["price"].median()

    def categories(self) -> pd.Series:
        """item_id -> category ("all" where unknown)."""
        first = self.frame.drop_duplicates("item_id").set_index("item_id")["category"]
        return first.fillna("all").astype(str)


def panel_from_order_lines(
    lines: pd.DataFrame,
    *,
    freq: str = "W",
    items: list[str] | None = None,
    categories: pd.Series | None = None,
    source: str = "order_lines",
    view: DemandView | None = None,
    catalogue: pd.DataFrame | None = None,
) -> PricePanel:
    """Weekly ("W") or monthly ("M") price panel from order lines (see the module docstring).

    `lines` is the order-line view (or raw lines plus the `catalogue` with item kinds);
    `categories` maps item_id -> category (e.g. `data.customers.product_groups`);
    `view` reuses an already built demand view of the same lines.
    """
    if freq not in ("W", "M"):
        raise ValueError(f"freq must be 'W' or 'M', not {freq!r}")
    lines = order_line_view(lines, catalogue, source=source)
    view = view if view is not None else demand_view(lines, source=source)
    if items is not None:
        view = view.select([i for i in items if i in set(view.items)])
    units = _period_units(view, freq)
    prices = _period_median_price(lines, freq, set(units["item_id"]))
    frame = units.merge(prices, on=["item_id", "period"], how="left")
    frame["price_imputed"] = frame["price"].isna()
    frame["price"] = frame.groupby("item_id", sort=False)["price"].ffill()
    frame = frame[frame["price"].notna() & frame["units"].notna()]
    cats = categories if categories is not None else pd.Series(dtype=object)
    frame["category"] = frame["item_id"].map(cats).astype(object)
    frame = frame[list(COLUMNS)].sort_values(["item_id", "period"], kind="stable")
    return PricePanel(frame.reset_index(drop=True), freq, source)


def read_price_panel(path: str | Path) -> PricePanel:
    """A monthly panel from a CSV: the retail-price-optimisation layout (product_id,
    product_category_name, month_year DD-MM-YYYY, qty, unit_price[, comp_1]) or the panel's
    own columns (item_id, period, price, units[, category, unit_cost, competitor_price])."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"price panel file not found: {path}")
    raw = pd.read_csv(path, dtype={"product_id": str, "item_id": str})
    frame = raw.rename(columns=RETAIL_PRICE_COLUMNS)
    needed = ["item_id", "period", "price", "units"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; expected item_id, period, price, units "
            f"(or product_id, month_year, unit_price, qty)"
        )
    _check_numbers(frame, path, "price", positive=True)
    _check_numbers(frame, path, "units", positive=False)
    if "unit_cost" in frame:
        _check_numbers(frame, path, "unit_cost", positive=False)
    period = pd.to_datetime(frame["period"], format="%d-%m-%Y", errors="coerce")
    if period.isna().any():
        period = period.fillna(pd.to_datetime(frame["period"], errors="coerce"))
    _fail_rows(path, "period", period.isna(), frame["period"], "a date (DD-MM-YYYY or ISO)")
    frame["period"] = period
    frame["item_id"] = frame["item_id"].astype(str)
    if "category" not in frame:
        frame["category"] = None
    dup = frame.duplicated(["item_id", "period"], keep="first")
    _fail_rows(path, "period", dup, frame["period"].astype(str), "one row per item and period")
    frame["price_imputed"] = False
    optional = [c for c in ("competitor_price", "unit_cost") if c in frame]
    frame = frame[[*COLUMNS, *optional]].sort_values(["item_id", "period"], kind="stable")
    return PricePanel(frame.reset_index(drop=True), "M", str(path))


def _period_units(view: DemandView, freq: str) -> pd.DataFrame:
    d = view.daily
    period = d["date"].dt.to_period("W-SUN" if freq == "W" else "M").dt.start_time
    known = d["units"].notna()
    g = d.assign(period=period, known=known).groupby(["item_id", "period"], observed=True)
    out = g.agg(units=("units", "sum"), known=("known", "sum")).reset_index()
    out.loc[out["known"] == 0, "units"] = np.nan
    out["item_id"] = out["item_id"].astype(str)
    return out.drop(columns="known")


def _period_median_price(lines: pd.DataFrame, freq: str, items: set[str]) -> pd.DataFrame:
    sale = (
        lines["is_sale"]
        & lines["is_product"]
        & (lines["unit_price"] > 0)
        & lines["item_id"].astype(str).isin(items)
    )
    s = lines.loc[sale, ["item_id", "unit_price", "time"]]
    period = pd.to_datetime(s["time"]).dt.to_period("W-SUN" if freq == "W" else "M")
    s = s.assign(item_id=s["item_id"].astype(str), period=period.dt.start_time)
    g = s.groupby(["item_id", "period"], observed=True)["unit_price"].median()
    return g.rename("price").reset_index()


def _check_numbers(frame: pd.DataFrame, path: Path, field: str, *, positive: bool) -> None:
    values = pd.to_numeric(frame[field], errors="coerce")
    _fail_rows(path, field, values.isna(), frame[field], "a number")
    bad = values <= 0 if positive else values < 0
    _fail_rows(path, field, bad, frame[field], "> 0" if positive else ">= 0")
    frame[field] = values.astype(float)


def _fail_rows(path: Path, field: str, bad: pd.Series, values: pd.Series, want: str) -> None:
    if not bad.any():
        return
    rows = np.flatnonzero(bad.to_numpy())
    first = int(rows[0])
    # +2: the header is line 1 and rows count from 0
    raise ValueError(
        f"{path}: line {first + 2}, field {field!r}: {str(values.iloc[first])!r} is not {want}"
        + (f" ({len(rows)} rows like it)" if len(rows) > 1 else "")
    )

"""The demand view: product × day (and × week) series of units, revenue, paid price, orders.

Built from the order-line view (`shopsense.data.orders`: invoice_id, item_id, quantity,
unit_price, time, customer_id, with each line's `line_type` and its item's `kind`). Only
products count (kind "product"). Returns and cancellations are netted against the ORIGINAL
sale: per (customer, item) they take back units of that customer's earlier purchases, latest
first (`shopsense.data.returns.net_returns`), so the units leave the day they were sold, at
the price they were sold for. Lines without a customer match among themselves (the anonymous
customer ""). Returned units with no earlier purchase in the data are not subtracted
anywhere; `DemandView.unmatched_cancelled_units` counts them. Adjustment lines (stock
write-offs, bookkeeping) are not sales and are dropped.

Gaps are explicit. Every calendar day between the first and last order line is a row for every
product, with `status`:

- "sold": the product sold (net units > 0);
- "zero": the shop traded that day (some order line of any product) but this product had no
  net sale: zero demand;
- "closed": the shop did not trade at all (UCI: every Saturday, the Christmas break, bank
  holidays): demand unknown, `units` is NaN;
- "before": before the product's first sale: unknown, `units` is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopsense.data.orders import order_line_view
from shopsense.data.returns import net_returns

STATUSES = ("sold", "zero", "closed", "before")
REQUIRED = ("invoice_id", "item_id", "quantity", "unit_price", "time")


@dataclass
class DemandView:
    """Daily demand per product on a full calendar, with open/closed days marked.

    `daily` has one row per (item_id, date): units, revenue, orders, price (revenue / units,
    NaN without a sale), status (see the module docstring). `units`/`revenue`/`orders` are NaN
    where demand is unknown ("closed", "before") and 0 on "zero" days.
    """

    daily: pd.DataFrame
    open_days: pd.DatetimeIndex
    """Days the shop traded (any order line, any product, cancellations included)."""
    unmatched_cancelled_units: int = 0
    """Cancelled units whose original sale is not in the data (not subtracted)."""

    @property
    def items(self) -> list[str]:
        return list(self.daily["item_id"].cat.categories)

    @property
    def start(self) -> pd.Timestamp:
        return self.daily["date"].min()

    @property
    def end(self) -> pd.Timestamp:
        return self.daily["date"].max()

    def units_matrix(self) -> pd.DataFrame:
        """Units as a date × item_id frame (NaN where unknown)."""
        return self.daily.pivot(index="date", columns="item_id", values="units")

    def price_matrix(self) -> pd.DataFrame:
        """Average paid price as a date × item_id frame (NaN without a sale)."""
        return self.daily.pivot(index="date", columns="item_id", values="price")

    def until(self, cutoff: str | pd.Timestamp) -> DemandView:
        """Only the days strictly before `cutoff` (what a forecaster at `cutoff` may see)."""
        cutoff = pd.Timestamp(cutoff)
        daily = self.daily[self.daily["date"] < cutoff].reset_index(drop=True)
        return DemandView(daily, self.open_days[self.open_days < cutoff])

    def select(self, items: list[str]) -> DemandView:
        """Only these products."""
        daily = self.daily[self.daily["item_id"].isin(items)].copy()
        daily["item_id"] = daily["item_id"].cat.remove_unused_categories()
        return DemandView(daily.reset_index(drop=True), self.open_days)

    def top_items(self, n: int) -> list[str]:
        """The n products with the most net units."""
        totals = self.daily.groupby("item_id", observed=True)["units"].sum()
        return list(totals.sort_values(ascending=False, kind="stable").index[:n].astype(str))

    def weekly(self) -> pd.DataFrame:
        """Per (item_id, week starting Monday): units, revenue, orders, price, open_days.

        A week's units are the sum over its known days; a week with no known day for the
        product (closed all week, or before its first sale) has NaN units.
        """
        d = self.daily.assign(
            week=self.daily["date"].dt.to_period("W-SUN").dt.start_time,
            known=self.daily["units"].notna(),
        )
        g = d.groupby(["item_id", "week"], observed=True)
        out = g.agg(
            units=("units", "sum"),
            revenue=("revenue", "sum"),
            orders=("orders", "sum"),
            known_days=("known", "sum"),
        ).reset_index()
        unknown = out["known_days"] == 0
        out.loc[unknown, ["units", "revenue", "orders"]] = np.nan
        out["price"] = out["revenue"] / out["units"].where(out["units"] > 0)
        return out


def demand_view(
    order_lines: pd.DataFrame,
    *,
    items: pd.DataFrame | None = None,
    source: str = "order_lines",
) -> DemandView:
    """Build the daily demand view from order lines; see the module docstring for the rules.

    `order_lines` is the order-line view, or raw lines plus the catalogue's `items` (item_id,
    kind). Raises ValueError naming `source`, the row and the field for missing columns,
    unreadable quantities/prices/times and negative prices of real products.
    """
    missing = [c for c in REQUIRED if c not in order_lines.columns]
    if missing:
        raise ValueError(f"{source}: columns {missing} are missing")
    lines = order_line_view(order_lines, items, source=source)
    time = lines["time"]
    items_ = lines["item_id"].astype("string")
    products = lines["is_product"].to_numpy(dtype=bool)
    qty = lines["quantity"]
    price = lines["unit_price"]
    _check_readable(source, lines, "quantity", qty.isna() & products)
    _check_readable(source, lines, "unit_price", price.isna() & products)
    negative = products & (price < 0).to_numpy(dtype=bool)
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        raise ValueError(
            f"{source}: row {row} field 'unit_price': negative price {price.iloc[row]} for item "
            f"{items_.iloc[row]!r} ({int(negative.sum())} such rows)"
        )
    open_days = pd.DatetimeIndex(time.dt.normalize().unique()).sort_values()
    invoice = lines["invoice_id"].astype("string")
    cancel = lines["takes_back"].to_numpy(dtype=bool) & (qty < 0).to_numpy()
    customer = (
        lines["customer_id"].astype("string").fillna("")
        if "customer_id" in lines.columns
        else pd.Series("", index=lines.index, dtype="string")
    )
    frame = pd.DataFrame(
        {"customer": customer, "item": items_, "time": time, "qty": qty.fillna(0).astype("int64")}
    )
    is_sale = products & lines["is_sale"].to_numpy(dtype=bool)
    purchases = frame[is_sale]
    cancels = frame[products & cancel]
    netted = net_returns(purchases, cancels)
    matched = int(netted["cancelled_units"].sum())
    unmatched = int(-cancels["qty"].sum()) - matched
    sales = pd.DataFrame(
        {
            "item_id": items_[is_sale].to_numpy(),
            "date": time[is_sale].dt.normalize().to_numpy(),
            "invoice_id": invoice[is_sale].to_numpy(),
            "units": (purchases["qty"] - netted["cancelled_units"]).to_numpy(dtype=float),
            "price": price[is_sale].to_numpy(),
        }
    )
    sales = sales[sales["units"] > 0]
    sales["revenue"] = sales["units"] * sales["price"]
    per_day = sales.groupby(["item_id", "date"]).agg(
        units=("units", "sum"), revenue=("revenue", "sum"), orders=("invoice_id", "nunique")
    )
    if per_day.empty:
        raise ValueError(f"{source}: no sale of a real product")
    calendar = pd.date_range(open_days[0], open_days[-1], freq="D", name="date")
    item_ids = sorted(per_day.index.get_level_values("item_id").unique())
    full = pd.MultiIndex.from_product([item_ids, calendar], names=["item_id", "date"])
    daily = per_day.reindex(full).reset_index()
    first = daily.groupby("item_id")["units"].transform(lambda s: s.first_valid_index())
    before = daily.index.to_numpy() < first.to_numpy()
    is_open = daily["date"].isin(open_days).to_numpy()
    sold = daily["units"].notna().to_numpy()
    status = np.where(sold, "sold", np.where(before, "before", np.where(is_open, "zero", "closed")))
    daily["status"] = pd.Categorical(status, categories=STATUSES)
    zero = status == "zero"
    daily.loc[zero, ["units", "revenue", "orders"]] = 0.0
    daily["price"] = daily["revenue"] / daily["units"].where(daily["units"] > 0)
    daily["item_id"] = pd.Categorical(daily["item_id"], categories=item_ids)
    daily = daily[["item_id", "date", "units", "revenue", "orders", "price", "status"]]
    return DemandView(daily, open_days, unmatched)


def _check_readable(source: str, lines: pd.DataFrame, field: str, bad: pd.Series) -> None:
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{source}: row {row} field {field!r}: unreadable value {lines[field].iloc[row]!r} "
            f"({int(bad.sum())} such rows)"
        )

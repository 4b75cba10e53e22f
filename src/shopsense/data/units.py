"""Scoreable units: one feature row per order or session, and its sequence of steps.

Built from the invoice-line view (`shopsense.data.invoices`) and the session view
(`shopsense.data.sessions`), with prices and popularity measured against a training-period
reference (`shopsense.data.references`). Anomaly detectors take units and nothing rawer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopsense.data.invoices import invoice_lines
from shopsense.data.references import (
    OrderReference,
    SessionReference,
    order_reference,
    session_reference,
)
from shopsense.data.sessions import session_events

RATIO_LIMIT = float(np.log(1000.0))
"""Price ratios (log of price / the item's usual price) are clipped to ±log(1000); a zero or
negative price counts as 1000 times below the usual price."""
OFF_PRICE = float(np.log(2.0))
"""A line is "far from its usual price" when it costs under half or over twice the median."""


@dataclass(frozen=True, eq=False)
class Units:
    """Scoreable units: one feature row each, and each one's sequence of steps."""

    kind: str
    """"order" or "session"."""
    features: pd.DataFrame
    """Index: unit id (str); one float column per unit feature."""
    steps: pd.DataFrame
    """Column `unit` (the unit id), then one float column per step feature; in sequence order
    within each unit."""
    step_name: str
    """What a step is ("line", "event"); step features are named `<step_name>.<column>`."""
    start: pd.Series
    """Index: unit id; when the unit began (for temporal splits)."""

    def __post_init__(self) -> None:
        if self.features.empty:
            raise ValueError(f"no {self.kind} units: nothing to score")
        if "unit" not in self.steps.columns:
            raise ValueError("steps need a 'unit' column naming each step's unit")
        for name, frame in (("feature", self.features), ("step feature", self.step_frame)):
            values = frame.to_numpy(dtype=float)
            if not np.isfinite(values).all():
                column = frame.columns[np.flatnonzero(~np.isfinite(values).all(axis=0))[0]]
                raise ValueError(f"{self.kind} {name} {column!r} has missing or infinite values")
        have = set(self.steps["unit"].unique())
        if len(have) != len(self.features) or not have <= set(self.features.index):
            raise ValueError(f"every {self.kind} unit needs at least one {self.step_name}")

    def __len__(self) -> int:
        return len(self.features)

    def __repr__(self) -> str:
        return (
            f"Units({self.kind}: {len(self)} units, {self.features.shape[1]} features, "
            f"{len(self.steps)} {self.step_name}s with {self.step_frame.shape[1]} features)"
        )

    @property
    def ids(self) -> np.ndarray:
        """Unit ids, in row order."""
        return self.features.index.to_numpy()

    @property
    def step_frame(self) -> pd.DataFrame:
        """The step features without the `unit` column."""
        return self.steps.drop(columns="unit")

    @property
    def feature_names(self) -> list[str]:
        """Unit features, then step features as `<step_name>.<column>`."""
        steps = [f"{self.step_name}.{c}" for c in self.step_frame.columns]
        return [*self.features.columns, *steps]

    def without(self, names: Iterable[str]) -> Units:
        """The same units without some features (unit or `<step_name>.<column>` names)."""
        names = set(names)
        unknown = names - set(self.feature_names)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; have {self.feature_names}")
        prefix = f"{self.step_name}."
        steps = [n.removeprefix(prefix) for n in names if n.startswith(prefix)]
        return Units(
            self.kind,
            self.features.drop(columns=[n for n in names if n in self.features.columns]),
            self.steps.drop(columns=steps),
            self.step_name,
            self.start,
        )

    def subset(self, ids: Iterable[str]) -> Units:
        """Only the units `ids` (in that order)."""
        ids = pd.Index(list(ids))
        steps = self.steps[self.steps["unit"].isin(ids)]
        return Units(self.kind, self.features.loc[ids], steps, self.step_name, self.start[ids])

    def sample(self, n: int, random_state: int = 0) -> Units:
        """At most `n` units drawn at random (seeded), in their original order."""
        if n <= 0 or n >= len(self):
            return self
        keep = np.random.default_rng(random_state).choice(len(self), n, replace=False)
        return self.subset(self.ids[np.sort(keep)])


def order_units(
    order_lines: pd.DataFrame,
    *,
    reference: OrderReference | None = None,
    source: str = "order_lines",
) -> Units:
    """One unit per invoice of the raw lines (guests, cancellations and fees included).

    Unit features: lines_log, units_log, value_log (log1p of absolute totals),
    quantity_max_log, quantity_mean_log, price_max_log, price_min_log, price_ratio_min /
    price_ratio_max (log of price / the item's usual price), off_price_share (lines under half
    or over twice it), distinct_share, popularity_mean (log1p lines of the item), hour,
    weekday, guest, non_product_share, negative_share and cancelled (the invoice returns or
    cancels something: a line of type return or cancellation).
    Step (line) features: quantity_log, price_log, price_ratio, popularity, negative,
    non_product. Quantities enter as absolute values, so a cancellation shows only through
    negative_share, line.negative and cancelled. `reference` defaults to these lines' own.
    """
    lines = invoice_lines(order_lines, source)
    if reference is None:
        reference = order_reference(lines)
    qty = lines["quantity"].to_numpy(dtype=float)
    price = lines["unit_price"].to_numpy(dtype=float)
    usual = lines["item_id"].map(reference.price).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(price / usual)
    ratio = np.where(np.isnan(usual), 0.0, np.where(price > 0, ratio, -RATIO_LIMIT))
    ratio = np.clip(ratio, -RATIO_LIMIT, RATIO_LIMIT)
    popularity = np.log1p(lines["item_id"].map(reference.lines).fillna(0.0).to_numpy(dtype=float))
    steps = pd.DataFrame(
        {
            "unit": lines["invoice_id"].to_numpy(),
            "quantity_log": np.log1p(np.abs(qty)),
            "price_log": np.log1p(np.abs(price)),
            "price_ratio": ratio,
            "popularity": popularity,
            "negative": (qty < 0).astype(float),
            "non_product": (~lines["is_product"]).to_numpy(dtype=float),
        }
    )
    work = steps.assign(
        abs_q=np.abs(qty),
        value=np.abs(qty * price),
        off=(np.abs(ratio) > OFF_PRICE).astype(float),
        item=lines["item_id"].to_numpy(),
        guest=lines["customer_id"].isna().to_numpy(dtype=float),
        takes_back=lines["takes_back"].to_numpy(dtype=float),
        time=lines["time"].to_numpy(),
    )
    g = work.groupby("unit", sort=False)
    n = g.size().astype(float)
    first = g["time"].min()
    features = pd.DataFrame(
        {
            "lines_log": np.log1p(n),
            "units_log": np.log1p(g["abs_q"].sum()),
            "value_log": np.log1p(g["value"].sum()),
            "quantity_max_log": g["quantity_log"].max(),
            "quantity_mean_log": np.log1p(g["abs_q"].mean()),
            "price_max_log": g["price_log"].max(),
            "price_min_log": g["price_log"].min(),
            "price_ratio_min": g["price_ratio"].min(),
            "price_ratio_max": g["price_ratio"].max(),
            "off_price_share": g["off"].mean(),
            "distinct_share": g["item"].nunique() / n,
            "popularity_mean": g["popularity"].mean(),
            "hour": first.dt.hour + first.dt.minute / 60.0,
            "weekday": first.dt.day_of_week.astype(float),
            "guest": g["guest"].max(),
            "non_product_share": g["non_product"].mean(),
            "negative_share": g["negative"].mean(),
        }
    )
    features["cancelled"] = g["takes_back"].max()
    features.index.name = "invoice_id"
    return Units("order", features.astype(float), steps, "line", first)


def session_units(
    events: pd.DataFrame,
    *,
    reference: SessionReference | None = None,
    source: str = "events",
) -> Units:
    """One unit per session of events (rows without a session id are left out).

    Unit features: events_log, duration_log (log1p seconds), distinct_share, gap_mean_log /
    gap_min_log / gap_max_log (log1p seconds between consecutive events), gap_cv (std / mean
    of the gaps: 0 for perfectly regular ones; 1, as for random arrivals, with fewer than
    two gaps) and popularity_mean (log1p views of the item in the reference). Step (event)
    features: gap_log (0 for the first event), repeat (item seen earlier in the session),
    popularity. `reference` defaults to these events' own.
    """
    ev = session_events(events, source)
    if reference is None:
        reference = session_reference(ev)
    gap = ev.groupby("session_id", sort=False)["timestamp"].diff().dt.total_seconds()
    popularity = np.log1p(ev["item_id"].map(reference.views).fillna(0.0).to_numpy(dtype=float))
    steps = pd.DataFrame(
        {
            "unit": ev["session_id"].to_numpy(),
            "gap_log": np.log1p(gap.fillna(0.0).clip(lower=0.0).to_numpy()),
            "repeat": ev.duplicated(["session_id", "item_id"]).to_numpy(dtype=float),
            "popularity": popularity,
        }
    )
    work = steps.assign(
        gap=gap.clip(lower=0.0).to_numpy(),
        item=ev["item_id"].to_numpy(),
        time=ev["timestamp"].to_numpy(),
    )
    g = work.groupby("unit", sort=False)
    n = g.size().astype(float)
    gap_log = work.assign(gap=np.log1p(work["gap"])).groupby("unit", sort=False)["gap"]
    neutral = float(np.log1p(reference.gap_median_s))
    mean, std, count = g["gap"].mean(), g["gap"].std(ddof=0), g["gap"].count()
    cv = (std / mean).where((count >= 2) & (mean > 0), 1.0)
    start = g["time"].min()
    features = pd.DataFrame(
        {
            "events_log": np.log1p(n),
            "duration_log": np.log1p((g["time"].max() - start).dt.total_seconds()),
            "distinct_share": g["item"].nunique() / n,
            "gap_mean_log": gap_log.mean().fillna(neutral),
            "gap_min_log": gap_log.min().fillna(neutral),
            "gap_max_log": gap_log.max().fillna(neutral),
            "gap_cv": cv,
            "popularity_mean": g["popularity"].mean(),
        }
    )
    features.index.name = "session_id"
    return Units("session", features.astype(float), steps, "event", start)


__all__ = ["OFF_PRICE", "RATIO_LIMIT", "Units", "order_units", "session_units"]

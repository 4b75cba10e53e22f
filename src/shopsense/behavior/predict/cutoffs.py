"""Cut-offs: the past/future split at a cut-off, its checks, the label window, rolling cut-offs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopsense.data.customers import DAY, CustomerHistory


@dataclass(frozen=True)
class TemporalSplit:
    """Inputs as of `cutoff` and what each of those customers did in the next `horizon_days`."""

    past: CustomerHistory
    """The history strictly before the cut-off: the only thing a model may read."""
    labels: pd.DataFrame
    """Per customer of `past` (index customer_id): purchased (bool), purchases (invoices
    bought in the window) and value (net spend in the window, purchases less cancellations,
    floored at 0)."""
    cutoff: pd.Timestamp
    horizon_days: int

    @property
    def end(self) -> pd.Timestamp:
        return self.cutoff + self.horizon_days * DAY


def temporal_split(
    history: CustomerHistory, cutoff: pd.Timestamp | str, horizon_days: int
) -> TemporalSplit:
    """Inputs before `cutoff`, labels from [cutoff, cutoff + horizon_days).

    Only customers with a purchase before the cut-off are labelled (a model cannot score
    anyone else). Raises ValueError when the cut-off lies outside the data, no customer has
    bought before it, or the label window runs past the end of `history`.
    """
    cutoff = pd.Timestamp(cutoff)
    check_window(history, cutoff, horizon_days)
    past = history.until(cutoff)
    labels = next_period(history, past.customers, cutoff, horizon_days)
    return TemporalSplit(past, labels, cutoff, int(horizon_days))


def check_window(history: CustomerHistory, cutoff: pd.Timestamp, horizon_days: int) -> None:
    """Raise a ValueError that says how to fix a cut-off / horizon the data cannot label."""
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be at least 1, not {horizon_days}")
    if history.lines.empty:
        raise ValueError("the history has no customer lines")
    start, end = history.lines["time"].min(), history.cutoff
    if cutoff > end:
        raise ValueError(
            f"cut-off {cutoff:%Y-%m-%d} is after the end of the data (lines before {end:%Y-%m-%d})"
        )
    if cutoff <= start or history.until(cutoff).invoices.empty:
        raise ValueError(
            f"no customer has a purchase before the cut-off {cutoff:%Y-%m-%d} "
            f"(the data starts {start:%Y-%m-%d})"
        )
    if cutoff + horizon_days * DAY > end:
        latest = end - horizon_days * DAY
        raise ValueError(
            f"the {horizon_days}-day horizon after the cut-off {cutoff:%Y-%m-%d} runs past the "
            f"end of the data ({end:%Y-%m-%d}); use a cut-off on or before {latest:%Y-%m-%d}"
        )


def next_period(
    history: CustomerHistory,
    customers: Iterable[str],
    cutoff: pd.Timestamp | str,
    horizon_days: int,
) -> pd.DataFrame:
    """What `customers` did in [cutoff, cutoff + horizon_days): purchased, purchases, value."""
    cutoff = pd.Timestamp(cutoff)
    index = pd.Index(np.asarray(list(customers), dtype=object).astype(str), name="customer_id")
    window = history.between(cutoff, cutoff + horizon_days * DAY)
    window = window[window["customer_id"].isin(index)]
    bought = window[~window["cancelled"] & (window["value"] > 0)]
    purchases = bought.groupby("customer_id")["invoice_id"].nunique()
    value = window.groupby("customer_id")["value"].sum()
    out = pd.DataFrame(index=index)
    out["purchases"] = purchases.reindex(index).fillna(0).astype(int)
    out["purchased"] = out["purchases"] > 0
    out["value"] = value.reindex(index).fillna(0.0).clip(lower=0.0).astype(float)
    return out


def rolling_cutoffs(
    history: CustomerHistory,
    horizon_days: int,
    *,
    n: int = 6,
    step_days: int = 30,
    end: pd.Timestamp | str | None = None,
) -> list[pd.Timestamp]:
    """Up to `n` training cut-offs `step_days` apart, oldest first, the latest one's label
    window ending by `end` (default: the end of `history`). Pass the evaluation cut-off as
    `end` and no training label comes from the evaluated period. Cut-offs before anyone's
    first purchase are dropped; none left is an error."""
    end = history.cutoff if end is None else pd.Timestamp(end)
    if end > history.cutoff:
        raise ValueError(
            f"end {end:%Y-%m-%d} is after the end of the data ({history.cutoff:%Y-%m-%d})"
        )
    latest = (end - horizon_days * DAY).normalize()
    cutoffs = [latest - k * step_days * DAY for k in range(n)]
    first = history.invoices["time"].min() if len(history.lines) else pd.NaT
    kept = sorted(c for c in cutoffs if pd.notna(first) and c > first)
    if not kept:
        raise ValueError(
            f"no training cut-off fits: a {horizon_days}-day window ending by {end:%Y-%m-%d} "
            f"leaves no purchase history before it"
        )
    return kept

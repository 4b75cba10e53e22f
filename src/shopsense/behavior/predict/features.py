"""Model inputs at a cut-off: customer features and the latest invoices as steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopsense.data.customers import DAY, CustomerHistory

STEP_FEATURES = ("log_value", "log_lines", "log_gap_days", "log_age_days", "month_sin", "month_cos")


#: count- and money-like features, heavily right-skewed: models read log1p of them
LOG_FEATURES = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "basket_value",
    "basket_lines",
    "basket_units",
    "distinct_items",
    "cancel_invoices",
    "gap_mean_days",
    "gap_median_days",
    "gap_std_days",
)


def customer_features(history: CustomerHistory) -> pd.DataFrame:
    """`history.features()` ready for a model: log1p of the skewed counts and amounts, no
    NaN (customers with one order get gap 0 and `single_order` 1). Same cut-off, same rows."""
    raw = history.features()
    out = raw.copy()
    for name in LOG_FEATURES:
        out[name] = np.log1p(raw[name].clip(lower=0.0))
    out["single_order"] = raw["gap_mean_days"].isna().astype(float)
    return out.fillna(0.0)


@dataclass
class ModelInputs:
    """Per customer at one cut-off: static features and the latest invoices as steps."""

    customers: np.ndarray
    static: np.ndarray
    """(n, features) float32"""
    steps: np.ndarray
    """(n, max_length, len(STEP_FEATURES)) float32, left-aligned, zero padded"""
    lengths: np.ndarray
    """(n,) int64: real steps per customer (>= 1)"""

    def __len__(self) -> int:
        return len(self.customers)

    def take(self, rows: np.ndarray) -> ModelInputs:
        return ModelInputs(
            self.customers[rows], self.static[rows], self.steps[rows], self.lengths[rows]
        )

    @staticmethod
    def concat(parts: Sequence[ModelInputs]) -> ModelInputs:
        return ModelInputs(
            np.concatenate([p.customers for p in parts]),
            np.concatenate([p.static for p in parts]),
            np.concatenate([p.steps for p in parts]),
            np.concatenate([p.lengths for p in parts]),
        )


def model_inputs(
    history: CustomerHistory,
    feature_names: Sequence[str],
    max_length: int,
    features: pd.DataFrame | None = None,
) -> ModelInputs:
    """Static features (in `feature_names` order; missing product groups are 0) and the
    invoice sequence of every customer with a purchase before `history.cutoff`."""
    features = customer_features(history) if features is None else features
    static = features.reindex(columns=list(feature_names), fill_value=0.0)
    customers = static.index.to_numpy().astype(str)
    steps, lengths = invoice_steps(history, customers, max_length)
    return ModelInputs(customers, static.to_numpy(np.float32), steps, lengths)


def invoice_steps(
    history: CustomerHistory, customers: np.ndarray, max_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """The latest `max_length` invoices of each customer as `STEP_FEATURES` rows."""
    inv = history.invoices
    rows = pd.Index(customers).get_indexer(inv["customer_id"])
    inv, rows = inv[rows >= 0], rows[rows >= 0]
    g = inv.groupby("customer_id", sort=False)
    gap = (g["time"].diff() / DAY).fillna(0.0).to_numpy()
    age = ((history.cutoff - inv["time"]) / DAY).to_numpy()
    angle = 2 * np.pi * (inv["time"].dt.month.to_numpy() - 1) / 12
    values = np.column_stack(
        [
            np.log1p(inv["value"].to_numpy()),
            np.log1p(inv["lines"].to_numpy()),
            np.log1p(gap),
            np.log1p(age),
            np.sin(angle),
            np.cos(angle),
        ]
    ).astype(np.float32)
    from_end = g.cumcount(ascending=False).to_numpy()
    lengths = np.minimum(np.bincount(rows, minlength=len(customers)), max_length)
    keep = from_end < max_length
    position = lengths[rows] - 1 - from_end
    steps = np.zeros((len(customers), max_length, len(STEP_FEATURES)), np.float32)
    steps[rows[keep], position[keep]] = values[keep]
    return steps, lengths.astype(np.int64)

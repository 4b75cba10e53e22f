"""RFM: quantile scores 1–5 and the fixed rules that name a customer's segment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from shopsense.behavior.segments.config import RFM_COLUMNS
from shopsense.behavior.segments.inputs import _require


def quantile_score(values: Sequence[float], reference: Sequence[float], n: int = 5) -> np.ndarray:
    """1..n by each value's mid-rank percentile among `reference`.

    The percentile counts reference values below plus half of those equal, so equal values
    always share a score (no arbitrary tie-breaking) and a new customer is scored against the
    customers the scores were fitted on. Heavy ties (a third of customers with one order)
    may leave a score unused rather than split identical customers.
    """
    if len(reference) == 0:
        raise ValueError("quantile_score needs at least one reference value")
    p = _mid_rank(np.asarray(values, dtype=float), reference)
    return np.clip(1 + np.floor(n * p).astype(int), 1, n)


def _mid_rank(values: Any, reference: Sequence[float]) -> Any:
    """Share of `reference` below each value, counting equal values as half below."""
    ref = np.sort(np.asarray(reference, dtype=float))
    below = np.searchsorted(ref, values, side="left")
    upto = np.searchsorted(ref, values, side="right")
    return (below + 0.5 * (upto - below)) / ref.size


def rfm_scores(features: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """r_score, f_score, m_score (1–5) per customer, quantiles of `reference` (default:
    `features` itself); recency is reversed, so 5 is the most recent."""
    _require(features, RFM_COLUMNS, "rfm_scores")
    ref = features if reference is None else reference
    return pd.DataFrame(
        {
            "r_score": quantile_score(-features["recency_days"], -ref["recency_days"]),
            "f_score": quantile_score(features["frequency"], ref["frequency"]),
            "m_score": quantile_score(features["monetary"], ref["monetary"]),
        },
        index=features.index,
    )


def rfm_segment_labels(scores: pd.DataFrame) -> np.ndarray:
    """Index into `RFM_SEGMENTS` of each customer's (r_score, f_score, m_score)."""
    r, f, m = (scores[c].to_numpy() for c in ("r_score", "f_score", "m_score"))
    fm = (f + m) / 2
    rules = [
        (r >= 4) & (f >= 4) & (m >= 4),
        (r >= 3) & (f >= 4),
        (r <= 2) & (fm >= 4),
        (r <= 2) & (fm >= 3),
        (r >= 4) & (f == 1),
        r >= 4,
        (r == 3) & (fm >= 3),
        r == 3,
        r == 2,
        r <= 1,
    ]
    return np.select(rules, np.arange(len(rules)), default=len(rules) - 1).astype(np.int64)

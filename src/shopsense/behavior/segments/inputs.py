"""The customer-feature frame a segmenter reads, and the check that it has the columns needed."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from shopsense.data.customers import CustomerHistory


def _features(data: CustomerHistory | pd.DataFrame) -> pd.DataFrame:
    return data.features() if isinstance(data, CustomerHistory) else data


def _require(features: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {missing}; pass CustomerHistory.features() or a frame "
            "with recency_days, frequency and monetary"
        )

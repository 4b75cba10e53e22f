"""Customer features for the network: log-scaling, gap imputation, standardising, checks."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd

from shopsense.behavior.segments.config import LOG_COLUMNS, RFM_COLUMNS
from shopsense.behavior.segments.inputs import _require


@dataclass
class FeatureScaler:
    """Customer features → standardised matrix: log1p on skewed columns, NaN gaps filled
    with the training median plus one 0/1 indicator per distinct gap pattern, then
    z-scores. Every statistic comes from the customers it was fitted on."""

    columns: list[str] = field(default_factory=list)
    log_columns: list[str] = field(default_factory=list)
    indicators: dict[str, list[str]] = field(default_factory=dict)
    """indicator name -> the columns whose gaps it marks (gaps in the same rows share one)"""
    median: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    std: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def output_columns(self) -> list[str]:
        return self.columns + list(self.indicators)

    def fit(self, features: pd.DataFrame) -> Self:
        self.columns = [str(c) for c in features.columns]
        self.log_columns = [c for c in self.columns if c in LOG_COLUMNS]
        raw = self._logged(features)
        with warnings.catch_warnings():  # a column empty among the training customers: 0
            warnings.simplefilter("ignore", RuntimeWarning)
            self.median = np.nan_to_num(np.nanmedian(raw, axis=0))
        self.indicators = {}
        seen: dict[bytes, str] = {}
        for j, name in enumerate(self.columns):
            gaps = np.isnan(raw[:, j])
            if gaps.any():
                key = np.packbits(gaps).tobytes()
                first = seen.setdefault(key, f"{name}_missing")
                self.indicators.setdefault(first, []).append(name)
        x = self._filled(raw)
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.std = np.where(std > 1e-12, std, 1.0)
        return self

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """(customers, output_columns) float32 z-scores."""
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise ValueError(f"features lack column(s) {missing} that the segmenter was fit on")
        x = self._filled(self._logged(features))
        return ((x - self.mean) / self.std).astype(np.float32)

    def _logged(self, features: pd.DataFrame) -> np.ndarray:
        raw = features[self.columns].to_numpy(dtype=float, copy=True)
        for j, name in enumerate(self.columns):
            if name in self.log_columns:
                raw[:, j] = np.sign(raw[:, j]) * np.log1p(np.abs(raw[:, j]))
        return raw

    def _filled(self, raw: np.ndarray) -> np.ndarray:
        gaps = np.isnan(raw)
        flags = [
            gaps[:, [self.columns.index(c) for c in cols]].any(axis=1)
            for cols in self.indicators.values()
        ]
        filled = np.where(gaps, self.median, raw)
        return np.column_stack([filled, *flags]).astype(float) if flags else filled

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"scaler.median": self.median, "scaler.mean": self.mean, "scaler.std": self.std}

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "log": self.log_columns, "indicators": self.indicators}

    @classmethod
    def from_saved(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> FeatureScaler:
        return cls(
            list(meta["columns"]),
            list(meta["log"]),
            {k: list(v) for k, v in meta["indicators"].items()},
            arrays["scaler.median"],
            arrays["scaler.mean"],
            arrays["scaler.std"],
        )


def check_features(
    features: pd.DataFrame, where: str = "features", drop_empty: bool = True
) -> tuple[pd.DataFrame, list[str]]:
    """Numeric customer features with the RFM columns; with `drop_empty` (when fitting),
    columns without any value are dropped and noted.

    Raises ValueError for an empty frame, missing RFM columns, text columns or infinite
    values, naming the columns.
    """
    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"{where}: expected a CustomerHistory or a features DataFrame")
    if features.empty:
        raise ValueError(f"{where} is empty: no customers to segment")
    _require(features, RFM_COLUMNS, where)
    text = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if text:
        raise ValueError(f"{where}: column(s) {text} are not numeric; pass features() output")
    values = features.astype(float)
    infinite = [str(c) for c in values.columns if np.isinf(values[c]).any()]
    if infinite:
        raise ValueError(f"{where}: column(s) {infinite} hold infinite values")
    gaps = [c for c in RFM_COLUMNS if values[c].isna().any()]
    if gaps:
        raise ValueError(f"{where}: recency/frequency/monetary must be known; gaps in {gaps}")
    empty = [str(c) for c in values.columns if drop_empty and values[c].isna().all()]
    notes = [f"column(s) {empty} have no values and were left out"] if empty else []
    return values.drop(columns=empty), notes

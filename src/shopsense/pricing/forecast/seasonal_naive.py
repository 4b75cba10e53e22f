"""The seasonal-naive forecast: same weekday last week. The yardstick of every other
forecaster (MASE divides by its in-sample error)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopsense.estimator import register
from shopsense.pricing.forecast.base import Forecaster
from shopsense.pricing.forecast.series import SEASON, DailySeries


@register("forecast_seasonal_naive")
class SeasonalNaive(Forecaster):
    """Per product and weekday, the last known value on that weekday (else 0)."""

    legacy_kinds = ("seasonal_naive",)

    def _forecast(
        self, series: DailySeries, future: pd.DatetimeIndex, is_open: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return seasonal_naive(series, future), {}


def seasonal_naive(series: DailySeries, future: pd.DatetimeIndex) -> np.ndarray:
    """(N, H): per weekday, the product's last known value on that weekday (else 0)."""
    last = np.zeros((7, len(series.items)))
    dows = series.dates.day_of_week.to_numpy()
    tail = max(0, len(series.dates) - 8 * SEASON)
    for t in range(tail, len(series.dates)):  # later days overwrite earlier ones
        row = series.units[t]
        known = np.isfinite(row)
        last[dows[t], known] = row[known]
    return last[future.day_of_week.to_numpy()].T

"""Additive-seasonal exponential smoothing, ETS(A,N,A), on log1p units with a weekly season
(Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", ch. 8). Per product, the
smoothing parameters with the least one-step squared error on a small grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from shopsense.estimator import register
from shopsense.persist import atomic_write
from shopsense.pricing.forecast.base import Forecaster
from shopsense.pricing.forecast.series import SEASON, DailySeries

ALPHAS = (0.01, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.45)
GAMMAS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)


@register("forecast_ets")
class ETS(Forecaster):
    """ETS(A,N,A) per product; learns `alpha_` (level) and `gamma_` (season) per product."""

    legacy_kinds = ("ets",)

    def _fit(self, series: DailySeries) -> None:
        self.alpha_, self.gamma_ = fit_ets(series)

    def _forecast(
        self, series: DailySeries, future: pd.DatetimeIndex, is_open: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        alpha, gamma = self._params_for(series.items)
        return run_ets(series, alpha, gamma, future), {}

    def _params_for(self, items: list[str]) -> tuple[np.ndarray, np.ndarray]:
        index = {item: i for i, item in enumerate(self.items_)}
        unknown = [i for i in items if i not in index]
        if unknown:
            raise ValueError(f"ets was not fitted on items {unknown[:5]} ({len(unknown)} items)")
        rows = [index[i] for i in items]
        return self.alpha_[rows], self.gamma_[rows]

    def _save_weights(self, path: Path) -> None:
        arrays = {"alpha": self.alpha_, "gamma": self.gamma_}
        atomic_write(path, lambda tmp: save_file(arrays, tmp))

    def _load_weights(self, path: Path) -> None:
        arrays = load_file(path)
        self.alpha_, self.gamma_ = arrays["alpha"], arrays["gamma"]


def ets_filter(
    series: DailySeries, alpha: np.ndarray, gamma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ETS(A,N,A) on log1p units for parameter arrays broadcast against (N,).

    Unknown days skip the update. Returns (level, seasonal (7, ...), sse).
    """
    y = np.log1p(series.units)
    dows = series.dates.day_of_week.to_numpy()
    shape = np.broadcast(alpha, gamma, y[0]).shape
    known = np.isfinite(y)
    first = np.where(known.any(axis=0), known.argmax(axis=0), len(y))
    # initial level: mean of the first 14 days after the first sale; season: 0
    level = np.zeros(shape)
    init = np.zeros(y.shape[1])
    for j, f in enumerate(first):
        vals = y[f : f + 14, j]
        init[j] = np.nanmean(vals) if np.isfinite(vals).any() else 0.0
    level = level + init
    season = np.zeros((7, *shape))
    sse = np.zeros(shape)
    for t in range(len(y)):
        obs = known[t]
        if not obs.any():
            continue
        s = season[dows[t]]
        err = np.where(obs, np.nan_to_num(y[t]) - level - s, 0.0)
        warm = t >= first + SEASON
        sse += np.where(warm & obs, err**2, 0.0)
        level = level + alpha * err
        season[dows[t]] = s + gamma * err
    return level, season, sse


def fit_ets(series: DailySeries) -> tuple[np.ndarray, np.ndarray]:
    """Per product, the (alpha, gamma) of the grid with the least one-step squared error."""
    grid = np.array([(a, g) for a in ALPHAS for g in GAMMAS])
    _, _, sse = ets_filter(series, grid[:, :1], grid[:, 1:])  # (C, N)
    best = sse.argmin(axis=0)
    return grid[best, 0].copy(), grid[best, 1].copy()


def run_ets(
    series: DailySeries, alpha: np.ndarray, gamma: np.ndarray, future: pd.DatetimeIndex
) -> np.ndarray:
    """(N, H) forecasts of the filtered level plus the weekday's season, back from log1p."""
    level, season, _ = ets_filter(series, alpha, gamma)
    s = season[future.day_of_week.to_numpy()]  # (H, N)
    return np.expm1(level[None, :] + s).T

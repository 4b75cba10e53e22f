"""A demand view as day × product arrays, the shop's expected calendar, and the history a
forecaster needs: what every forecaster reads, whatever it learns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopsense.data.demand import DemandView

SEASON = 7
"""Days in the weekly season."""


@dataclass
class DailySeries:
    """A view as arrays: days × items."""

    dates: pd.DatetimeIndex
    items: list[str]
    units: np.ndarray  # (T, N) float, NaN unknown
    price: np.ndarray  # (T, N) float, NaN without a sale
    open: np.ndarray  # (T,) bool

    @classmethod
    def of(cls, view: DemandView) -> DailySeries:
        units = view.units_matrix()
        price = view.price_matrix().reindex(index=units.index, columns=units.columns)
        dates = pd.DatetimeIndex(units.index)
        return cls(
            dates,
            [str(c) for c in units.columns],
            units.to_numpy(dtype=float),
            price.to_numpy(dtype=float),
            dates.isin(view.open_days),
        )

    def known_days(self) -> np.ndarray:
        return np.isfinite(self.units).sum(axis=0)


def expected_open(
    history: pd.DatetimeIndex, history_open: np.ndarray, dates: pd.DatetimeIndex
) -> np.ndarray:
    """Whether the shop is expected to trade on `dates`, from the history's calendar only.

    Closed: weekdays on which it traded in less than half of the history's weeks, and the
    Christmas break (24 Dec – 3 Jan). Dates inside the history use the actual calendar.
    """
    dow = pd.Series(history_open, index=history.day_of_week).groupby(level=0).mean()
    share = dow.reindex(range(7), fill_value=0.0).to_numpy()
    out = share[dates.day_of_week] >= 0.5
    xmas = ((dates.month == 12) & (dates.day >= 24)) | ((dates.month == 1) & (dates.day <= 3))
    out &= ~np.asarray(xmas)
    inside = dates.isin(history)
    if inside.any():
        pos = history.get_indexer(dates[inside])
        out[inside] = history_open[pos]
    return out


def calendar_features(dates: pd.DatetimeIndex) -> np.ndarray:
    """(len, 9): weekday one-hot, month sin/cos."""
    onehot = np.eye(7, dtype=np.float32)[dates.day_of_week]
    angle = 2 * np.pi * (dates.month.to_numpy() - 1) / 12
    return np.column_stack([onehot, np.sin(angle), np.cos(angle)]).astype(np.float32)


def check_history(series: DailySeries, min_history: int, min_sales: int) -> None:
    """ValueError naming the products with too little history to be forecast."""
    known = series.known_days()
    sales = (np.nan_to_num(series.units) > 0).sum(axis=0)
    short = [
        (item, int(k), int(n))
        for item, k, n in zip(series.items, known, sales, strict=True)
        if k < min_history or n < min_sales
    ]
    if short:
        listed = ", ".join(f"{i!r} ({k} days, {n} with a sale)" for i, k, n in short[:5])
        raise ValueError(
            f"too little history to forecast: {len(short)} products have fewer than "
            f"{min_history} known days (open days since the first sale) or fewer than "
            f"{min_sales} days with a sale: {listed}"
        )

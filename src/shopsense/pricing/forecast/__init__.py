"""Demand forecasting per product with rolling-origin backtests, one class per forecaster:

- `SeasonalNaive` (same weekday last week; seasonal_naive.py),
- `ETS` (additive-seasonal exponential smoothing on log1p units; ets.py),
- `RecurrentForecaster` (one LSTM or GRU network over all products with a quantile head;
  recurrent.py, its network and training windows in network.py),

on a shared base (base.py: the view checks, the forecast frame, save and load) that reads
the demand view as arrays with the shop's calendar (series.py). backtest.py holds the
rolling-origin backtest and its scores; legacy.py loads forecasters saved by earlier
versions. `forecaster(kind)` builds one by the names the command line and the benchmark use.

Time is in CALENDAR days. The forecast origin is the day after the view's last day; the
horizon counts calendar days, closed days included. Days the shop is expected to be closed
(weekdays on which it traded on less than half of the weeks so far, and 24 Dec – 3 Jan) are
forecast 0; metrics are computed only on days the shop actually traded.

>>> model = forecaster("gru", horizon=28).fit(view.until("2011-10-01"))
>>> model.predict(view.until("2011-10-01"))        # item_id, date, step, forecast, lo95, ...
>>> backtest(view, lambda: forecaster("ets"), ["2011-09-01", "2011-10-01"], (7, 28))
"""

from __future__ import annotations

from typing import Any

from shopsense.pricing.forecast.backtest import (
    backtest,
    eligible_items,
    naive_scale,
    score,
    summarize,
)
from shopsense.pricing.forecast.base import Forecaster, ForecasterConfig
from shopsense.pricing.forecast.ets import ETS
from shopsense.pricing.forecast.legacy import SavedForecaster
from shopsense.pricing.forecast.recurrent import CELLS, RecurrentConfig, RecurrentForecaster
from shopsense.pricing.forecast.seasonal_naive import SeasonalNaive
from shopsense.pricing.forecast.series import expected_open

KINDS = ("seasonal_naive", "ets", *CELLS)
"""The forecasters by the names the command line, the service and the benchmark use."""


def forecaster(kind: str, **params: Any) -> Forecaster:
    """A new forecaster of `kind` (one of `KINDS`; "lstm" and "gru" are the recurrent
    forecaster's two cells) with `params` (ValueError for an unknown kind or setting)."""
    if kind in CELLS:
        return RecurrentForecaster(cell=kind, **params)
    simple = {"seasonal_naive": SeasonalNaive, "ets": ETS}
    if kind not in simple:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    try:
        return simple[kind](**params)
    except TypeError as e:
        raise ValueError(f"{kind} takes no such setting: {e}") from None


__all__ = [
    "ETS",
    "KINDS",
    "Forecaster",
    "ForecasterConfig",
    "RecurrentConfig",
    "RecurrentForecaster",
    "SavedForecaster",
    "SeasonalNaive",
    "backtest",
    "eligible_items",
    "expected_open",
    "forecaster",
    "naive_scale",
    "score",
    "summarize",
]

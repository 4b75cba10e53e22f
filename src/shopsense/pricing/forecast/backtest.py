"""Rolling-origin backtests and their scores: fit on the days before each cut-off, forecast
the calendar days after it, and score on the days the shop actually traded (MASE against the
seasonal-naive error, sMAPE, WAPE, interval coverage)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from shopsense.data.demand import DemandView
from shopsense.pricing.forecast.base import Forecaster
from shopsense.pricing.forecast.series import SEASON


def naive_scale(view: DemandView) -> pd.Series:
    """Per product, the in-sample mean |y_t - y_{t-7}| over days where both are known."""
    units = view.units_matrix()
    diff = (units - units.shift(SEASON)).abs()
    return diff.mean(axis=0).rename("naive_scale")


def score(forecasts: pd.DataFrame, view: DemandView, scale: pd.Series) -> pd.DataFrame:
    """Per-product metrics of `forecasts` against the known open days of `view`.

    MASE = mean |error| / `scale`; sMAPE = mean 2|e| / (|y| + |f|) (0 where both are 0);
    WAPE = sum |e| / sum y; coverage80/95 where the forecasts carry intervals.
    """
    actual = view.daily[view.daily["status"].isin(["sold", "zero"])][["item_id", "date", "units"]]
    actual = actual.assign(item_id=actual["item_id"].astype(str))
    f = forecasts.merge(actual, on=["item_id", "date"], how="inner")
    err = (f["units"] - f["forecast"]).abs()
    denom = f["units"].abs() + f["forecast"].abs()
    f = f.assign(abs_error=err, smape=np.where(denom > 0, 2 * err / denom.where(denom > 0, 1), 0.0))
    cols = {"abs_error": "sum", "units": "sum", "smape": "mean", "date": "count"}
    for level, lo, hi in ((80, "lo80", "hi80"), (95, "lo95", "hi95")):
        if lo in f.columns:
            f[f"coverage{level}"] = (f["units"] >= f[lo]) & (f["units"] <= f[hi])
            cols[f"coverage{level}"] = "mean"
    g = f.groupby("item_id").agg(cols).rename(columns={"date": "days", "units": "actual"})
    g["mae"] = g["abs_error"] / g["days"]
    g["mase"] = g["mae"] / scale.reindex(g.index).where(lambda s: s > 0)
    g["wape"] = g["abs_error"] / g["actual"].where(g["actual"] > 0)
    return g.reset_index()


def eligible_items(view: DemandView, min_history: int, min_sales: int = 2) -> list[str]:
    """Products with at least `min_history` known days, `min_sales` days with a sale and a
    nonzero seasonal-naive scale: those a forecaster accepts and MASE can score."""
    units = view.daily.groupby("item_id", observed=True)["units"]
    known = units.count()
    sales = units.apply(lambda s: int((s > 0).sum()))
    scale = naive_scale(view)
    ok = (known >= min_history) & (sales >= min_sales) & (scale.reindex(known.index) > 0)
    return [str(i) for i in known.index[ok]]


def backtest(
    view: DemandView,
    forecaster_factory: Callable[[], Forecaster],
    cutoffs: Sequence[str | pd.Timestamp],
    horizon: int | Sequence[int] = 28,
    *,
    min_history: int = 28,
) -> pd.DataFrame:
    """Rolling-origin evaluation: at each cut-off fit on the days strictly before it, forecast
    the next max(horizon) calendar days, and score each horizon on the known open days.

    Returns one row per (cutoff, horizon, item_id): mase, smape, wape, mae, abs_error,
    actual, days, fit_seconds (of that cut-off's fit) and coverage80/95 when available;
    `model` is the forecaster's label. Only products eligible at the cut-off
    (`eligible_items`) are fitted and scored.
    """
    horizons = [horizon] if isinstance(horizon, int) else list(horizon)
    longest = max(horizons)
    rows = []
    for cutoff in map(pd.Timestamp, cutoffs):
        train = view.until(cutoff)
        items = eligible_items(train, min_history)
        if not items:
            raise ValueError(f"no product has {min_history} known days before {cutoff:%Y-%m-%d}")
        train = train.select(items)
        began = time.perf_counter()
        model = forecaster_factory().fit(train)
        fit_seconds = time.perf_counter() - began
        forecasts = model.predict(train, longest)
        scale = naive_scale(train)
        truth = view.select(items)
        for h in horizons:
            m = score(forecasts[forecasts["step"] <= h], truth, scale)
            rows.append(
                m.assign(cutoff=cutoff, horizon=h, model=model.label, fit_seconds=fit_seconds)
            )
    return pd.concat(rows, ignore_index=True)


def summarize(metrics: pd.DataFrame) -> pd.DataFrame:
    """Aggregate `backtest` rows per (model, horizon): mean and median MASE over products and
    cut-offs, mean sMAPE, WAPE over everything (sum |e| / sum y), mean fit seconds."""
    g = metrics.groupby(["model", "horizon"], sort=False)
    out = g.agg(
        mase=("mase", "mean"),
        mase_median=("mase", "median"),
        smape=("smape", "mean"),
        abs_error=("abs_error", "sum"),
        actual=("actual", "sum"),
        products=("item_id", "nunique"),
        fit_seconds=("fit_seconds", "mean"),
    )
    out["wape"] = out.pop("abs_error") / out.pop("actual")
    for c in ("coverage80", "coverage95"):
        if c in metrics.columns:
            out[c] = g[c].mean()
    return out.reset_index()

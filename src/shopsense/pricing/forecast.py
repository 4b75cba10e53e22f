"""Demand forecasting per product with rolling-origin backtests.

Kinds: "seasonal_naive" (same weekday last week), "ets" (additive-seasonal exponential
smoothing, ETS(A,N,A), on log1p units with a weekly season; Hyndman & Athanasopoulos,
"Forecasting: Principles and Practice", ch. 8) and the global deep models "lstm" / "gru"
(one network over all products, trained on windows of past demand with price and calendar
features, with a quantile head; Salinas et al. 2020 "DeepAR" for the global-model idea,
Wen et al. 2017 "MQ-RNN" for direct multi-horizon quantile outputs).

Time is in CALENDAR days. The forecast origin is the day after the view's last day; the
horizon counts calendar days, closed days included. Days the shop is expected to be closed
(weekdays on which it traded on less than half of the weeks so far, and 24 Dec – 3 Jan) are
forecast 0; metrics are computed only on days the shop actually traded.

>>> model = Forecaster(kind="gru", horizon=28).fit(view.until("2011-10-01"))
>>> model.predict(view.until("2011-10-01"))        # item_id, date, step, forecast, lo95, ...
>>> backtest(view, lambda: Forecaster(kind="ets"), ["2011-09-01", "2011-10-01"], (7, 28))
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file as load_torch
from safetensors.torch import save_file as save_torch
from torch import nn

from shopsense.data.demand import DemandView
from shopsense.estimator import Estimator, register
from shopsense.persist import atomic_write, read_model_json
from shopsense.train.trainer import Trainer, TrainerConfig, select_device, torch_threads

KINDS = ("seasonal_naive", "ets", "lstm", "gru")
DEEP = ("lstm", "gru")
CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
SEASON = 7
ETS_ALPHAS = (0.01, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.45)
ETS_GAMMAS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)
N_PAST = 13  # scaled log1p units, known, open, price ratio, 7 weekdays, month sin/cos
N_FUTURE = 10  # open, 7 weekdays, month sin/cos


@dataclass
class ForecasterConfig(TrainerConfig):
    """Hyper-parameters of every kind (the deep ones also use the trainer fields)."""

    kind: str = "lstm"
    """"seasonal_naive", "ets", "lstm" or "gru"."""
    horizon: int = 28
    """Calendar days forecast after the origin."""
    min_history: int = 28
    """Fewest known days (open, on/after the first sale) a product needs to be forecast."""
    min_sales: int = 2
    """Fewest days with a sale a product needs to be forecast."""
    window: int = 56
    """Days of past demand a deep model reads."""
    hidden_size: int = 64
    """Recurrent state size of the deep models."""
    num_layers: int = 1
    """Stacked recurrent layers."""
    dropout: float = 0.0
    """Dropout between stacked recurrent layers."""
    stride: int = 2
    """Days between the origins of consecutive training windows of one product."""
    quantiles: tuple[float, ...] = (0.025, 0.1, 0.5, 0.9, 0.975)
    """Quantiles of the deep models' head: the median is the forecast, the others the
    80% and 95% intervals."""
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    patience: int = 5
    threads: int = 1
    clip_norm: float = 1.0


class _Net(nn.Module):
    """An LSTM/GRU encoder over the past window; an MLP maps its last state plus the future
    calendar to horizon × quantile outputs (scaled log1p units)."""

    def __init__(self, cfg: ForecasterConfig) -> None:
        super().__init__()
        rnn = nn.LSTM if cfg.kind == "lstm" else nn.GRU
        self.rnn = rnn(
            N_PAST,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        self.horizon, self.n_q = cfg.horizon, len(cfg.quantiles)
        self.head = nn.Sequential(
            nn.Linear(cfg.hidden_size + cfg.horizon * N_FUTURE, 64),
            nn.ReLU(),
            nn.Linear(64, cfg.horizon * self.n_q),
        )

    def forward(self, past: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(past)
        z = torch.cat([out[:, -1], future.flatten(1)], dim=1)
        return self.head(z).view(-1, self.horizon, self.n_q)


@dataclass
class _Panel:
    """A view as arrays: days × items."""

    dates: pd.DatetimeIndex
    items: list[str]
    units: np.ndarray  # (T, N) float, NaN unknown
    price: np.ndarray  # (T, N) float, NaN without a sale
    open: np.ndarray  # (T,) bool

    @classmethod
    def of(cls, view: DemandView) -> _Panel:
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


@register("demand_forecaster")
class Forecaster(Estimator):
    """Daily demand forecaster of one `kind`; scikit-like: `fit(view)` returns self, learned
    attributes end in `_`, `predict(view, horizon)` forecasts the days after `view.end`."""

    name = "demand_forecaster"
    fitted_attribute = "items_"

    def __init__(self, kind: str = "lstm", **params: Any) -> None:
        self.config = ForecasterConfig(kind=kind, **params)
        if isinstance(self.config.quantiles, list):
            self.config.quantiles = tuple(self.config.quantiles)

    def get_params(self) -> dict[str, Any]:
        params = asdict(self.config)
        params["quantiles"] = list(params["quantiles"])
        return params

    # ----------------------------------------------------------------------------- fit
    def fit(self, view: DemandView) -> Self:
        """Learn from every product of `view` (each needs `min_history` known days)."""
        cfg = self.config
        if cfg.kind not in KINDS:
            raise ValueError(f"unknown kind {cfg.kind!r}; one of {KINDS}")
        if cfg.horizon < 1 or cfg.min_history < SEASON:
            raise ValueError(f"horizon must be >= 1 and min_history >= {SEASON}")
        panel = _Panel.of(view)
        _check_history(panel, cfg.min_history, cfg.min_sales)
        self.items_ = panel.items
        self.end_ = panel.dates[-1]
        self.train_result_ = None
        if cfg.kind == "ets":
            self.alpha_, self.gamma_ = _fit_ets(panel)
        elif cfg.kind in DEEP:
            self._fit_deep(panel)
        return self

    def _fit_deep(self, panel: _Panel) -> None:
        cfg = self.config
        if len(panel.dates) < cfg.min_history + 2 * cfg.horizon:
            raise ValueError(
                f"{len(panel.dates)} days of history are too few to train a {cfg.kind} "
                f"with horizon {cfg.horizon} (need {cfg.min_history + 2 * cfg.horizon})"
            )
        torch.manual_seed(cfg.random_state)
        device = select_device(cfg.device)
        self.network_ = _Net(cfg).to(device)
        task = _WindowTask(self.network_, panel, cfg, device)
        with torch_threads(cfg.threads):
            self.train_result_ = Trainer(cfg, desc=f"forecast {cfg.kind}").fit(task)
        self.network_.cpu().eval()

    # ------------------------------------------------------------------------- predict
    def predict(self, view: DemandView, horizon: int | None = None) -> pd.DataFrame:
        """Forecasts for the `horizon` days after `view.end`, per product of `view`.

        Columns: item_id, date, step (1..horizon), open (the shop is expected to trade),
        forecast (units, 0 on expected closed days); deep kinds add lo95, lo80, hi80, hi95.
        """
        self._check_fitted()
        if not isinstance(view, DemandView):
            raise TypeError(f"Forecaster.predict takes a DemandView, not {type(view).__name__}")
        cfg = self.config
        horizon = cfg.horizon if horizon is None else int(horizon)
        if cfg.kind in DEEP and horizon > cfg.horizon:
            raise ValueError(f"this {cfg.kind} forecasts at most {cfg.horizon} days, not {horizon}")
        panel = _Panel.of(view)
        _check_history(panel, cfg.min_history, cfg.min_sales)
        future = pd.date_range(panel.dates[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
        is_open = expected_open(panel.dates, panel.open, future)
        bands: dict[str, np.ndarray] = {}
        if cfg.kind == "seasonal_naive":
            point = _seasonal_naive(panel, future)
        elif cfg.kind == "ets":
            alpha, gamma = self._params_for(panel.items)
            point = _run_ets(panel, alpha, gamma, future)
        else:
            q = self._predict_deep(panel, future, is_open)[:, :horizon]
            mid = cfg.quantiles.index(0.5) if 0.5 in cfg.quantiles else len(cfg.quantiles) // 2
            point = q[:, :, mid]
            names = {0.025: "lo95", 0.1: "lo80", 0.9: "hi80", 0.975: "hi95"}
            for j, p in enumerate(cfg.quantiles):
                if p in names:
                    bands[names[p]] = q[:, :, j]
        n, h = len(panel.items), horizon
        out = pd.DataFrame(
            {
                "item_id": np.repeat(panel.items, h),
                "date": np.tile(future.to_numpy(), n),
                "step": np.tile(np.arange(1, h + 1), n),
                "open": np.tile(is_open, n),
                "forecast": np.clip(point, 0, None).reshape(-1),
            }
        )
        for name in ("lo95", "lo80", "hi80", "hi95"):
            if name in bands:
                out[name] = np.clip(bands[name], 0, None).reshape(-1)
        closed = ~out["open"].to_numpy()
        out.loc[closed, [c for c in out.columns if c in ("forecast", *bands)]] = 0.0
        return out

    def _params_for(self, items: list[str]) -> tuple[np.ndarray, np.ndarray]:
        index = {item: i for i, item in enumerate(self.items_)}
        unknown = [i for i in items if i not in index]
        if unknown:
            raise ValueError(f"ets was not fitted on items {unknown[:5]} ({len(unknown)} items)")
        rows = [index[i] for i in items]
        return self.alpha_[rows], self.gamma_[rows]

    def _predict_deep(
        self, panel: _Panel, future: pd.DatetimeIndex, is_open: np.ndarray
    ) -> np.ndarray:
        cfg = self.config
        full = pd.date_range(future[0], periods=cfg.horizon, freq="D")
        full_open = expected_open(panel.dates, panel.open, full)
        ends = np.full(len(panel.items), len(panel.dates))
        past, fut, scale = _windows(panel, np.arange(len(panel.items)), ends, cfg, full, full_open)
        with torch.no_grad(), torch_threads(cfg.threads):
            out = self.network_(torch.from_numpy(past), torch.from_numpy(fut)).numpy()
        out = np.sort(out, axis=2)  # quantiles must not cross
        return np.expm1(out * scale[:, None, None])

    # --------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """model.json (kind, config, learned meta) + weights.safetensors, written atomically."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.config.kind in DEEP:
            state = {k: v.contiguous() for k, v in self.network_.state_dict().items()}
            atomic_write(path / WEIGHTS_FILE, lambda tmp: save_torch(state, tmp))
        else:
            arrays = {"placeholder": np.zeros(1)}
            if self.config.kind == "ets":
                arrays = {"alpha": self.alpha_, "gamma": self.gamma_}
            atomic_write(path / WEIGHTS_FILE, lambda tmp: save_numpy(arrays, tmp))
        meta = {
            "model": self.name,
            "kind": self.config.kind,
            "config": self.get_params(),
            "items": self.items_,
            "end": str(self.end_.date()),
        }
        text = json.dumps(meta, indent=2)
        atomic_write(path / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by `save`: the same forecasts as the saved model."""
        path = Path(path)
        meta = read_model_json(path, cls.name, CONFIG_FILE)
        params = dict(meta["config"])
        model = cls(**params)
        model.items_ = list(meta["items"])
        model.end_ = pd.Timestamp(meta["end"])
        model.train_result_ = None
        if model.config.kind in DEEP:
            model.network_ = _Net(model.config)
            model.network_.load_state_dict(load_torch(path / WEIGHTS_FILE))
            model.network_.eval()
        elif model.config.kind == "ets":
            arrays = load_numpy(path / WEIGHTS_FILE)
            model.alpha_, model.gamma_ = arrays["alpha"], arrays["gamma"]
        return model


# ------------------------------------------------------------------------------ calendar
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


def _calendar_features(dates: pd.DatetimeIndex) -> np.ndarray:
    """(len, 9): weekday one-hot, month sin/cos."""
    onehot = np.eye(7, dtype=np.float32)[dates.day_of_week]
    angle = 2 * np.pi * (dates.month.to_numpy() - 1) / 12
    return np.column_stack([onehot, np.sin(angle), np.cos(angle)]).astype(np.float32)


def _check_history(panel: _Panel, min_history: int, min_sales: int) -> None:
    known = panel.known_days()
    sales = (np.nan_to_num(panel.units) > 0).sum(axis=0)
    short = [
        (item, int(k), int(n))
        for item, k, n in zip(panel.items, known, sales, strict=True)
        if k < min_history or n < min_sales
    ]
    if short:
        listed = ", ".join(f"{i!r} ({k} days, {n} with a sale)" for i, k, n in short[:5])
        raise ValueError(
            f"too little history to forecast: {len(short)} products have fewer than "
            f"{min_history} known days (open days since the first sale) or fewer than "
            f"{min_sales} days with a sale: {listed}"
        )


# --------------------------------------------------------------------------- baselines
def _seasonal_naive(panel: _Panel, future: pd.DatetimeIndex) -> np.ndarray:
    """(N, H): per weekday, the product's last known value on that weekday (else 0)."""
    last = np.zeros((7, len(panel.items)))
    dows = panel.dates.day_of_week.to_numpy()
    tail = max(0, len(panel.dates) - 8 * SEASON)
    for t in range(tail, len(panel.dates)):  # later days overwrite earlier ones
        row = panel.units[t]
        known = np.isfinite(row)
        last[dows[t], known] = row[known]
    return last[future.day_of_week.to_numpy()].T


def _ets_filter(
    panel: _Panel, alpha: np.ndarray, gamma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ETS(A,N,A) on log1p units for parameter arrays broadcast against (N,).

    Unknown days skip the update. Returns (level, seasonal (7, ...), sse).
    """
    y = np.log1p(panel.units)
    dows = panel.dates.day_of_week.to_numpy()
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


def _fit_ets(panel: _Panel) -> tuple[np.ndarray, np.ndarray]:
    """Per product, the (alpha, gamma) of the grid with the least one-step squared error."""
    grid = np.array([(a, g) for a in ETS_ALPHAS for g in ETS_GAMMAS])
    _, _, sse = _ets_filter(panel, grid[:, :1], grid[:, 1:])  # (C, N)
    best = sse.argmin(axis=0)
    return grid[best, 0].copy(), grid[best, 1].copy()


def _run_ets(
    panel: _Panel, alpha: np.ndarray, gamma: np.ndarray, future: pd.DatetimeIndex
) -> np.ndarray:
    level, season, _ = _ets_filter(panel, alpha, gamma)
    s = season[future.day_of_week.to_numpy()]  # (H, N)
    return np.expm1(level[None, :] + s).T


# -------------------------------------------------------------------------- deep models
def _windows(
    panel: _Panel,
    cols: np.ndarray,
    ends: np.ndarray,
    cfg: ForecasterConfig,
    future_dates: pd.DatetimeIndex | None = None,
    future_open: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs of windows ending (exclusive) at `ends` for products `cols`.

    Returns past (B, window, N_PAST), future (B, horizon, N_FUTURE), scale (B,); without
    `future_dates` the future calendar is read from the panel (training windows).
    """
    w = cfg.window
    t = ends[:, None] + np.arange(-w, 0)[None, :]  # (B, w)
    valid = t >= 0
    tc = np.clip(t, 0, None)
    y = np.log1p(panel.units[tc, cols[:, None]])
    known = valid & np.isfinite(y)
    y = np.where(known, y, 0.0)
    scale = 1.0 + y.sum(axis=1) / np.maximum(known.sum(axis=1), 1)
    price = panel.price[tc, cols[:, None]]
    price = np.where(valid & (price > 0), price, np.nan)  # free lines carry no price signal
    with warnings.catch_warnings():  # a window without any sale has no reference price
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanmedian(price, axis=1, keepdims=True)
    ratio = np.nan_to_num(np.log(price / ref), nan=0.0)
    cal = _calendar_features(panel.dates)
    past = np.concatenate(
        [
            (y / scale[:, None])[..., None],
            known[..., None],
            (valid & panel.open[tc])[..., None],
            np.clip(ratio, -2, 2)[..., None],
            cal[tc],
        ],
        axis=2,
    ).astype(np.float32)
    if future_dates is None:
        tf = ends[:, None] + np.arange(cfg.horizon)[None, :]
        fut = np.concatenate([panel.open[tf][..., None], cal[tf]], axis=2)
    else:
        f = np.column_stack([future_open, _calendar_features(future_dates)])
        fut = np.broadcast_to(f, (len(ends), *f.shape))
    return past, np.ascontiguousarray(fut, dtype=np.float32), scale


class _WindowTask:
    """Training windows of every product: origins every `stride` days; the last `horizon`
    days of the history are the validation targets (one window per product)."""

    def __init__(self, module: _Net, panel: _Panel, cfg: ForecasterConfig, device: Any) -> None:
        self.module, self.panel, self.cfg, self.device = module, panel, cfg, device
        self.q = torch.tensor(cfg.quantiles, dtype=torch.float32, device=device)
        T, H = len(panel.dates), cfg.horizon
        known = np.isfinite(panel.units)
        first = np.where(known.any(axis=0), known.argmax(axis=0), T)
        cols, ends = [], []
        for j, f in enumerate(first):
            e = np.arange(f + SEASON, T - 2 * H + 1, cfg.stride)
            cols.append(np.full(len(e), j))
            ends.append(e)
        self.cols = np.concatenate(cols)
        self.ends = np.concatenate(ends)
        if len(self.ends) == 0:
            raise ValueError("no training window: the history is too short")
        self.val = self._batch(np.arange(len(panel.items)), np.full(len(panel.items), T - H))

    def _batch(self, cols: np.ndarray, ends: np.ndarray) -> tuple[torch.Tensor, ...]:
        past, fut, scale = _windows(self.panel, cols, ends, self.cfg)
        tf = ends[:, None] + np.arange(self.cfg.horizon)[None, :]
        y = np.log1p(self.panel.units[tf, cols[:, None]])
        mask = np.isfinite(y) & self.panel.open[tf]
        target = np.where(mask, y, 0.0) / scale[:, None]
        return tuple(
            torch.from_numpy(np.asarray(a, dtype=np.float32)).to(self.device)
            for a in (past, fut, target, mask)
        )

    def batches(self, rng: np.random.Generator) -> Iterable[tuple[torch.Tensor, ...]]:
        order = rng.permutation(len(self.ends))
        for start in range(0, len(order), self.cfg.batch_size):
            pick = order[start : start + self.cfg.batch_size]
            yield self._batch(self.cols[pick], self.ends[pick])

    def _pinball(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        past, fut, target, mask = batch
        pred = self.module(past, fut)
        diff = target[..., None] - pred
        loss = torch.maximum(self.q * diff, (self.q - 1) * diff).mean(dim=2)
        return (loss * mask).sum() / mask.sum().clamp(min=1)

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self._pinball(batch)

    def validate(self) -> float:
        return -float(self._pinball(self.val))


# ---------------------------------------------------------------------------- backtest
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
    actual, days, fit_seconds (of that cut-off's fit) and coverage80/95 when available.
    Only products eligible at the cut-off (`eligible_items`) are fitted and scored.
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
                m.assign(cutoff=cutoff, horizon=h, model=model.config.kind, fit_seconds=fit_seconds)
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


__all__ = [
    "KINDS",
    "Forecaster",
    "ForecasterConfig",
    "backtest",
    "eligible_items",
    "expected_open",
    "naive_scale",
    "score",
    "summarize",
]

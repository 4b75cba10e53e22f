"""The recurrent forecaster's network and its training windows: an LSTM/GRU encoder over the
past window, an MLP from its last state and the future calendar to horizon × quantile
outputs (scaled log1p units), trained with the pinball loss."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn

from shopsense.pricing.forecast.series import SEASON, DailySeries, calendar_features

N_PAST = 13  # scaled log1p units, known, open, price ratio, 7 weekdays, month sin/cos
N_FUTURE = 10  # open, 7 weekdays, month sin/cos


class WindowSettings(Protocol):
    """The settings the network and its windows read (a `RecurrentConfig`)."""

    cell: str
    horizon: int
    window: int
    hidden_size: int
    num_layers: int
    dropout: float
    stride: int
    batch_size: int
    quantiles: tuple[float, ...]


class Net(nn.Module):
    """An LSTM/GRU encoder over the past window; an MLP maps its last state plus the future
    calendar to horizon × quantile outputs (scaled log1p units)."""

    def __init__(self, cfg: WindowSettings) -> None:
        super().__init__()
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
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


def windows(
    series: DailySeries,
    cols: np.ndarray,
    ends: np.ndarray,
    cfg: WindowSettings,
    future_dates: pd.DatetimeIndex | None = None,
    future_open: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs of windows ending (exclusive) at `ends` for products `cols`.

    Returns past (B, window, N_PAST), future (B, horizon, N_FUTURE), scale (B,); without
    `future_dates` the future calendar is read from the series (training windows).
    """
    w = cfg.window
    t = ends[:, None] + np.arange(-w, 0)[None, :]  # (B, w)
    valid = t >= 0
    tc = np.clip(t, 0, None)
    y = np.log1p(series.units[tc, cols[:, None]])
    known = valid & np.isfinite(y)
    y = np.where(known, y, 0.0)
    scale = 1.0 + y.sum(axis=1) / np.maximum(known.sum(axis=1), 1)
    price = series.price[tc, cols[:, None]]
    price = np.where(valid & (price > 0), price, np.nan)  # free lines carry no price signal
    with warnings.catch_warnings():  # a window without any sale has no reference price
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanmedian(price, axis=1, keepdims=True)
    ratio = np.nan_to_num(np.log(price / ref), nan=0.0)
    cal = calendar_features(series.dates)
    past = np.concatenate(
        [
            (y / scale[:, None])[..., None],
            known[..., None],
            (valid & series.open[tc])[..., None],
            np.clip(ratio, -2, 2)[..., None],
            cal[tc],
        ],
        axis=2,
    ).astype(np.float32)
    if future_dates is None:
        tf = ends[:, None] + np.arange(cfg.horizon)[None, :]
        fut = np.concatenate([series.open[tf][..., None], cal[tf]], axis=2)
    else:
        f = np.column_stack([future_open, calendar_features(future_dates)])
        fut = np.broadcast_to(f, (len(ends), *f.shape))
    return past, np.ascontiguousarray(fut, dtype=np.float32), scale


class WindowTask:
    """Training windows of every product: origins every `stride` days; the last `horizon`
    days of the history are the validation targets (one window per product)."""

    def __init__(self, module: Net, series: DailySeries, cfg: WindowSettings, device: Any) -> None:
        self.module, self.series, self.cfg, self.device = module, series, cfg, device
        self.q = torch.tensor(cfg.quantiles, dtype=torch.float32, device=device)
        T, H = len(series.dates), cfg.horizon
        known = np.isfinite(series.units)
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
        self.val = self._batch(np.arange(len(series.items)), np.full(len(series.items), T - H))

    def _batch(self, cols: np.ndarray, ends: np.ndarray) -> tuple[torch.Tensor, ...]:
        past, fut, scale = windows(self.series, cols, ends, self.cfg)
        tf = ends[:, None] + np.arange(self.cfg.horizon)[None, :]
        y = np.log1p(self.series.units[tf, cols[:, None]])
        mask = np.isfinite(y) & self.series.open[tf]
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

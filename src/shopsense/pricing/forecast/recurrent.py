"""The global recurrent forecaster: one LSTM or GRU network over all products, trained on
windows of past demand with price and calendar features, with a quantile head (Salinas et
al. 2020 "DeepAR" for the global-model idea, Wen et al. 2017 "MQ-RNN" for direct
multi-horizon quantile outputs). LSTM or GRU is the `cell` setting of one class."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from shopsense.estimator import register
from shopsense.persist import atomic_write
from shopsense.pricing.forecast.base import BANDS, Forecaster, ForecasterConfig
from shopsense.pricing.forecast.network import Net, WindowTask, windows
from shopsense.pricing.forecast.series import DailySeries, expected_open
from shopsense.train.trainer import Trainer, TrainerConfig, select_device, torch_threads

CELLS = ("lstm", "gru")


@dataclass
class RecurrentConfig(ForecasterConfig, TrainerConfig):
    """The network's settings, and the shared trainer's."""

    cell: str = "lstm"
    """"lstm" or "gru"."""
    window: int = 56
    """Days of past demand the network reads."""
    hidden_size: int = 64
    """Recurrent state size."""
    num_layers: int = 1
    """Stacked recurrent layers."""
    dropout: float = 0.0
    """Dropout between stacked recurrent layers."""
    stride: int = 2
    """Days between the origins of consecutive training windows of one product."""
    quantiles: tuple[float, ...] = (0.025, 0.1, 0.5, 0.9, 0.975)
    """Quantiles of the head: the median is the forecast, the others the 80% and 95%
    intervals."""
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    patience: int = 5
    threads: int = 1
    clip_norm: float = 1.0

    def __post_init__(self) -> None:
        self.quantiles = tuple(self.quantiles)
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, not {self.cell!r}")


@register("forecast_recurrent")
class RecurrentForecaster(Forecaster):
    """One LSTM/GRU network over all products with 80% and 95% intervals."""

    config_class = RecurrentConfig
    legacy_kinds = CELLS
    config: RecurrentConfig

    @property
    def label(self) -> str:
        return self.config.cell

    @classmethod
    def legacy_params(cls, meta: dict[str, Any]) -> dict[str, Any]:
        out = super().legacy_params(meta)
        out["config"]["cell"] = meta["kind"]
        return out

    def _fit(self, series: DailySeries) -> None:
        cfg = self.config
        if len(series.dates) < cfg.min_history + 2 * cfg.horizon:
            raise ValueError(
                f"{len(series.dates)} days of history are too few to train a {cfg.cell} "
                f"with horizon {cfg.horizon} (need {cfg.min_history + 2 * cfg.horizon})"
            )
        torch.manual_seed(cfg.random_state)
        device = select_device(cfg.device)
        self.network_ = Net(cfg).to(device)
        task = WindowTask(self.network_, series, cfg, device)
        with torch_threads(cfg.threads):
            self.train_result_ = Trainer(cfg, desc=f"forecast {cfg.cell}").fit(task)
        self.network_.cpu().eval()

    def _check_horizon(self, horizon: int) -> None:
        if horizon > self.config.horizon:
            raise ValueError(
                f"this {self.config.cell} forecasts at most {self.config.horizon} days, "
                f"not {horizon}"
            )

    def _forecast(
        self, series: DailySeries, future: pd.DatetimeIndex, is_open: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        cfg = self.config
        q = self._quantiles(series, future)[:, : len(future)]
        mid = cfg.quantiles.index(0.5) if 0.5 in cfg.quantiles else len(cfg.quantiles) // 2
        bands = {BANDS[p]: q[:, :, j] for j, p in enumerate(cfg.quantiles) if p in BANDS}
        return q[:, :, mid], bands

    def _quantiles(self, series: DailySeries, future: pd.DatetimeIndex) -> np.ndarray:
        """(items, horizon, quantiles) in units, for the network's whole horizon."""
        cfg = self.config
        full = pd.date_range(future[0], periods=cfg.horizon, freq="D")
        full_open = expected_open(series.dates, series.open, full)
        ends = np.full(len(series.items), len(series.dates))
        cols = np.arange(len(series.items))
        past, fut, scale = windows(series, cols, ends, cfg, full, full_open)
        with torch.no_grad(), torch_threads(cfg.threads):
            out = self.network_(torch.from_numpy(past), torch.from_numpy(fut)).numpy()
        out = np.sort(out, axis=2)  # quantiles must not cross
        return np.expm1(out * scale[:, None, None])

    def _save_weights(self, path: Path) -> None:
        state = {k: v.contiguous() for k, v in self.network_.state_dict().items()}
        atomic_write(path, lambda tmp: save_file(state, tmp))

    def _load_weights(self, path: Path) -> None:
        self.network_ = Net(self.config)
        self.network_.load_state_dict(load_file(path))
        self.network_.eval()

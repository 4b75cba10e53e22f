"""What every demand forecaster shares: its settings, the checks on the view it is given,
the forecast frame, and saving and loading (model.json + weights.safetensors).

A forecaster learns in `_fit(series)` and forecasts in `_forecast(series, future, is_open)`;
everything around those two (types, history checks, the calendar, closed days at 0, the
output columns, the files) is here once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from shopsense.data.demand import DemandView
from shopsense.estimator import Estimator
from shopsense.persist import atomic_write
from shopsense.pricing.forecast.series import (
    SEASON,
    DailySeries,
    check_history,
    expected_open,
)

CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
REGISTRY_NAME = "demand_forecaster"
"""The name forecasters are saved under in the registry (pricing/demand_forecaster), and the
kind every forecaster's model.json named before each kind had its own class."""
BANDS = {0.025: "lo95", 0.1: "lo80", 0.9: "hi80", 0.975: "hi95"}
"""Interval columns of the forecast frame, by quantile."""


@dataclass
class ForecasterConfig:
    """Settings every forecaster has."""

    horizon: int = 28
    """Calendar days forecast after the origin."""
    min_history: int = 28
    """Fewest known days (open, on/after the first sale) a product needs to be forecast."""
    min_sales: int = 2
    """Fewest days with a sale a product needs to be forecast."""
    random_state: int = 0
    """Seed (the deterministic forecasters accept it so one set of options fits all)."""


class Forecaster(Estimator):
    """Daily demand forecaster; scikit-like: `fit(view)` returns self, learned attributes end
    in `_`, `predict(view, horizon)` forecasts the days after `view.end`."""

    name = REGISTRY_NAME
    fitted_attribute = "items_"
    config_class: ClassVar[type[ForecasterConfig]] = ForecasterConfig
    #: what model.json's "kind" said for this class before each kind had its own class
    legacy_kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self.config = self.config_class(**params)

    @property
    def label(self) -> str:
        """The name results are reported under ("seasonal_naive", "ets", "lstm", "gru")."""
        return self.legacy_kinds[0]

    def get_params(self) -> dict[str, Any]:
        params = asdict(self.config)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}

    # ----------------------------------------------------------------------------- fit
    def fit(self, view: DemandView) -> Self:
        """Learn from every product of `view` (each needs `min_history` known days)."""
        cfg = self.config
        _check_view(self, view, "fit")
        if cfg.horizon < 1 or cfg.min_history < SEASON:
            raise ValueError(f"horizon must be >= 1 and min_history >= {SEASON}")
        series = DailySeries.of(view)
        check_history(series, cfg.min_history, cfg.min_sales)
        self.items_ = series.items
        self.end_ = series.dates[-1]
        self.train_result_ = None
        self._fit(series)
        return self

    def _fit(self, series: DailySeries) -> None:
        """Learn the parameters (a forecaster without any keeps this)."""

    # ------------------------------------------------------------------------- predict
    def predict(self, view: DemandView, horizon: int | None = None) -> pd.DataFrame:
        """Forecasts for the `horizon` days after `view.end`, per product of `view`.

        Columns: item_id, date, step (1..horizon), open (the shop is expected to trade),
        forecast (units, 0 on expected closed days); forecasters with intervals add lo95,
        lo80, hi80, hi95.
        """
        self.check_fitted()
        _check_view(self, view, "predict")
        horizon = self.config.horizon if horizon is None else int(horizon)
        self._check_horizon(horizon)
        series = DailySeries.of(view)
        check_history(series, self.config.min_history, self.config.min_sales)
        future = pd.date_range(series.dates[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
        is_open = expected_open(series.dates, series.open, future)
        point, bands = self._forecast(series, future, is_open)
        n, h = len(series.items), horizon
        out = pd.DataFrame(
            {
                "item_id": np.repeat(series.items, h),
                "date": np.tile(future.to_numpy(), n),
                "step": np.tile(np.arange(1, h + 1), n),
                "open": np.tile(is_open, n),
                "forecast": np.clip(point, 0, None).reshape(-1),
            }
        )
        for name in BANDS.values():
            if name in bands:
                out[name] = np.clip(bands[name], 0, None).reshape(-1)
        closed = ~out["open"].to_numpy()
        out.loc[closed, [c for c in out.columns if c in ("forecast", *bands)]] = 0.0
        return out

    def _check_horizon(self, horizon: int) -> None:
        """Refuse a horizon this forecaster cannot forecast."""

    def _forecast(
        self, series: DailySeries, future: pd.DatetimeIndex, is_open: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(items, horizon) point forecasts and interval bands by column name."""
        raise NotImplementedError

    # --------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """model.json (kind, config, learned meta) + the weights, written atomically."""
        self.check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_weights(path / WEIGHTS_FILE)
        meta = {
            "model": self.kind,
            "kind": self.label,
            "config": self.get_params(),
            "items": self.items_,
            "end": str(self.end_.date()),
        }
        text = json.dumps(meta, indent=2)
        atomic_write(path / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
        return path

    def _save_weights(self, path: Path) -> None:
        """Write the learned arrays (nothing for a forecaster without any)."""

    def _load_weights(self, path: Path) -> None:
        """Read what `_save_weights` wrote."""

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by `save` — or by the single forecaster class of earlier
        versions (model.json "model": "demand_forecaster") when its kind is this class's —
        giving the same forecasts as the saved model."""
        path = Path(path)
        meta = saved_meta(path)
        if meta["model"] == REGISTRY_NAME and meta.get("kind") in cls.legacy_kinds:
            return cls._from_saved(path, cls.legacy_params(meta))
        if meta["model"] != cls.kind:
            raise ValueError(f"{path} holds a {meta['model']!r} model, not {cls.kind!r}")
        return cls._from_saved(path, meta)

    @classmethod
    def legacy_params(cls, meta: dict[str, Any]) -> dict[str, Any]:
        """An earlier version's model.json with the config this class takes (that version
        kept every kind's settings in one config)."""
        known = {f.name for f in fields(cls.config_class)}
        config = {k: v for k, v in meta["config"].items() if k in known}
        return {**meta, "config": config}

    @classmethod
    def _from_saved(cls, path: Path, meta: dict[str, Any]) -> Self:
        model = cls(**meta["config"])
        model.items_ = list(meta["items"])
        model.end_ = pd.Timestamp(meta["end"])
        model.train_result_ = None
        model._load_weights(path / WEIGHTS_FILE)
        return model


def saved_meta(path: Path) -> dict[str, Any]:
    """A forecaster folder's model.json (FileNotFoundError when there is none)."""
    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{path} holds no saved model ({CONFIG_FILE} missing)")
    return json.loads((path / CONFIG_FILE).read_text())


def _check_view(model: Forecaster, view: object, method: str) -> None:
    if not isinstance(view, DemandView):
        raise TypeError(
            f"{type(model).__name__}.{method} takes a DemandView, not {type(view).__name__}"
        )

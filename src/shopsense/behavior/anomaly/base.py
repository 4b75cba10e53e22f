"""The detector contract: fit on unlabelled units, score, explain, save and load, written
once for every detector."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from shopsense.data.units import Units
from shopsense.estimator import Estimator
from shopsense.persist import atomic_write_stream, read_model_json, write_json

CONFIG_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"


class AnomalyDetector(Estimator, ABC):
    """Fit on unlabelled units; score them (higher = more anomalous); say why.

    A detector supplies `_fit`, `_score`, `_contributions` (per unit and feature: its weight
    in the score, the unit's value, the typical value) and its arrays for persistence; the
    checks, explanations and save/load live here once.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    fitted_attribute = "unit_features_"

    def __init__(self, **params: Any) -> None:
        self.config = self.Config(**params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_params()})"

    def fit(self, units: Units) -> Self:
        """Learn what normal units look like from `units` (unlabelled; anomalies may hide in
        them, as in any real log)."""
        if len(units) < 2:
            raise ValueError(f"{self.name}: need at least 2 units to fit, got {len(units)}")
        self.kind_ = units.kind
        self.step_name_ = units.step_name
        self.unit_features_ = list(units.features.columns)
        self.step_features_ = list(units.step_frame.columns)
        if not self.unit_features_:
            raise ValueError(f"{self.name}: the units have no features left")
        self.center_, self.scale_ = _robust_scale(units.features.to_numpy(dtype=float))
        self._fit(units)
        return self

    @abstractmethod
    def _fit(self, units: Units) -> None: ...

    @abstractmethod
    def _score(self, units: Units) -> np.ndarray: ...

    @abstractmethod
    def _contributions(self, units: Units) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(weights, values, typical) of shape (n_units, n_features) over `feature_names_`."""

    @property
    def feature_names_(self) -> list[str]:
        return [*self.unit_features_, *self._step_names()]

    def _step_names(self) -> list[str]:
        return []

    def score(self, units: Units) -> pd.Series:
        """Anomaly score per unit (index: unit id); higher = more anomalous."""
        self._check(units)
        return pd.Series(self._score(units), index=units.features.index, name="score")

    def explain(self, units: Units, top: int = 3) -> pd.DataFrame:
        """The `top` features that weigh most in each unit's score, largest first.

        One row per (unit, rank): unit, rank, feature, value (the unit's; for a step
        feature, at the step where it is most unusual), typical (the training median) and
        weight (robust z-score or reconstruction error: the detector's own measure).
        """
        if top < 1:
            raise ValueError("top must be at least 1")
        self._check(units)
        weights, values, typical = self._contributions(units)
        k = min(top, weights.shape[1])
        order = np.argsort(-weights, axis=1, kind="stable")[:, :k]
        rows = np.repeat(np.arange(len(units)), k)
        cols = order.ravel()
        names = np.asarray(self.feature_names_, dtype=object)
        return pd.DataFrame(
            {
                "unit": units.ids[rows],
                "rank": np.tile(np.arange(1, k + 1), len(units)),
                "feature": names[cols],
                "value": values[rows, cols],
                "typical": typical[rows, cols],
                "weight": weights[rows, cols],
            }
        )

    def _check(self, units: Units) -> None:
        self.check_fitted()
        if not isinstance(units, Units):
            raise TypeError(f"{self.name} scores Units, not {type(units).__name__}")
        if units.kind != self.kind_:
            raise ValueError(f"{self.name} was fitted on {self.kind_} units, not {units.kind}")
        missing = [c for c in self.unit_features_ if c not in units.features.columns]
        missing += [c for c in self.step_features_ if c not in units.steps.columns]
        if missing:
            raise ValueError(f"{self.name}: the units lack the fitted feature(s) {missing}")

    def _robust_z(self, units: Units) -> np.ndarray:
        x = units.features[self.unit_features_].to_numpy(dtype=float)
        return np.abs(x - self.center_) / self.scale_

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Config JSON + arrays (npz, no pickle) in the folder `path`; written atomically."""
        self.check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {"center": self.center_, "scale": self.scale_, **self._state()}
        atomic_write_stream(path / ARRAYS_FILE, lambda f: np.savez(f, **arrays))
        self._save_weights(path)
        meta = {
            "model": self.name,
            "config": self.get_params(),
            "kind": self.kind_,
            "step_name": self.step_name_,
            "unit_features": self.unit_features_,
            "step_features": self.step_features_,
        }  # written last: a folder with model.json is complete
        write_json(path / CONFIG_FILE, meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by `save`: the same scores as the detector that was saved."""
        path = Path(path)
        meta = read_model_json(path, cls.name, CONFIG_FILE)
        detector = cls(**meta["config"])
        detector.kind_, detector.step_name_ = meta["kind"], meta["step_name"]
        detector.unit_features_ = list(meta["unit_features"])
        detector.step_features_ = list(meta["step_features"])
        with np.load(path / ARRAYS_FILE, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        detector.center_, detector.scale_ = arrays.pop("center"), arrays.pop("scale")
        detector._set_state(arrays, path)
        return detector

    def _state(self) -> dict[str, np.ndarray]:
        return {}

    def _save_weights(self, path: Path) -> None:
        """Detectors with network weights write them here (before model.json)."""

    def _set_state(self, arrays: Mapping[str, np.ndarray], path: Path) -> None:
        """Detectors with learned arrays or weights restore them here."""


def _robust_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and IQR / 1.349 per column (σ for normal data, as scikit-learn's RobustScaler
    without the constant); the std where the IQR is 0, else 1.

    Not the MAD: where over half the units share one value (gap_cv = 1 for every session
    with fewer than two gaps) the MAD shrinks to nearly 0 and ordinary values got z-scores
    of 70."""
    center = np.median(x, axis=0)
    q25, q75 = np.percentile(x, [25, 75], axis=0)
    iqr = (q75 - q25) / 1.349
    std = x.std(axis=0)
    scale = np.where(iqr > 1e-9, iqr, np.where(std > 1e-9, std, 1.0))
    return center, scale

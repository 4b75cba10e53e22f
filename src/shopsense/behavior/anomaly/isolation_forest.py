"""IsolationForest on the unit features (Liu, Ting & Zhou, "Isolation Forest", ICDM 2008),
kept as plain node arrays and scored with NumPy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shopsense.behavior.anomaly.base import AnomalyDetector
from shopsense.data.units import Units
from shopsense.estimator import register


@dataclass
class IsolationForestConfig:
    """scikit-learn's IsolationForest settings that matter here."""

    n_estimators: int = 100
    """Trees in the forest (scikit-learn's default)."""
    max_samples: int = 256
    """Units drawn to grow each tree (the paper's and scikit-learn's 'auto')."""
    random_state: int = 0
    """Seed of the subsamples and splits."""


@register("isolation_forest")
class IsolationForestDetector(AnomalyDetector):
    """IsolationForest on the unit features: anomalies are isolated by few random splits.

    Fitted with scikit-learn, then kept as plain node arrays and scored with NumPy, so a
    saved forest is JSON + npz and loads without pickle (the scores equal scikit-learn's
    `-score_samples`). Explained by robust z-scores |x - median| / (IQR / 1.349) of the unit
    features: the forest itself has no per-feature decomposition, so the z-scores say which
    features are extreme, not which splits isolated the unit.
    """

    name = "isolation_forest"
    Config = IsolationForestConfig
    config: IsolationForestConfig

    def _fit(self, units: Units) -> None:
        from sklearn.ensemble import IsolationForest

        cfg = self.config
        x = units.features[self.unit_features_].to_numpy(dtype=np.float32)
        forest = IsolationForest(
            n_estimators=cfg.n_estimators,
            max_samples=min(cfg.max_samples, len(x)),
            random_state=cfg.random_state,
        ).fit(x)
        self.forest_ = _export_forest(forest)

    def _score(self, units: Units) -> np.ndarray:
        x = units.features[self.unit_features_].to_numpy(dtype=np.float32)
        return _forest_scores(self.forest_, x)

    def _contributions(self, units: Units) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        values = units.features[self.unit_features_].to_numpy(dtype=float)
        typical = np.broadcast_to(self.center_, values.shape)
        return self._robust_z(units), values, typical

    def _state(self) -> dict[str, np.ndarray]:
        return {f"forest.{k}": v for k, v in self.forest_.items()}

    def _set_state(self, arrays: Mapping[str, np.ndarray], path: Path) -> None:
        self.forest_ = {k.removeprefix("forest."): v for k, v in arrays.items()}


def _export_forest(forest: Any) -> dict[str, np.ndarray]:
    """The fitted trees as flat node arrays: children (local, -1 at leaves), split feature
    and threshold, and per node the path length a unit ending there is charged."""
    left, right, feature, threshold, charge, offsets = [], [], [], [], [], [0]
    for tree in forest.estimators_:
        t = tree.tree_
        depth = np.zeros(t.node_count)
        for node in range(t.node_count):  # parents come before children
            for child in (t.children_left[node], t.children_right[node]):
                if child >= 0:
                    depth[child] = depth[node] + 1
        left.append(t.children_left)
        right.append(t.children_right)
        feature.append(t.feature)
        threshold.append(t.threshold)
        charge.append(depth + _average_path_length(t.n_node_samples.astype(float)))
        offsets.append(offsets[-1] + t.node_count)
    return {
        "left": np.concatenate(left).astype(np.int64),
        "right": np.concatenate(right).astype(np.int64),
        "feature": np.concatenate(feature).astype(np.int64),
        "threshold": np.concatenate(threshold).astype(np.float64),
        "charge": np.concatenate(charge),
        "offsets": np.asarray(offsets, dtype=np.int64),
        "norm": np.asarray([_average_path_length(np.asarray([forest.max_samples_]))[0]]),
    }


def _forest_scores(forest: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """2^(-mean path length / c(max_samples)): 1 = isolated at once, ~0.5 = ordinary."""
    x = x.astype(np.float64)  # float32 inputs compared with float64 thresholds, as sklearn
    offsets = forest["offsets"]
    rows = np.arange(len(x))
    total = np.zeros(len(x))
    for start in offsets[:-1]:
        node = np.full(len(x), start)
        while True:
            inner = forest["left"][node] >= 0
            if not inner.any():
                break
            at = node[inner]
            go_left = x[rows[inner], forest["feature"][at]] <= forest["threshold"][at]
            node[inner] = start + np.where(go_left, forest["left"][at], forest["right"][at])
        total += forest["charge"][node]
    n_trees = len(offsets) - 1
    norm = float(forest["norm"][0])
    return 2.0 ** (-total / (n_trees * norm)) if norm > 0 else np.ones(len(x))


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful search in a binary tree of n nodes."""
    out = np.where(n == 2, 1.0, 0.0)
    big = n > 2
    m = n[big]
    out[big] = 2.0 * (np.log(m - 1.0) + np.euler_gamma) - 2.0 * (m - 1.0) / m
    return out

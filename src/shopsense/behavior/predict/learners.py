"""The tabular learners: base rate, logistic regression, boosted trees exported as node arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shopsense.behavior.predict.base import Learner, _sigmoid, customer_holdout
from shopsense.behavior.predict.features import ModelInputs


class ConstantLearner(Learner):
    """The training mean for everyone: the base rate, the floor every model must beat."""

    def fit(self, x: ModelInputs, y: np.ndarray) -> None:
        self.value_ = float(np.mean(y))

    def predict(self, x: ModelInputs) -> np.ndarray:
        return np.full(len(x), self.value_)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"constant": np.asarray([self.value_])}

    def set_arrays(self, arrays: Mapping[str, np.ndarray], n_static: int) -> None:
        self.value_ = float(arrays["constant"][0])


class LinearLearner(Learner):
    """L2 logistic regression on standardised features (scikit-learn), kept as arrays."""

    def fit(self, x: ModelInputs, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        if self.objective != "binary":
            raise ValueError("logreg predicts probabilities; use gbm or gru for values")
        scaler = StandardScaler().fit(x.static.astype(np.float64))
        model = LogisticRegression(C=self.config.logreg_c, max_iter=2000)
        model.fit(scaler.transform(x.static.astype(np.float64)), y.astype(int))
        self.mean_, self.scale_ = scaler.mean_, scaler.scale_
        self.coef_, self.intercept_ = model.coef_[0], model.intercept_

    def predict(self, x: ModelInputs) -> np.ndarray:
        z = (x.static.astype(np.float64) - self.mean_) / self.scale_
        return _sigmoid(z @ self.coef_ + self.intercept_[0])

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "mean": self.mean_,
            "scale": self.scale_,
            "coef": self.coef_,
            "intercept": self.intercept_,
        }

    def set_arrays(self, arrays: Mapping[str, np.ndarray], n_static: int) -> None:
        self.mean_, self.scale_ = arrays["mean"], arrays["scale"]
        self.coef_, self.intercept_ = arrays["coef"], arrays["intercept"]


class TreeLearner(Learner):
    """Gradient-boosted trees (HistGradientBoosting), exported to node arrays after fitting.

    The number of trees is chosen on held-out *customers* (all their cut-offs), as for the
    GRU: scikit-learn's own early stopping holds out rows, and a customer's rows at other
    cut-offs then leak into its validation, so it never stops."""

    def _estimator(self, n_trees: int) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cfg = self.config
        binary = self.objective == "binary"
        cls = HistGradientBoostingClassifier if binary else HistGradientBoostingRegressor
        return cls(
            learning_rate=cfg.gbm_learning_rate,
            max_iter=n_trees,
            max_leaf_nodes=cfg.gbm_max_leaf_nodes,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=cfg.random_state,
        )

    def fit(self, x: ModelInputs, y: np.ndarray) -> None:
        from threadpoolctl import threadpool_limits

        static = x.static.astype(np.float64)
        train, val = customer_holdout(x.customers, self.config.validation_share, self.config)
        n_trees = self.config.gbm_max_iter
        # OpenMP threads spin-wait: on a busy small machine that made one fit take minutes
        with threadpool_limits(self.config.threads or None, user_api="openmp"):
            if len(val) and len(train):
                probe = self._estimator(n_trees).fit(static[train], y[train])
                self.validation_curve_ = self._staged_loss(probe, static[val], y[val])
                n_trees = int(np.argmin(self.validation_curve_)) + 1
            self.estimator_ = self._estimator(n_trees).fit(static, y)
        self.trees_ = export_trees(self.estimator_)

    def _staged_loss(self, estimator: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Held-out log loss (binary) or squared error after each tree."""
        if self.objective == "binary":
            eps = 1e-7
            return np.array(
                [
                    -np.mean(y * np.log(p[:, 1] + eps) + (1 - y) * np.log(p[:, 0] + eps))
                    for p in estimator.staged_predict_proba(x)
                ]
            )
        return np.array([np.mean((y - p) ** 2) for p in estimator.staged_predict(x)])

    def predict(self, x: ModelInputs) -> np.ndarray:
        raw = trees_raw(self.trees_, x.static.astype(np.float64))
        return _sigmoid(raw) if self.objective == "binary" else raw

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(self.trees_)

    def set_arrays(self, arrays: Mapping[str, np.ndarray], n_static: int) -> None:
        self.trees_ = dict(arrays)


def export_trees(estimator: Any) -> dict[str, np.ndarray]:
    """A fitted single-output HistGradientBoosting model as flat node arrays (all trees
    concatenated; child indices global), so it is saved without pickle and scored by
    `trees_raw`. Reads the estimator's `_predictors`, stable since scikit-learn 0.21."""
    predictors = [p for iteration in estimator._predictors for p in iteration]
    if estimator.n_trees_per_iteration_ != 1:
        raise ValueError("only binary classification or regression trees can be exported")
    nodes = [p.nodes for p in predictors]
    if any(n["is_categorical"].any() for n in nodes):
        raise ValueError("trees with categorical splits cannot be exported")
    sizes = np.array([len(n) for n in nodes], dtype=np.int64)
    roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    shift = np.repeat(roots, sizes)
    flat = np.concatenate(nodes)
    return {
        "feature": flat["feature_idx"].astype(np.int64),
        "threshold": flat["num_threshold"].astype(np.float64),
        "missing_left": flat["missing_go_to_left"].astype(np.uint8),
        "left": flat["left"].astype(np.int64) + shift,
        "right": flat["right"].astype(np.int64) + shift,
        "leaf": flat["is_leaf"].astype(np.uint8),
        "value": flat["value"].astype(np.float64),
        "roots": roots,
        "baseline": np.asarray(estimator._baseline_prediction, np.float64).reshape(1),
    }


def trees_raw(trees: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Sum of leaf values over all trees plus the baseline, as scikit-learn computes it:
    go left when x <= threshold, and NaN goes the way the split learned."""
    node = np.broadcast_to(trees["roots"], (len(x), len(trees["roots"]))).copy()
    rows = np.arange(len(x))[:, None]
    leaf = trees["leaf"].astype(bool)
    while True:
        at_leaf = leaf[node]
        if at_leaf.all():
            break
        value = x[rows, trees["feature"][node]]
        go_left = np.where(
            np.isnan(value), trees["missing_left"][node] == 1, value <= trees["threshold"][node]
        )
        child = np.where(go_left, trees["left"][node], trees["right"][node])
        node = np.where(at_leaf, node, child)
    return trees["baseline"][0] + trees["value"][node].sum(axis=1)

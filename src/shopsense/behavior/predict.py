"""What customers do next: will they buy within 30 days; have they churned (no purchase in 90)?

Every model here learns from *earlier* cut-offs and is scored at a later one, so the period
it is evaluated on is never among its inputs or its labels:

    past = history.until(cutoff)                           # inputs: features, invoices
    future = history.between(cutoff, cutoff + horizon)     # labels

`temporal_split` builds and checks one such pair; `rolling_cutoffs` lists training cut-offs
whose label windows all end by a given date (the evaluation cut-off). Models, one API
(`NextPurchaseModel`, `ChurnModel`; `CustomerValueModel` in `value.py` shares the base):

- "base_rate": the share of positives over the training cut-offs, for everyone;
- "logreg" and "gbm": logistic regression and gradient-boosted trees (scikit-learn's
  HistGradientBoosting) on `customer_features`;
- "gru": a GRU (Cho et al. 2014, "Learning Phrase Representations using RNN
  Encoder-Decoder") over the customer's latest invoices (log value, log lines, log gap,
  log age, month) joined with the same features, trained by the shared `Trainer`.

Saved as config JSON + arrays in safetensors. Boosted trees are exported as node arrays and
scored by a NumPy traversal, so nothing is ever pickled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from safetensors.numpy import load_file, save_file
from torch import nn

from shopsense.behavior.customers import DAY, CustomerHistory
from shopsense.estimator import Estimator, register
from shopsense.persist import atomic_write, read_model_json
from shopsense.train.trainer import (
    Trainer,
    TrainerConfig,
    TrainResult,
    seed_everything,
    select_device,
    torch_threads,
)

CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
STEP_FEATURES = ("log_value", "log_lines", "log_gap_days", "log_age_days", "month_sin", "month_cos")
#: count- and money-like features, heavily right-skewed: models read log1p of them
LOG_FEATURES = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "basket_value",
    "basket_lines",
    "basket_units",
    "distinct_items",
    "cancel_invoices",
    "gap_mean_days",
    "gap_median_days",
    "gap_std_days",
)


# --------------------------------------------------------------------------- temporal split
@dataclass(frozen=True)
class TemporalSplit:
    """Inputs as of `cutoff` and what each of those customers did in the next `horizon_days`."""

    past: CustomerHistory
    """The history strictly before the cut-off: the only thing a model may read."""
    labels: pd.DataFrame
    """Per customer of `past` (index customer_id): purchased (bool), purchases (invoices
    bought in the window) and value (net spend in the window, purchases less cancellations,
    floored at 0)."""
    cutoff: pd.Timestamp
    horizon_days: int

    @property
    def end(self) -> pd.Timestamp:
        return self.cutoff + self.horizon_days * DAY


def temporal_split(
    history: CustomerHistory, cutoff: pd.Timestamp | str, horizon_days: int
) -> TemporalSplit:
    """Inputs before `cutoff`, labels from [cutoff, cutoff + horizon_days).

    Only customers with a purchase before the cut-off are labelled (a model cannot score
    anyone else). Raises ValueError when the cut-off lies outside the data, no customer has
    bought before it, or the label window runs past the end of `history`.
    """
    cutoff = pd.Timestamp(cutoff)
    check_window(history, cutoff, horizon_days)
    past = history.until(cutoff)
    labels = next_period(history, past.customers, cutoff, horizon_days)
    return TemporalSplit(past, labels, cutoff, int(horizon_days))


def check_window(history: CustomerHistory, cutoff: pd.Timestamp, horizon_days: int) -> None:
    """Raise a ValueError that says how to fix a cut-off / horizon the data cannot label."""
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be at least 1, not {horizon_days}")
    if history.lines.empty:
        raise ValueError("the history has no customer lines")
    start, end = history.lines["time"].min(), history.cutoff
    if cutoff > end:
        raise ValueError(
            f"cut-off {cutoff:%Y-%m-%d} is after the end of the data (lines before {end:%Y-%m-%d})"
        )
    if cutoff <= start or history.until(cutoff).invoices.empty:
        raise ValueError(
            f"no customer has a purchase before the cut-off {cutoff:%Y-%m-%d} "
            f"(the data starts {start:%Y-%m-%d})"
        )
    if cutoff + horizon_days * DAY > end:
        latest = end - horizon_days * DAY
        raise ValueError(
            f"the {horizon_days}-day horizon after the cut-off {cutoff:%Y-%m-%d} runs past the "
            f"end of the data ({end:%Y-%m-%d}); use a cut-off on or before {latest:%Y-%m-%d}"
        )


def next_period(
    history: CustomerHistory,
    customers: Iterable[str],
    cutoff: pd.Timestamp | str,
    horizon_days: int,
) -> pd.DataFrame:
    """What `customers` did in [cutoff, cutoff + horizon_days): purchased, purchases, value."""
    cutoff = pd.Timestamp(cutoff)
    index = pd.Index(np.asarray(list(customers), dtype=object).astype(str), name="customer_id")
    window = history.between(cutoff, cutoff + horizon_days * DAY)
    window = window[window["customer_id"].isin(index)]
    bought = window[~window["cancelled"] & (window["value"] > 0)]
    purchases = bought.groupby("customer_id")["invoice_id"].nunique()
    value = window.groupby("customer_id")["value"].sum()
    out = pd.DataFrame(index=index)
    out["purchases"] = purchases.reindex(index).fillna(0).astype(int)
    out["purchased"] = out["purchases"] > 0
    out["value"] = value.reindex(index).fillna(0.0).clip(lower=0.0).astype(float)
    return out


def rolling_cutoffs(
    history: CustomerHistory,
    horizon_days: int,
    *,
    n: int = 6,
    step_days: int = 30,
    end: pd.Timestamp | str | None = None,
) -> list[pd.Timestamp]:
    """Up to `n` training cut-offs `step_days` apart, oldest first, the latest one's label
    window ending by `end` (default: the end of `history`). Pass the evaluation cut-off as
    `end` and no training label comes from the evaluated period. Cut-offs before anyone's
    first purchase are dropped; none left is an error."""
    end = history.cutoff if end is None else pd.Timestamp(end)
    if end > history.cutoff:
        raise ValueError(
            f"end {end:%Y-%m-%d} is after the end of the data ({history.cutoff:%Y-%m-%d})"
        )
    latest = (end - horizon_days * DAY).normalize()
    cutoffs = [latest - k * step_days * DAY for k in range(n)]
    first = history.invoices["time"].min() if len(history.lines) else pd.NaT
    kept = sorted(c for c in cutoffs if pd.notna(first) and c > first)
    if not kept:
        raise ValueError(
            f"no training cut-off fits: a {horizon_days}-day window ending by {end:%Y-%m-%d} "
            f"leaves no purchase history before it"
        )
    return kept


# --------------------------------------------------------------------------- model inputs
def customer_features(history: CustomerHistory) -> pd.DataFrame:
    """`history.features()` ready for a model: log1p of the skewed counts and amounts, no
    NaN (customers with one order get gap 0 and `single_order` 1). Same cut-off, same rows."""
    raw = history.features()
    out = raw.copy()
    for name in LOG_FEATURES:
        out[name] = np.log1p(raw[name].clip(lower=0.0))
    out["single_order"] = raw["gap_mean_days"].isna().astype(float)
    return out.fillna(0.0)


@dataclass
class ModelInputs:
    """Per customer at one cut-off: static features and the latest invoices as steps."""

    customers: np.ndarray
    static: np.ndarray
    """(n, features) float32"""
    steps: np.ndarray
    """(n, max_length, len(STEP_FEATURES)) float32, left-aligned, zero padded"""
    lengths: np.ndarray
    """(n,) int64: real steps per customer (>= 1)"""

    def __len__(self) -> int:
        return len(self.customers)

    def take(self, rows: np.ndarray) -> ModelInputs:
        return ModelInputs(
            self.customers[rows], self.static[rows], self.steps[rows], self.lengths[rows]
        )

    @staticmethod
    def concat(parts: Sequence[ModelInputs]) -> ModelInputs:
        return ModelInputs(
            np.concatenate([p.customers for p in parts]),
            np.concatenate([p.static for p in parts]),
            np.concatenate([p.steps for p in parts]),
            np.concatenate([p.lengths for p in parts]),
        )


def model_inputs(
    history: CustomerHistory,
    feature_names: Sequence[str],
    max_length: int,
    features: pd.DataFrame | None = None,
) -> ModelInputs:
    """Static features (in `feature_names` order; missing product groups are 0) and the
    invoice sequence of every customer with a purchase before `history.cutoff`."""
    features = customer_features(history) if features is None else features
    static = features.reindex(columns=list(feature_names), fill_value=0.0)
    customers = static.index.to_numpy().astype(str)
    steps, lengths = invoice_steps(history, customers, max_length)
    return ModelInputs(customers, static.to_numpy(np.float32), steps, lengths)


def invoice_steps(
    history: CustomerHistory, customers: np.ndarray, max_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """The latest `max_length` invoices of each customer as `STEP_FEATURES` rows."""
    inv = history.invoices
    rows = pd.Index(customers).get_indexer(inv["customer_id"])
    inv, rows = inv[rows >= 0], rows[rows >= 0]
    g = inv.groupby("customer_id", sort=False)
    gap = (g["time"].diff() / DAY).fillna(0.0).to_numpy()
    age = ((history.cutoff - inv["time"]) / DAY).to_numpy()
    angle = 2 * np.pi * (inv["time"].dt.month.to_numpy() - 1) / 12
    values = np.column_stack(
        [
            np.log1p(inv["value"].to_numpy()),
            np.log1p(inv["lines"].to_numpy()),
            np.log1p(gap),
            np.log1p(age),
            np.sin(angle),
            np.cos(angle),
        ]
    ).astype(np.float32)
    from_end = g.cumcount(ascending=False).to_numpy()
    lengths = np.minimum(np.bincount(rows, minlength=len(customers)), max_length)
    keep = from_end < max_length
    position = lengths[rows] - 1 - from_end
    steps = np.zeros((len(customers), max_length, len(STEP_FEATURES)), np.float32)
    steps[rows[keep], position[keep]] = values[keep]
    return steps, lengths.astype(np.int64)


# --------------------------------------------------------------------------- config
@dataclass
class BehaviorConfig(TrainerConfig):
    """Settings of a cut-off model; the trainer's fields apply to kind="gru" only."""

    kind: str = "gru"
    """Which model: see the class's `kinds`."""
    horizon_days: int = 30
    """Length of the period after the cut-off that the label describes."""
    max_length: int = 50
    """GRU: latest invoices read per customer."""
    hidden_size: int = 32
    """GRU: width of the recurrent state and of the static-feature layer."""
    dropout: float = 0.1
    """GRU: dropout before the output head."""
    validation_share: float = 0.15
    """GRU and gbm: share of training customers held out to choose epochs / trees (0: none)."""
    gbm_max_iter: int = 300
    """Gradient boosting: most trees; the count is chosen on the held-out customers."""
    gbm_learning_rate: float = 0.05
    gbm_max_leaf_nodes: int = 15
    logreg_c: float = 1.0
    """Logistic regression: inverse L2 strength on standardised features."""
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 3e-3
    patience: int = 4
    threads: int = 1
    """CPU threads of torch (gru) and OpenMP (gbm); 0: the libraries' default. These models
    are small: one thread is fast and immune to the spin-waiting that made two threads on a
    busy 2-core machine 100x slower."""


# --------------------------------------------------------------------------- learners
class Learner:
    """One kind of model on `ModelInputs`: binary (probabilities) or regression."""

    def __init__(self, objective: str, config: BehaviorConfig) -> None:
        self.objective = objective
        self.config = config

    def fit(self, x: ModelInputs, y: np.ndarray) -> None:
        raise NotImplementedError

    def predict(self, x: ModelInputs) -> np.ndarray:
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def set_arrays(self, arrays: Mapping[str, np.ndarray], n_static: int) -> None:
        raise NotImplementedError


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


def customer_holdout(
    customers: np.ndarray, share: float, config: TrainerConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of training and of held-out customers (seeded): a customer seen at several
    cut-offs is on one side only, so validation measures new customers, not memory."""
    everyone = np.unique(customers)
    rng = np.random.default_rng(config.random_state)
    n_val = round(share * len(everyone)) if 0 < share < 1 else 0
    held = np.isin(customers, rng.choice(everyone, n_val, replace=False))
    return np.flatnonzero(~held), np.flatnonzero(held)


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


#: network outputs per objective: a logit, a log1p value, or (logit, mu, sigma) of ZILN
OUTPUTS = {"binary": 1, "regression": 1, "ziln": 3}


class SequenceNet(nn.Module):
    """GRU over the invoice steps, its last state joined with the static features, then an
    MLP to the objective's outputs. Input scaling lives in buffers, so the saved weights
    are the whole model."""

    def __init__(
        self, n_steps: int, n_static: int, hidden: int, dropout: float, n_outputs: int = 1
    ) -> None:
        super().__init__()
        self.register_buffer("step_mean", torch.zeros(n_steps))
        self.register_buffer("step_std", torch.ones(n_steps))
        self.register_buffer("static_mean", torch.zeros(n_static))
        self.register_buffer("static_std", torch.ones(n_static))
        self.gru = nn.GRU(n_steps, hidden, batch_first=True)
        self.static = nn.Sequential(nn.Linear(n_static, hidden), nn.ReLU())
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_outputs),
        )

    def forward(
        self, steps: torch.Tensor, lengths: torch.Tensor, static: torch.Tensor
    ) -> torch.Tensor:
        out, _ = self.gru((steps - self.step_mean) / self.step_std)
        last = out[torch.arange(len(lengths), device=out.device), lengths - 1]
        s = self.static((static - self.static_mean) / self.static_std)
        out = self.head(torch.cat([last, s], dim=1))
        return out.squeeze(1) if out.shape[1] == 1 else out


class SequenceLearner(Learner):
    """`SequenceNet` trained by the shared `Trainer`: seeded, early stopping on held-out
    customers (all their cut-offs), cpu unless cuda is there.

    Objectives: "binary" (BCE on a logit), "regression" (MSE) and "ziln", the zero-inflated
    lognormal of Wang, Liu & Miao 2019 ("A Deep Probabilistic Model for Customer Lifetime
    Value Prediction"): P(spend > 0) and a lognormal for the amount, predicted as
    `ziln_value`. A log1p regression instead predicts a geometric-mean-like value, far
    below what customers who may spend nothing spend on average."""

    def _build(self, n_static: int) -> SequenceNet:
        cfg = self.config
        return SequenceNet(
            len(STEP_FEATURES), n_static, cfg.hidden_size, cfg.dropout, OUTPUTS[self.objective]
        )

    def fit(self, x: ModelInputs, y: np.ndarray) -> None:
        cfg = self.config
        self.device_ = select_device(cfg.device)
        train, val = customer_holdout(x.customers, cfg.validation_share, cfg)
        with torch_threads(cfg.threads):
            seed_everything(cfg.random_state)
            module = self._build(x.static.shape[1])
            _set_scaling(module, x.take(train))
            _set_output_bias(module, y[train], self.objective)
            self.module_ = module.to(self.device_)
            task = _SequenceTask(self, x, y, train, val)
            self.training_: TrainResult = Trainer(cfg, desc=f"gru-{self.objective}").fit(task)
        self.module_.eval()

    def outputs(self, x: ModelInputs, rows: np.ndarray | None = None) -> torch.Tensor:
        """Raw network outputs for `rows` of x (all rows by default), in chunks of similar
        length (a chunk runs as many GRU steps as its longest sequence)."""
        rows = np.arange(len(x)) if rows is None else np.asarray(rows)
        order = np.argsort(x.lengths[rows], kind="stable")
        width = OUTPUTS[self.objective]
        shape = (len(rows),) if width == 1 else (len(rows), width)
        out = torch.zeros(shape, device=self.device_)
        for i in range(0, len(rows), 1024):
            chunk = order[i : i + 1024]
            out[torch.from_numpy(chunk).to(self.device_)] = self._forward(x, rows[chunk])
        return out

    def _forward(self, x: ModelInputs, rows: np.ndarray) -> torch.Tensor:
        lengths = x.lengths[rows]
        width = int(lengths.max())
        dev = self.device_
        return self.module_(
            torch.from_numpy(np.ascontiguousarray(x.steps[rows, :width])).to(dev),
            torch.from_numpy(lengths).to(dev),
            torch.from_numpy(x.static[rows]).to(dev),
        )

    def predict(self, x: ModelInputs) -> np.ndarray:
        self.module_.eval()
        with torch.no_grad(), torch_threads(self.config.threads):
            out = self.outputs(x).double().cpu().numpy()
        if self.objective == "ziln":
            return ziln_value(out)
        return _sigmoid(out) if self.objective == "binary" else out

    def arrays(self) -> dict[str, np.ndarray]:
        state = self.module_.state_dict()
        return {k: v.detach().cpu().contiguous().numpy() for k, v in state.items()}

    def set_arrays(self, arrays: Mapping[str, np.ndarray], n_static: int) -> None:
        self.device_ = select_device(self.config.device)
        module = self._build(n_static)
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        self.module_ = module.to(self.device_).eval()


def _set_scaling(module: SequenceNet, x: ModelInputs) -> None:
    """Standardise inputs with training statistics (steps: real positions only)."""
    real = np.arange(x.steps.shape[1])[None, :] < x.lengths[:, None]
    steps = x.steps[real].astype(np.float64)
    static = x.static.astype(np.float64)
    for name, values in (("step", steps), ("static", static)):
        std = values.std(axis=0)
        getattr(module, f"{name}_mean").copy_(torch.from_numpy(values.mean(axis=0)))
        getattr(module, f"{name}_std").copy_(torch.from_numpy(np.where(std > 1e-6, std, 1.0)))


def ziln_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Zero-inflated lognormal loss: BCE of spending at all + the lognormal negative
    log-likelihood of the amount for those who spent (Wang, Liu & Miao 2019)."""
    positive = (y > 0).float()
    bce = nn.functional.binary_cross_entropy_with_logits(out[:, 0], positive)
    mu, sigma = out[:, 1], nn.functional.softplus(out[:, 2]) + 1e-3
    log_y = torch.log(torch.where(y > 0, y, torch.ones_like(y)))
    nll = (
        log_y + torch.log(sigma) + 0.5 * math.log(2 * math.pi) + (log_y - mu) ** 2 / (2 * sigma**2)
    )
    return bce + (positive * nll).mean()


def ziln_value(out: np.ndarray) -> np.ndarray:
    """The point prediction of a ZILN output: P(spend > 0) · exp(mu), the chance of
    spending times the median amount. The lognormal mean p · exp(mu + sigma² / 2) was
    tried: sigma is poorly pinned per customer, and exp(sigma² / 2) blew single customers
    up (on the bundled sample its MAE was worse than predicting 0 for everyone)."""
    return _sigmoid(out[:, 0]) * np.exp(np.minimum(out[:, 1], 50.0))


def _set_output_bias(module: SequenceNet, y: np.ndarray, objective: str) -> None:
    """Start the output at the training data's own answer (base rate, mean, or the ZILN
    share of spenders and the mean / sd of their log spend): training then learns who
    differs from it instead of first walking there."""
    if objective == "binary":
        rate = float(np.clip(np.mean(y), 1e-4, 1 - 1e-4))
        bias = [math.log(rate / (1 - rate))]
    elif objective == "regression":
        bias = [float(np.mean(y))]
    else:
        spent = y[y > 0]
        rate = float(np.clip(len(spent) / max(len(y), 1), 1e-4, 1 - 1e-4))
        log_y = np.log(spent) if len(spent) else np.zeros(1)
        sd = max(float(np.std(log_y)), 0.1)
        bias = [math.log(rate / (1 - rate)), float(np.mean(log_y)), math.log(math.expm1(sd))]
    last = module.head[-1]
    with torch.no_grad():
        last.bias.copy_(torch.tensor(bias, dtype=last.bias.dtype))


class _SequenceTask:
    """The trainer's view of a `SequenceLearner`: shuffled row batches, the objective's
    loss (BCE, MSE or ZILN), validation = minus the held-out loss (higher is better)."""

    def __init__(
        self,
        learner: SequenceLearner,
        x: ModelInputs,
        y: np.ndarray,
        train: np.ndarray,
        val: np.ndarray,
    ) -> None:
        self.learner, self.x, self.train_rows, self.val_rows = learner, x, train, val
        self.module = learner.module_
        self.y = torch.from_numpy(np.asarray(y, np.float32)).to(learner.device_)
        criteria = {"binary": nn.BCEWithLogitsLoss(), "regression": nn.MSELoss()}
        self.criterion = criteria.get(learner.objective, ziln_loss)

    def batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        """Shuffled batches of customers with similar sequence lengths (sorted within pools
        of 20 batches, batch order shuffled): most batches then run a few GRU steps, not
        `max_length`."""
        size = self.learner.config.batch_size
        order = rng.permutation(self.train_rows)
        pool = 20 * size
        batches = []
        for i in range(0, len(order), pool):
            part = order[i : i + pool]
            part = part[np.argsort(self.x.lengths[part], kind="stable")]
            batches += [part[j : j + size] for j in range(0, len(part), size)]
        for k in rng.permutation(len(batches)):
            yield batches[k]

    def loss(self, rows: np.ndarray) -> torch.Tensor:
        out = self.learner._forward(self.x, rows)
        return self.criterion(out, self.y[torch.from_numpy(rows).to(self.y.device)])

    def validate(self) -> float | None:
        if len(self.val_rows) == 0:
            return None
        out = self.learner.outputs(self.x, self.val_rows)
        target = self.y[torch.from_numpy(self.val_rows).to(self.y.device)]
        return -float(self.criterion(out, target))


LEARNERS: dict[str, type[Learner]] = {
    "base_rate": ConstantLearner,
    "logreg": LinearLearner,
    "gbm": TreeLearner,
    "gru": SequenceLearner,
}


# --------------------------------------------------------------------------- estimators
class CutoffModel(Estimator):
    """Shared base: learn from labels at earlier cut-offs, score customers at a later one.

    `fit(history, cutoffs)` builds a `temporal_split` per cut-off (each label window must
    end within `history`), stacks every customer at every cut-off as one example and fits
    the learner of `kind`. `history` should end at the evaluation cut-off so that nothing
    from the evaluated period can reach the model.
    """

    name: ClassVar[str]
    fitted_attribute = "cutoffs_"
    kinds: ClassVar[tuple[str, ...]]
    objective: ClassVar[str] = "binary"
    default_horizon: ClassVar[int]

    def __init__(self, kind: str = "gru", horizon_days: int | None = None, **params: Any):
        known = {f.name for f in fields(BehaviorConfig)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown parameter(s) {unknown}")
        horizon = self.default_horizon if horizon_days is None else horizon_days
        self.config = BehaviorConfig(kind=kind, horizon_days=horizon, **params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.config.kind!r}, horizon_days={self.horizon})"

    @property
    def horizon(self) -> int:
        return int(self.config.horizon_days)

    # ----------------------------------------------------------------- what a task defines
    def target(self, labels: pd.DataFrame) -> pd.Series:
        """What this model predicts, as observed in a split's `labels`."""
        raise NotImplementedError

    # ----------------------------------------------------------------- fitting
    def fit(
        self, history: CustomerHistory, cutoffs: Sequence[pd.Timestamp | str] | None = None
    ) -> Self:
        """Learn from every customer at every cut-off (default: `rolling_cutoffs`)."""
        self._check_kind()
        cutoffs = self._cutoffs(history, cutoffs)
        splits = [temporal_split(history, c, self.horizon) for c in cutoffs]
        features = [customer_features(s.past) for s in splits]
        self.feature_names_ = _union_columns(features)
        x = ModelInputs.concat(
            [
                model_inputs(s.past, self.feature_names_, self.config.max_length, f)
                for s, f in zip(splits, features, strict=True)
            ]
        )
        y = np.concatenate([self._encode(self.target(s.labels)) for s in splits])
        self.cutoffs_ = list(cutoffs)
        self.n_examples_ = len(y)
        self.learner_ = LEARNERS[self.config.kind](self._objective(), self.config)
        self.learner_.fit(x, y)
        return self

    def _check_kind(self) -> None:
        if self.config.kind not in self.kinds:
            raise ValueError(
                f"{type(self).__name__}: kind must be one of {self.kinds}, not {self.config.kind!r}"
            )

    def _cutoffs(
        self, history: CustomerHistory, cutoffs: Sequence[pd.Timestamp | str] | None
    ) -> list[pd.Timestamp]:
        if cutoffs is None:
            return rolling_cutoffs(history, self.horizon)
        cutoffs = sorted(pd.Timestamp(c) for c in cutoffs)
        if not cutoffs:
            raise ValueError("fit needs at least one training cut-off")
        return cutoffs

    def _objective(self) -> str:
        """What the learner of this model's kind optimises (see `SequenceLearner`)."""
        return self.objective

    def _encode(self, target: pd.Series) -> np.ndarray:
        return target.to_numpy(np.float64)

    # ----------------------------------------------------------------- scoring
    def _check_input(self, history: CustomerHistory) -> None:
        """Fitted, and handed a customer view (a frame or ids would fail deep inside)."""
        self._check_fitted()
        if not isinstance(history, CustomerHistory):
            raise TypeError(
                f"{type(self).__name__} scores a CustomerHistory, not {type(history).__name__}"
            )

    def _raw(self, history: CustomerHistory) -> pd.Series:
        """The learner's output for every customer with a purchase before history.cutoff."""
        self._check_input(history)
        if history.invoices.empty:
            raise ValueError(
                f"no customer has a purchase before the cut-off {history.cutoff:%Y-%m-%d}: "
                "nobody to score"
            )
        x = model_inputs(history, self.feature_names_, self.config.max_length)
        index = pd.Index(x.customers, name="customer_id")
        return pd.Series(self.learner_.predict(x), index=index)

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Config and learned state as JSON + arrays as safetensors, each written atomically."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta, arrays = self._state()
        arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        atomic_write(path / WEIGHTS_FILE, lambda tmp: save_file(arrays, tmp))
        meta = {"model": self.name, "config": self.get_params(), **meta}
        text = json.dumps(meta, indent=2)
        atomic_write(path / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by `save`: the same predictions as the saved model."""
        path = Path(path)
        meta = read_model_json(path, cls.name, CONFIG_FILE)
        model = cls(**meta.pop("config"))
        model._set_state(meta, load_file(path / WEIGHTS_FILE))
        return model

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "feature_names": list(self.feature_names_),
            "cutoffs": [str(c) for c in self.cutoffs_],
            "n_examples": int(self.n_examples_),
        }
        return meta, self.learner_.arrays()

    def _set_state(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        self.feature_names_ = list(meta["feature_names"])
        self.cutoffs_ = [pd.Timestamp(c) for c in meta["cutoffs"]]
        self.n_examples_ = int(meta["n_examples"])
        self.learner_ = LEARNERS[self.config.kind](self._objective(), self.config)
        self.learner_.set_arrays(arrays, len(self.feature_names_))


@register("next_purchase")
class NextPurchaseModel(CutoffModel):
    """P(a customer buys within `horizon_days` of the cut-off), 30 days by default.

    >>> model = NextPurchaseModel("gbm").fit(history.until("2011-09-01"))
    >>> p = model.predict_proba(history.until("2011-09-01"))   # Series by customer_id
    """

    name = "next_purchase"
    kinds = ("base_rate", "logreg", "gbm", "gru")
    default_horizon = 30

    def target(self, labels: pd.DataFrame) -> pd.Series:
        return labels["purchased"].rename(f"purchase_{self.horizon}d")

    def predict_proba(self, history: CustomerHistory) -> pd.Series:
        """Probability per customer with a purchase before `history.cutoff`."""
        return self._raw(history).rename(f"p_{self.target_name}")

    @property
    def target_name(self) -> str:
        return f"purchase_{self.horizon}d"


@register("churn")
class ChurnModel(NextPurchaseModel):
    """P(a customer makes no purchase within `horizon_days` of the cut-off), 90 by default."""

    name = "churn"
    default_horizon = 90

    def target(self, labels: pd.DataFrame) -> pd.Series:
        return (~labels["purchased"]).rename(self.target_name)

    @property
    def target_name(self) -> str:
        return f"churn_{self.horizon}d"


# --------------------------------------------------------------------------- evaluation
def probability_scores(
    y_true: np.ndarray | pd.Series, p: np.ndarray | pd.Series
) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), Brier score and log loss of probabilities,
    with the observed and mean predicted rate (their gap is calibration-in-the-large)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    y, p = np.asarray(y_true, dtype=float), np.asarray(p, dtype=float)
    if len(y) != len(p) or len(y) == 0:
        raise ValueError(f"need as many probabilities as labels (got {len(p)} and {len(y)})")
    if len(np.unique(y)) < 2:
        raise ValueError("ROC-AUC needs both outcomes among the labels")
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7))),
        "observed_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
    }


def aligned(truth: pd.Series, predicted: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Truth and predictions for the same customers, in one order; a customer missing from
    either side is an error (it means the two came from different cut-offs)."""
    if not truth.index.equals(predicted.index):
        if set(truth.index) != set(predicted.index):
            raise ValueError("truth and predictions cover different customers")
        predicted = predicted.reindex(truth.index)
    return truth.to_numpy(np.float64), predicted.to_numpy(np.float64)


def calibration_table(y_true: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Customers in `n_bins` equal-count bins of predicted probability: mean predicted,
    observed rate and count per bin (a reliability diagram as numbers)."""
    y, p = np.asarray(y_true, float), np.asarray(p, float)
    bins = pd.qcut(pd.Series(p).rank(method="first"), n_bins, labels=False)
    frame = pd.DataFrame({"bin": bins, "predicted": p, "observed": y})
    return frame.groupby("bin").agg(
        predicted=("predicted", "mean"), observed=("observed", "mean"), n=("observed", "size")
    )


def calibration_plot(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    *,
    n_bins: int = 10,
    title: str = "",
) -> Path:
    """Reliability diagram (observed rate against mean predicted probability, equal-count
    bins) of each model's (y_true, p), written as a PNG without a display (Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.calibration import calibration_curve

    fig = Figure(figsize=(5, 5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for label, (y, p) in curves.items():
        observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
        ax.plot(predicted, observed, marker="o", markersize=3, label=label)
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title=title)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path


# --------------------------------------------------------------------------- helpers
def _union_columns(frames: Sequence[pd.DataFrame]) -> list[str]:
    """Columns of all frames: those of the first in order, then the new ones sorted."""
    first = list(frames[0].columns)
    extra = sorted({c for f in frames[1:] for c in f.columns} - set(first))
    return first + extra


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


__all__ = [
    "LEARNERS",
    "STEP_FEATURES",
    "BehaviorConfig",
    "ChurnModel",
    "CutoffModel",
    "ModelInputs",
    "NextPurchaseModel",
    "SequenceNet",
    "TemporalSplit",
    "aligned",
    "calibration_plot",
    "calibration_table",
    "check_window",
    "customer_features",
    "export_trees",
    "invoice_steps",
    "model_inputs",
    "next_period",
    "probability_scores",
    "rolling_cutoffs",
    "temporal_split",
    "trees_raw",
    "ziln_loss",
    "ziln_value",
]

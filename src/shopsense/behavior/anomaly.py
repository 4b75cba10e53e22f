"""Anomalous orders and sessions: which invoices and browsing sessions look unlike the rest.

Two kinds of units are scored, each a row of features plus its sequence of steps:

- orders (`order_units`): one per invoice of the raw `order_lines`. Guest lines,
  cancellations and non-product rows (postage, fees, bad-debt adjustments) stay in: they
  are where odd things happen. The steps are the invoice's lines, in file order.
- sessions (`session_units`): one per `session_id` of view events; the steps are the
  session's events, oldest first.

Prices and popularity are compared against a reference (`order_reference`,
`session_reference`) computed on a training period, so a test period's odd prices cannot
move their own yardstick.

Two detectors share one API: `fit(units)` on unlabelled units, `score(units)` (higher =
more anomalous), `explain(units, top=3)`, `save` / `load` (JSON + npz / safetensors):

- `IsolationForestDetector`: scikit-learn's IsolationForest on the unit features
  (Liu, Ting & Zhou, "Isolation Forest", ICDM 2008), explained by robust z-scores.
- `SequenceAutoencoder`: a GRU encoder–decoder over the steps and the unit features
  (Malhotra et al., "LSTM-based Encoder-Decoder for Multi-sensor Anomaly Detection",
  ICML workshop 2016), trained with the shared `Trainer`; score = reconstruction error,
  explained per feature.

`evaluate_orders` and `evaluate_sessions` measure both on a temporal split against real
labels and seeded injected anomalies; docs/behaviour-anomalies.md has the numbers.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file
from torch import nn

from shopsense.behavior.customers import LINE_COLUMNS
from shopsense.data.orders import order_line_view
from shopsense.estimator import Estimator, register
from shopsense.persist import atomic_write_stream, read_model_json, write_json
from shopsense.train.trainer import (
    Trainer,
    TrainerConfig,
    TrainResult,
    seed_everything,
    select_device,
    torch_threads,
)

EVENT_COLUMNS = ("session_id", "item_id", "timestamp")
VIEW_COLUMNS = ("line_type", "kind", "is_product", "is_sale", "takes_back", "country")
"""Stock codes of "Adjust bad debt" (B) and manual price corrections (M, m) in UCI Online
Retail: the `manual_adjustment` label."""
RATIO_LIMIT = float(np.log(1000.0))
"""Price ratios (log of price / the item's usual price) are clipped to ±log(1000); a zero or
negative price counts as 1000 times below the usual price."""
OFF_PRICE = float(np.log(2.0))
"""A line is "far from its usual price" when it costs under half or over twice the median."""
ORDER_INJECTIONS = ("bulk_fraud", "price_manipulation")
SESSION_INJECTIONS = ("fast_bot", "regular_bot")
LABEL_FEATURES: dict[str, tuple[str, ...]] = {
    "cancellation": ("cancelled", "negative_share", "line.negative"),
    "manual_adjustment": ("non_product_share", "line.non_product"),
    "extreme_quantity": (),
    "off_price": (),
}
"""Per real order label, the features that define it and are left out when it is measured.
`extreme_quantity` and `off_price` are defined on quantities and price ratios the detectors
do see (quantity_max_log, price_ratio_min/max): those rows measure whether a detector puts
what it sees first, not whether it discovers something hidden."""
LABEL_DEFINING: tuple[str, ...] = tuple(sorted({f for fs in LABEL_FEATURES.values() for f in fs}))
"""All label-defining features: `evaluate_orders` fits once without them, for every label."""
CONFIG_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"
WEIGHTS_FILE = "weights.safetensors"


# --------------------------------------------------------------------------- units
@dataclass(frozen=True, eq=False)
class Units:
    """Scoreable units: one feature row each, and each one's sequence of steps."""

    kind: str
    """"order" or "session"."""
    features: pd.DataFrame
    """Index: unit id (str); one float column per unit feature."""
    steps: pd.DataFrame
    """Column `unit` (the unit id), then one float column per step feature; in sequence order
    within each unit."""
    step_name: str
    """What a step is ("line", "event"); step features are named `<step_name>.<column>`."""
    start: pd.Series
    """Index: unit id; when the unit began (for temporal splits)."""

    def __post_init__(self) -> None:
        if self.features.empty:
            raise ValueError(f"no {self.kind} units: nothing to score")
        if "unit" not in self.steps.columns:
            raise ValueError("steps need a 'unit' column naming each step's unit")
        for name, frame in (("feature", self.features), ("step feature", self.step_frame)):
            values = frame.to_numpy(dtype=float)
            if not np.isfinite(values).all():
                column = frame.columns[np.flatnonzero(~np.isfinite(values).all(axis=0))[0]]
                raise ValueError(f"{self.kind} {name} {column!r} has missing or infinite values")
        have = set(self.steps["unit"].unique())
        if len(have) != len(self.features) or not have <= set(self.features.index):
            raise ValueError(f"every {self.kind} unit needs at least one {self.step_name}")

    def __len__(self) -> int:
        return len(self.features)

    def __repr__(self) -> str:
        return (
            f"Units({self.kind}: {len(self)} units, {self.features.shape[1]} features, "
            f"{len(self.steps)} {self.step_name}s with {self.step_frame.shape[1]} features)"
        )

    @property
    def ids(self) -> np.ndarray:
        """Unit ids, in row order."""
        return self.features.index.to_numpy()

    @property
    def step_frame(self) -> pd.DataFrame:
        """The step features without the `unit` column."""
        return self.steps.drop(columns="unit")

    @property
    def feature_names(self) -> list[str]:
        """Unit features, then step features as `<step_name>.<column>`."""
        steps = [f"{self.step_name}.{c}" for c in self.step_frame.columns]
        return [*self.features.columns, *steps]

    def without(self, names: Iterable[str]) -> Units:
        """The same units without some features (unit or `<step_name>.<column>` names)."""
        names = set(names)
        unknown = names - set(self.feature_names)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; have {self.feature_names}")
        prefix = f"{self.step_name}."
        steps = [n.removeprefix(prefix) for n in names if n.startswith(prefix)]
        return Units(
            self.kind,
            self.features.drop(columns=[n for n in names if n in self.features.columns]),
            self.steps.drop(columns=steps),
            self.step_name,
            self.start,
        )

    def subset(self, ids: Iterable[str]) -> Units:
        """Only the units `ids` (in that order)."""
        ids = pd.Index(list(ids))
        steps = self.steps[self.steps["unit"].isin(ids)]
        return Units(self.kind, self.features.loc[ids], steps, self.step_name, self.start[ids])

    def sample(self, n: int, random_state: int = 0) -> Units:
        """At most `n` units drawn at random (seeded), in their original order."""
        if n <= 0 or n >= len(self):
            return self
        keep = np.random.default_rng(random_state).choice(len(self), n, replace=False)
        return self.subset(self.ids[np.sort(keep)])


@dataclass(frozen=True, eq=False)
class OrderReference:
    """What an item usually costs and how often it sells, from a training period's lines."""

    price: pd.Series
    """item_id -> median unit price of its purchase lines (not cancelled, price > 0)."""
    lines: pd.Series
    """item_id -> number of those lines."""
    products: frozenset[str] = frozenset()
    """Items of kind "product" among them (postage, fees and vouchers are not)."""


@dataclass(frozen=True, eq=False)
class SessionReference:
    """How often items are viewed and the typical gap between views, from training sessions."""

    views: pd.Series
    """item_id -> number of views."""
    gap_median_s: float
    """Median seconds between consecutive views of a session: the gap features of a one-event
    session, which has no gap of its own (neutral, so one view alone is not odd)."""


def order_reference(order_lines: pd.DataFrame) -> OrderReference:
    """Usual prices from purchase lines (not cancelled, quantity and price > 0)."""
    lines = _order_lines(order_lines)
    sold = lines[lines["is_sale"] & (lines["unit_price"] > 0)]
    grouped = sold.groupby("item_id")["unit_price"]
    products = frozenset(sold.loc[sold["is_product"], "item_id"])
    return OrderReference(grouped.median(), grouped.size().astype(float), products)


def session_reference(events: pd.DataFrame) -> SessionReference:
    """View counts per item and the median gap between views, from training events."""
    ev = _session_events(events)
    gaps = ev.groupby("session_id", sort=False)["timestamp"].diff().dt.total_seconds().dropna()
    gap = float(gaps.median()) if len(gaps) else 0.0
    return SessionReference(ev["item_id"].value_counts().astype(float), gap)


def order_units(
    order_lines: pd.DataFrame,
    *,
    reference: OrderReference | None = None,
    source: str = "order_lines",
) -> Units:
    """One unit per invoice of the raw lines (guests, cancellations and fees included).

    Unit features: lines_log, units_log, value_log (log1p of absolute totals),
    quantity_max_log, quantity_mean_log, price_max_log, price_min_log, price_ratio_min /
    price_ratio_max (log of price / the item's usual price), off_price_share (lines under half
    or over twice it), distinct_share, popularity_mean (log1p lines of the item), hour,
    weekday, guest, non_product_share, negative_share and cancelled (the invoice returns or
    cancels something: a line of type return or cancellation).
    Step (line) features: quantity_log, price_log, price_ratio, popularity, negative,
    non_product. Quantities enter as absolute values, so a cancellation shows only through
    negative_share, line.negative and cancelled. `reference` defaults to these lines' own.
    """
    lines = _order_lines(order_lines, source)
    if reference is None:
        reference = order_reference(lines)
    qty = lines["quantity"].to_numpy(dtype=float)
    price = lines["unit_price"].to_numpy(dtype=float)
    usual = lines["item_id"].map(reference.price).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(price / usual)
    ratio = np.where(np.isnan(usual), 0.0, np.where(price > 0, ratio, -RATIO_LIMIT))
    ratio = np.clip(ratio, -RATIO_LIMIT, RATIO_LIMIT)
    popularity = np.log1p(lines["item_id"].map(reference.lines).fillna(0.0).to_numpy(dtype=float))
    steps = pd.DataFrame(
        {
            "unit": lines["invoice_id"].to_numpy(),
            "quantity_log": np.log1p(np.abs(qty)),
            "price_log": np.log1p(np.abs(price)),
            "price_ratio": ratio,
            "popularity": popularity,
            "negative": (qty < 0).astype(float),
            "non_product": (~lines["is_product"]).to_numpy(dtype=float),
        }
    )
    work = steps.assign(
        abs_q=np.abs(qty),
        value=np.abs(qty * price),
        off=(np.abs(ratio) > OFF_PRICE).astype(float),
        item=lines["item_id"].to_numpy(),
        guest=lines["customer_id"].isna().to_numpy(dtype=float),
        takes_back=lines["takes_back"].to_numpy(dtype=float),
        time=lines["time"].to_numpy(),
    )
    g = work.groupby("unit", sort=False)
    n = g.size().astype(float)
    first = g["time"].min()
    features = pd.DataFrame(
        {
            "lines_log": np.log1p(n),
            "units_log": np.log1p(g["abs_q"].sum()),
            "value_log": np.log1p(g["value"].sum()),
            "quantity_max_log": g["quantity_log"].max(),
            "quantity_mean_log": np.log1p(g["abs_q"].mean()),
            "price_max_log": g["price_log"].max(),
            "price_min_log": g["price_log"].min(),
            "price_ratio_min": g["price_ratio"].min(),
            "price_ratio_max": g["price_ratio"].max(),
            "off_price_share": g["off"].mean(),
            "distinct_share": g["item"].nunique() / n,
            "popularity_mean": g["popularity"].mean(),
            "hour": first.dt.hour + first.dt.minute / 60.0,
            "weekday": first.dt.day_of_week.astype(float),
            "guest": g["guest"].max(),
            "non_product_share": g["non_product"].mean(),
            "negative_share": g["negative"].mean(),
        }
    )
    features["cancelled"] = g["takes_back"].max()
    features.index.name = "invoice_id"
    return Units("order", features.astype(float), steps, "line", first)


def session_units(
    events: pd.DataFrame,
    *,
    reference: SessionReference | None = None,
    source: str = "events",
) -> Units:
    """One unit per session of events (rows without a session id are left out).

    Unit features: events_log, duration_log (log1p seconds), distinct_share, gap_mean_log /
    gap_min_log / gap_max_log (log1p seconds between consecutive events), gap_cv (std / mean
    of the gaps: 0 for perfectly regular ones; 1, as for random arrivals, with fewer than
    two gaps) and popularity_mean (log1p views of the item in the reference). Step (event)
    features: gap_log (0 for the first event), repeat (item seen earlier in the session),
    popularity. `reference` defaults to these events' own.
    """
    ev = _session_events(events, source)
    if reference is None:
        reference = session_reference(ev)
    gap = ev.groupby("session_id", sort=False)["timestamp"].diff().dt.total_seconds()
    popularity = np.log1p(ev["item_id"].map(reference.views).fillna(0.0).to_numpy(dtype=float))
    steps = pd.DataFrame(
        {
            "unit": ev["session_id"].to_numpy(),
            "gap_log": np.log1p(gap.fillna(0.0).clip(lower=0.0).to_numpy()),
            "repeat": ev.duplicated(["session_id", "item_id"]).to_numpy(dtype=float),
            "popularity": popularity,
        }
    )
    work = steps.assign(
        gap=gap.clip(lower=0.0).to_numpy(),
        item=ev["item_id"].to_numpy(),
        time=ev["timestamp"].to_numpy(),
    )
    g = work.groupby("unit", sort=False)
    n = g.size().astype(float)
    gap_log = work.assign(gap=np.log1p(work["gap"])).groupby("unit", sort=False)["gap"]
    neutral = float(np.log1p(reference.gap_median_s))
    mean, std, count = g["gap"].mean(), g["gap"].std(ddof=0), g["gap"].count()
    cv = (std / mean).where((count >= 2) & (mean > 0), 1.0)
    start = g["time"].min()
    features = pd.DataFrame(
        {
            "events_log": np.log1p(n),
            "duration_log": np.log1p((g["time"].max() - start).dt.total_seconds()),
            "distinct_share": g["item"].nunique() / n,
            "gap_mean_log": gap_log.mean().fillna(neutral),
            "gap_min_log": gap_log.min().fillna(neutral),
            "gap_max_log": gap_log.max().fillna(neutral),
            "gap_cv": cv,
            "popularity_mean": g["popularity"].mean(),
        }
    )
    features.index.name = "session_id"
    return Units("session", features.astype(float), steps, "event", start)


def _order_lines(frame: pd.DataFrame, source: str = "order_lines") -> pd.DataFrame:
    """Typed raw lines; errors name `source`, the column, and the row."""
    missing = [c for c in LINE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; need {list(LINE_COLUMNS)}")
    if frame.empty:
        raise ValueError(f"{source} has no rows: no orders to score")
    lines = frame.loc[:, list(LINE_COLUMNS)].copy()
    frame = frame.reset_index(drop=True)
    lines = lines.reset_index(drop=True)
    lines["time"] = pd.to_datetime(lines["time"], errors="coerce")
    for name in ("quantity", "unit_price"):
        lines[name] = pd.to_numeric(lines[name], errors="coerce").astype(float)
    for name in ("invoice_id", "time", "quantity", "unit_price"):
        bad = lines[name].isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{source} row {row}: field {name!r} is missing or unreadable "
                f"({frame[name].iloc[row]!r})"
            )
    lines["invoice_id"] = lines["invoice_id"].astype(str)
    lines["item_id"] = lines["item_id"].astype("string").fillna("").astype(str)
    guest = lines["customer_id"].isna() | (lines["customer_id"].astype(str) == "")
    lines["customer_id"] = lines["customer_id"].astype(object).where(~guest, None)
    for name in VIEW_COLUMNS:  # what the order-line view says each line is, if known
        if name in frame.columns:
            lines[name] = frame[name].to_numpy()
    return order_line_view(lines.reset_index(drop=True), source=source)


def _session_events(frame: pd.DataFrame, source: str = "events") -> pd.DataFrame:
    """Typed events with a session id, sorted by session then time (stable)."""
    missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; need {list(EVENT_COLUMNS)}")
    if frame.empty:
        raise ValueError(f"{source} has no rows: no sessions to score")
    ev = frame.loc[frame["session_id"].notna(), list(EVENT_COLUMNS)].copy()
    if ev.empty:
        raise ValueError(f"{source}: no event has a session_id, so there are no sessions")
    ev["timestamp"] = pd.to_datetime(ev["timestamp"], errors="coerce")
    if ev["timestamp"].isna().any():
        row = int(np.flatnonzero(ev["timestamp"].isna().to_numpy())[0])
        raise ValueError(f"{source} row {row}: field 'timestamp' is missing or unreadable")
    ev["session_id"] = ev["session_id"].astype(str)
    ev["item_id"] = ev["item_id"].astype(str)
    return ev.sort_values(["session_id", "timestamp"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- detectors
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


# --------------------------------------------------------------------------- isolation forest
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


# --------------------------------------------------------------------------- sequence model
@dataclass
class SequenceAutoencoderConfig(TrainerConfig):
    """The trainer's fields (defaults below: a small network on many short sequences) and
    the autoencoder's own."""

    epochs: int = 30
    batch_size: int = 256
    """Windows per step."""
    patience: int = 3
    learning_rate: float = 3e-3
    threads: int = 1
    """One torch thread: batches of a small GRU gain nothing from more, and on shared cores
    extra threads waiting on each other made an epoch 3–15 times slower."""
    hidden_size: int = 32
    """GRU width of the encoder and the decoder."""
    latent_size: int = 8
    """Bottleneck: the code a unit is squeezed through (small, so rare patterns do not fit)."""
    max_length: int = 32
    """Steps per window; longer units are cut into windows, each reconstructed on its own."""
    validation_share: float = 0.1
    """Units held out (seeded) for early stopping on their reconstruction error; 0: none."""
    clip: float = 10.0
    """Inputs are robust z-scores clipped to ±clip, so one extreme line cannot blow up a
    training step."""


class _Network(nn.Module):
    """GRU encoder over the steps + the unit features -> code -> unit features and a GRU
    decoder that rebuilds every step from the code alone."""

    def __init__(self, n_unit: int, n_step: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.step_in = nn.Linear(n_step, hidden)
        self.encoder = nn.GRU(hidden, hidden, batch_first=True)
        self.unit_in = nn.Linear(n_unit, hidden)
        self.to_code = nn.Linear(2 * hidden, latent)
        self.unit_out = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, n_unit)
        )
        self.decoder_start = nn.Linear(latent, hidden)
        self.decoder = nn.GRU(latent, hidden, batch_first=True)
        self.step_out = nn.Linear(hidden, n_step)

    def forward(
        self, steps: torch.Tensor, lengths: torch.Tensor, unit: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # Padding comes after the real steps, so the state at the last real step is the
        # encoding (the same as packing the sequences, at half the cost).
        out, _ = self.encoder(torch.relu(self.step_in(steps)))
        last = out[torch.arange(len(out), device=out.device), lengths.to(out.device) - 1]
        code = torch.tanh(self.to_code(torch.cat([last, torch.relu(self.unit_in(unit))], dim=1)))
        repeated = code.unsqueeze(1).expand(-1, steps.shape[1], -1).contiguous()
        out, _ = self.decoder(repeated, torch.tanh(self.decoder_start(code)).unsqueeze(0))
        return self.step_out(out), self.unit_out(code)


@dataclass
class _Windows:
    """Units cut into padded windows of at most `max_length` steps."""

    steps: torch.Tensor  # (n_windows, max_length, n_step), scaled
    lengths: torch.Tensor  # (n_windows,) int64
    unit: torch.Tensor  # (n_windows, n_unit), scaled
    window_unit: np.ndarray  # (n_windows,) unit index of each window
    step_row: np.ndarray  # (n_windows, max_length) row in the sorted steps, -1 = padding
    order: np.ndarray  # steps sorted by unit: positions in units.steps
    step_unit: np.ndarray  # unit index of each sorted step

    def take(self, idx: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(steps, lengths, unit, mask) of windows `idx`, cut to their longest window."""
        t = torch.from_numpy(np.asarray(idx, dtype=np.int64))
        lengths = self.lengths[t]
        n = int(lengths.max())
        steps = self.steps[t, :n].to(device)
        mask = (torch.arange(n).unsqueeze(0) < lengths.unsqueeze(1)).to(device)
        return steps, lengths, self.unit[t].to(device), mask


@register("sequence_autoencoder")
class SequenceAutoencoder(AnomalyDetector):
    """A GRU sequence autoencoder over an order's lines or a session's events.

    The encoder reads the (robust-scaled) steps and the unit features into a small code;
    the decoder rebuilds the unit features and every step from that code. Trained on
    unlabelled units with the shared `Trainer` (seeded; cuda when present, else cpu) to
    minimise the squared error. A unit's score is its reconstruction error in robust z
    units: the squared error of each unit feature (mean over its windows) plus, for each
    step feature, the mean squared error over its steps. The mean, not the worst step: the
    worst of many steps grows with their number, which made long ordinary orders outrank
    short odd ones; one odd line still shows through unit features such as
    price_ratio_min. `explain` lists those terms, largest first.
    """

    name = "sequence_autoencoder"
    Config = SequenceAutoencoderConfig
    config: SequenceAutoencoderConfig

    def _step_names(self) -> list[str]:
        return [f"{self.step_name_}.{c}" for c in self.step_features_]

    def _fit(self, units: Units) -> None:
        cfg = self.config
        if not self.step_features_:
            raise ValueError(f"{self.name}: the units have no step features left")
        if cfg.max_length < 1 or not 0 <= cfg.validation_share < 1 or cfg.clip <= 0:
            raise ValueError("need max_length >= 1, 0 <= validation_share < 1 and clip > 0")
        steps = units.step_frame[self.step_features_].to_numpy(dtype=float)
        self.step_center_, self.step_scale_ = _robust_scale(steps)
        self.device_ = select_device(cfg.device)
        with torch_threads(cfg.threads):
            windows = self._windows(units)
            seed_everything(cfg.random_state)
            self.module_ = self._build_module().to(self.device_)
            train, val = _held_out(len(units), cfg.validation_share, cfg.random_state)
            task = _AutoencoderTask(self, windows, train, val)
            self.training_: TrainResult = Trainer(cfg, desc=self.name).fit(task)
        self.module_.eval()

    def _build_module(self) -> _Network:
        cfg = self.config
        return _Network(
            len(self.unit_features_), len(self.step_features_), cfg.hidden_size, cfg.latent_size
        )

    def _windows(self, units: Units) -> _Windows:
        clip, length = self.config.clip, self.config.max_length
        unit_x = units.features[self.unit_features_].to_numpy(dtype=float)
        unit_x = np.clip((unit_x - self.center_) / self.scale_, -clip, clip)
        code = units.features.index.get_indexer(units.steps["unit"])
        order = np.argsort(code, kind="stable")
        step_unit = code[order]
        steps = units.step_frame[self.step_features_].to_numpy(dtype=float)[order]
        steps = np.clip((steps - self.step_center_) / self.step_scale_, -clip, clip)
        starts = np.r_[0, np.flatnonzero(np.diff(step_unit)) + 1]
        position = np.arange(len(step_unit)) - np.repeat(starts, np.diff(np.r_[starts, len(code)]))
        chunk = position // length
        new_window = np.r_[True, (np.diff(step_unit) != 0) | (np.diff(chunk) != 0)]
        window = np.cumsum(new_window) - 1
        n_windows = int(window[-1]) + 1
        slot = position % length
        padded = np.zeros((n_windows, length, steps.shape[1]), dtype=np.float32)
        padded[window, slot] = steps
        step_row = np.full((n_windows, length), -1, dtype=np.int64)
        step_row[window, slot] = np.arange(len(step_unit))
        lengths = np.bincount(window, minlength=n_windows)
        window_unit = step_unit[new_window]
        return _Windows(
            torch.from_numpy(padded),
            torch.from_numpy(lengths.astype(np.int64)),
            torch.from_numpy(unit_x[window_unit].astype(np.float32)),
            window_unit,
            step_row,
            order,
            step_unit,
        )

    def _errors(self, units: Units) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per unit: squared error of each unit feature (mean over windows), of each step
        feature (mean over steps), and the row in `units.steps` of each step feature's
        worst step."""
        with torch_threads(self.config.threads):
            w = self._windows(units)
            self.module_.eval()
            unit_sq = np.zeros((len(w.window_unit), len(self.unit_features_)))
            step_sq = np.zeros((len(w.step_unit), len(self.step_features_)))
            with torch.no_grad():
                for idx in _chunks(np.arange(len(w.window_unit)), 1024):
                    steps, lengths, unit, _ = w.take(idx, self.device_)
                    step_hat, unit_hat = self.module_(steps, lengths, unit)
                    unit_sq[idx] = ((unit_hat - unit) ** 2).cpu().numpy()
                    err = ((step_hat - steps) ** 2).cpu().numpy()
                    rows = w.step_row[idx, : steps.shape[1]]
                    real = rows >= 0
                    step_sq[rows[real]] = err[real]
        n = len(units)
        per_unit = np.zeros((n, unit_sq.shape[1]))
        np.add.at(per_unit, w.window_unit, unit_sq)
        per_unit /= np.bincount(w.window_unit, minlength=n)[:, None]
        frame = pd.DataFrame(step_sq).groupby(w.step_unit, sort=True)
        return per_unit, frame.mean().to_numpy(), w.order[frame.idxmax().to_numpy()]

    def _score(self, units: Units) -> np.ndarray:
        unit_err, step_err, _ = self._errors(units)
        return unit_err.sum(axis=1) + step_err.sum(axis=1)

    def _contributions(self, units: Units) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        unit_err, step_err, worst = self._errors(units)
        unit_x = units.features[self.unit_features_].to_numpy(dtype=float)
        step_x = units.step_frame[self.step_features_].to_numpy(dtype=float)
        step_values = step_x[worst, np.arange(step_x.shape[1])]
        values = np.hstack([unit_x, step_values])
        typical = np.broadcast_to(np.r_[self.center_, self.step_center_], values.shape)
        return np.hstack([unit_err, step_err]), values, typical

    def _state(self) -> dict[str, np.ndarray]:
        return {"step_center": self.step_center_, "step_scale": self.step_scale_}

    def _save_weights(self, path: Path) -> None:
        """The network's weights as safetensors (no pickle)."""
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.module_.state_dict().items()}
        atomic_write_stream(path / WEIGHTS_FILE, lambda f: f.write(_safetensors_bytes(tensors)))

    def _set_state(self, arrays: Mapping[str, np.ndarray], path: Path) -> None:
        self.step_center_, self.step_scale_ = arrays["step_center"], arrays["step_scale"]
        self.device_ = select_device(self.config.device)
        module = self._build_module()
        module.load_state_dict(load_file(path / WEIGHTS_FILE))
        self.module_ = module.to(self.device_).eval()


class _AutoencoderTask:
    """Adapts a `SequenceAutoencoder` to the trainer's `TrainingTask`: windows of the
    training units in shuffled batches; validation = minus the held-out units' loss."""

    def __init__(
        self, model: SequenceAutoencoder, windows: _Windows, train: np.ndarray, val: np.ndarray
    ) -> None:
        self.model = model
        self.module = model.module_
        self.windows = windows
        in_train = np.isin(windows.window_unit, train)
        self.train = np.flatnonzero(in_train)
        self.val = np.flatnonzero(~in_train)

    def batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        return _chunks(rng.permutation(self.train), self.model.config.batch_size)

    def loss(self, batch: np.ndarray) -> torch.Tensor:
        steps, lengths, unit, mask = self.windows.take(batch, self.model.device_)
        step_hat, unit_hat = self.module(steps, lengths, unit)
        step_err = ((step_hat - steps) ** 2).mean(dim=2)
        return (step_err * mask).sum() / mask.sum() + ((unit_hat - unit) ** 2).mean()

    def validate(self) -> float | None:
        if len(self.val) == 0:
            return None
        losses = [float(self.loss(b)) * len(b) for b in _chunks(self.val, 1024)]
        return -sum(losses) / len(self.val)


def _held_out(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit indices to train on and to validate on (seeded); no validation when too few."""
    n_val = round(n * share)
    if n_val < 1 or n - n_val < 1:
        return np.arange(n), np.arange(0)
    perm = np.random.default_rng([seed, 1]).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _chunks(idx: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for i in range(0, len(idx), size):
        yield idx[i : i + size]


# --------------------------------------------------------------------------- shared helpers
DETECTORS: dict[str, type[AnomalyDetector]] = {
    IsolationForestDetector.name: IsolationForestDetector,
    SequenceAutoencoder.name: SequenceAutoencoder,
}


def load_detector(path: str | Path) -> AnomalyDetector:
    """Any saved detector, by the "model" field of its model.json."""
    meta = json.loads((Path(path) / CONFIG_FILE).read_text())
    try:
        cls = DETECTORS[meta.get("model")]
    except KeyError:
        raise ValueError(
            f"{path} holds a {meta.get('model')!r} model; detectors are {list(DETECTORS)}"
        ) from None
    return cls.load(path)


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


def _safetensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save(tensors, metadata={"model": SequenceAutoencoder.name})


# --------------------------------------------------------------------------- labels
def order_labels(
    order_lines: pd.DataFrame, *, reference: OrderReference, quantity_limit: float
) -> pd.DataFrame:
    """Real anomaly labels per invoice (index invoice_id, bool columns):

    - cancellation: a line of the invoice returns or cancels (line type return/cancellation);
    - manual_adjustment: a line's item is of kind "adjustment" (manual corrections, bad debt);
    - extreme_quantity: a line's |quantity| is at least `quantity_limit`;
    - off_price: a line with price > 0 costs at most a fifth or at least five times its
      item's usual price in `reference`.
    """
    lines = _order_lines(order_lines)
    usual = lines["item_id"].map(reference.price)
    ratio = lines["unit_price"] / usual
    per_line = pd.DataFrame(
        {
            "manual_adjustment": lines["kind"] == "adjustment",
            "extreme_quantity": lines["quantity"].abs() >= quantity_limit,
            "off_price": (lines["unit_price"] > 0) & ((ratio <= 0.2) | (ratio >= 5.0)),
        }
    )
    labels = per_line.groupby(lines["invoice_id"], sort=False).any()
    taken_back = lines["takes_back"].groupby(lines["invoice_id"], sort=False).any()
    labels.insert(0, "cancellation", taken_back.reindex(labels.index).to_numpy())
    labels.index.name = "invoice_id"
    return labels


# --------------------------------------------------------------------------- injection
def inject_orders(
    order_lines: pd.DataFrame,
    kind: str,
    *,
    reference: OrderReference,
    rate: float = 0.01,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.Index]:
    """`order_lines` with anomalies of `kind` affecting `rate` × (number of invoices), and
    the ids of the affected invoices. Seeded by `random_state`.

    - bulk_fraud: new invoices "injected-bulk_fraud-<i>" of 1–4 lines, each an item from the
      top decile of usual price (items with at least 5 reference lines) at that price, in a
      quantity drawn uniformly from 100–1000; time, customer and country copied from a
      random real purchase invoice.
    - price_manipulation: in a random purchase invoice (not "C..."), one random product line
      with a known usual price is re-priced to 5–30 % of that price (uniform).
    """
    lines = _order_lines(order_lines)
    if "country" in order_lines.columns:
        lines["country"] = order_lines["country"].to_numpy()
    rng = np.random.default_rng(random_state)
    n = max(1, round(rate * lines["invoice_id"].nunique()))
    purchases = lines[~lines.groupby("invoice_id")["takes_back"].transform("any")]
    if kind == "bulk_fraud":
        return _inject_bulk(lines, purchases, reference, n, rng)
    if kind == "price_manipulation":
        return _inject_price(lines, purchases, reference, n, rng)
    raise ValueError(f"unknown order injection {kind!r}; kinds are {ORDER_INJECTIONS}")


def _inject_bulk(
    lines: pd.DataFrame,
    purchases: pd.DataFrame,
    reference: OrderReference,
    n: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.Index]:
    known = reference.price[
        (reference.lines >= 5) & reference.price.index.isin(list(reference.products))
    ]
    if known.empty:
        raise ValueError("bulk_fraud needs items with at least 5 reference lines")
    dear = known[known >= known.quantile(0.9)]
    templates = purchases.drop_duplicates("invoice_id")
    rows = []
    for i in range(n):
        template = templates.iloc[rng.integers(len(templates))]
        k = int(rng.integers(1, 5))
        items = rng.choice(dear.index.to_numpy(), size=min(k, len(dear)), replace=False)
        for item in items:
            rows.append(
                {
                    **template.to_dict(),
                    "invoice_id": f"injected-bulk_fraud-{i}",
                    "item_id": item,
                    "quantity": float(rng.integers(100, 1001)),
                    "unit_price": float(dear[item]),
                }
            )
    new = pd.DataFrame(rows, columns=lines.columns)
    ids = pd.Index(new["invoice_id"].unique())
    return pd.concat([lines, new], ignore_index=True), ids


def _inject_price(
    lines: pd.DataFrame,
    purchases: pd.DataFrame,
    reference: OrderReference,
    n: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.Index]:
    usual = purchases["item_id"].map(reference.price)
    eligible = purchases[
        usual.notna()
        & (purchases["unit_price"] > 0)
        & (purchases["quantity"] > 0)
        & purchases["is_product"]
    ]
    invoices = eligible["invoice_id"].unique()
    if len(invoices) == 0:
        raise ValueError("price_manipulation needs purchase lines of items with a usual price")
    chosen = rng.choice(invoices, size=min(n, len(invoices)), replace=False)
    out = lines.copy()
    by_invoice = eligible.groupby("invoice_id").groups
    for invoice in chosen:
        row = rng.choice(np.asarray(by_invoice[invoice]))
        fraction = rng.uniform(0.05, 0.3)
        out.loc[row, "unit_price"] = reference.price[out.loc[row, "item_id"]] * fraction
    return out, pd.Index(chosen)


def inject_sessions(
    events: pd.DataFrame, kind: str, *, rate: float = 0.01, random_state: int = 0
) -> tuple[pd.DataFrame, pd.Index]:
    """`events` plus `rate` × (number of sessions) bot sessions of `kind`, and their ids.
    Items are drawn uniformly from the items in `events` (a crawler walks the catalogue,
    people follow popularity); each bot starts when a random real session starts.

    - fast_bot: 20–80 views, gaps of 0.1 s + an exponential with mean 1 s;
    - regular_bot: 5–20 views at one fixed gap drawn uniformly from 10–60 s (a scheduler).
    """
    ev = _session_events(events)
    if kind not in SESSION_INJECTIONS:
        raise ValueError(f"unknown session injection {kind!r}; kinds are {SESSION_INJECTIONS}")
    rng = np.random.default_rng(random_state)
    starts = ev.groupby("session_id")["timestamp"].min().to_numpy()
    n = max(1, round(rate * len(starts)))
    items = ev["item_id"].unique()
    frames = []
    for i in range(n):
        if kind == "fast_bot":
            views = int(rng.integers(20, 81))
            gaps = 0.1 + rng.exponential(1.0, views - 1)
        else:
            views = int(rng.integers(5, 21))
            gaps = np.full(views - 1, rng.uniform(10.0, 60.0))
        offsets = pd.to_timedelta(np.r_[0.0, np.cumsum(gaps)], unit="s")
        session = f"injected-{kind}-{i}"
        frames.append(
            pd.DataFrame(
                {
                    "session_id": session,
                    "user_id": session,
                    "item_id": rng.choice(items, views),
                    "event_type": "view",
                    "timestamp": pd.Timestamp(starts[rng.integers(len(starts))]) + offsets,
                }
            )
        )
    new = pd.concat(frames, ignore_index=True)
    ids = pd.Index(new["session_id"].unique())
    return pd.concat([events, new], ignore_index=True), ids


# --------------------------------------------------------------------------- evaluation
DetectorFactories = Mapping[str, Callable[[], AnomalyDetector]]
TABLE_COLUMNS = (
    "dataset",
    "unit",
    "label",
    "label_kind",
    "detector",
    "n_train",
    "n_test",
    "positives",
    "roc_auc",
    "roc_auc_sd",
    "pr_auc",
    "pr_auc_sd",
    "fit_s",
)
"""The columns of `evaluate_orders` and `evaluate_sessions`; the *_sd columns are the
standard deviation over injection seeds (NaN for real labels)."""


def default_detectors(random_state: int = 0) -> dict[str, Callable[[], AnomalyDetector]]:
    """The IsolationForest baseline and the GRU autoencoder with their defaults."""
    return {
        IsolationForestDetector.name: lambda: IsolationForestDetector(random_state=random_state),
        SequenceAutoencoder.name: lambda: SequenceAutoencoder(random_state=random_state),
    }


def ranking_quality(scores: pd.Series, labels: pd.Series) -> dict[str, float]:
    """ROC-AUC and PR-AUC (average precision) of `scores` against boolean `labels`."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = labels.reindex(scores.index).fillna(False).astype(bool).to_numpy()
    if y.all() or not y.any():
        return {"roc_auc": float("nan"), "pr_auc": float("nan")}
    s = scores.to_numpy()
    return {"roc_auc": roc_auc_score(y, s), "pr_auc": average_precision_score(y, s)}


def temporal_split(start: pd.Series, test_share: float = 0.2) -> tuple[pd.Index, pd.Index]:
    """Unit ids that began before the (1 − test_share) quantile of start times, and after."""
    if not 0 < test_share < 1:
        raise ValueError("test_share must be between 0 and 1")
    cut = start.quantile(1.0 - test_share)
    return start.index[start < cut], start.index[start >= cut]


def evaluate_orders(
    order_lines: pd.DataFrame,
    *,
    detectors: DetectorFactories | None = None,
    test_share: float = 0.2,
    rate: float = 0.01,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    train_units: int = 0,
    dataset: str = "uci-online-retail",
) -> pd.DataFrame:
    """Both detectors on one temporal split of the invoices: fitted once on the earlier
    (1 − test_share) invoices without the features in `LABEL_DEFINING` (all labels share
    one fit), then scored on the later invoices against the real labels of `order_labels`
    and, per seed, against injected anomalies (`inject_orders`) at `rate`.

    `train_units` > 0 fits on that many training invoices drawn at random (seeded). The
    usual prices and the extreme-quantity limit (99.9th percentile of |quantity|) come from
    the training invoices only.
    """
    lines = _order_lines(order_lines)
    if "country" in order_lines.columns:
        lines["country"] = order_lines["country"].to_numpy()
    start = lines.groupby("invoice_id")["time"].min()
    train_ids, test_ids = temporal_split(start, test_share)
    train_lines = lines[lines["invoice_id"].isin(train_ids)]
    test_lines = lines[lines["invoice_id"].isin(test_ids)]
    reference = order_reference(train_lines)

    def build(frame: pd.DataFrame) -> Units:
        return order_units(frame, reference=reference).without(LABEL_DEFINING)

    train = build(train_lines).sample(train_units)
    fitted = _fit_all(detectors or default_detectors(), train)
    limit = float(train_lines["quantity"].abs().quantile(0.999))
    labels = order_labels(test_lines, reference=reference, quantity_limit=limit)
    rows = _real_rows(fitted, build(test_lines), labels)
    for kind in ORDER_INJECTIONS:
        runs = []
        for seed in seeds:
            injected, ids = inject_orders(
                test_lines, kind, reference=reference, rate=rate, random_state=seed
            )
            runs.append((build(injected), ids))
        rows += _injected_rows(fitted, kind, runs)
    return _table(rows, dataset, "order", len(train))


def evaluate_sessions(
    events: pd.DataFrame,
    *,
    detectors: DetectorFactories | None = None,
    test_share: float = 0.2,
    rate: float = 0.01,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    train_units: int = 0,
    dataset: str = "diginetica-sample",
) -> pd.DataFrame:
    """Both detectors on one temporal split of the sessions: fitted on the earlier ones,
    scored on the later ones with injected bots (`inject_sessions`) at `rate`, per seed.
    There are no real labels for sessions."""
    ev = _session_events(events)
    start = ev.groupby("session_id")["timestamp"].min()
    train_ids, test_ids = temporal_split(start, test_share)
    train_events = ev[ev["session_id"].isin(train_ids)]
    test_events = ev[ev["session_id"].isin(test_ids)]
    reference = session_reference(train_events)
    train = session_units(train_events, reference=reference).sample(train_units)
    fitted = _fit_all(detectors or default_detectors(), train)
    rows = []
    for kind in SESSION_INJECTIONS:
        runs = []
        for seed in seeds:
            injected, ids = inject_sessions(test_events, kind, rate=rate, random_state=seed)
            runs.append((session_units(injected, reference=reference), ids))
        rows += _injected_rows(fitted, kind, runs)
    return _table(rows, dataset, "session", len(train))


def _fit_all(
    detectors: DetectorFactories, train: Units
) -> dict[str, tuple[AnomalyDetector, float]]:
    fitted = {}
    for name, make in detectors.items():
        began = time.perf_counter()
        detector = make().fit(train)
        fitted[name] = (detector, time.perf_counter() - began)
    return fitted


def _real_rows(
    fitted: Mapping[str, tuple[AnomalyDetector, float]], test: Units, labels: pd.DataFrame
) -> list[dict[str, Any]]:
    rows = []
    for name, (detector, seconds) in fitted.items():
        scores = detector.score(test)
        for label in labels.columns:
            y = labels[label].reindex(scores.index).fillna(False).astype(bool)
            rows.append(
                {
                    "label": label,
                    "label_kind": "real",
                    "detector": name,
                    "n_test": len(test),
                    "positives": int(y.sum()),
                    **ranking_quality(scores, y),
                    "fit_s": seconds,
                }
            )
    return rows


def _injected_rows(
    fitted: Mapping[str, tuple[AnomalyDetector, float]],
    kind: str,
    runs: Sequence[tuple[Units, pd.Index]],
) -> list[dict[str, Any]]:
    rows = []
    for name, (detector, seconds) in fitted.items():
        quality = []
        for units, ids in runs:
            scores = detector.score(units)
            quality.append(ranking_quality(scores, pd.Series(scores.index.isin(ids), scores.index)))
        roc = np.array([q["roc_auc"] for q in quality])
        pr = np.array([q["pr_auc"] for q in quality])
        rows.append(
            {
                "label": kind,
                "label_kind": f"injected ({len(runs)} seeds)",
                "detector": name,
                "n_test": len(runs[0][0]),
                "positives": len(runs[0][1]),
                "roc_auc": roc.mean(),
                "pr_auc": pr.mean(),
                "roc_auc_sd": roc.std(),
                "pr_auc_sd": pr.std(),
                "fit_s": seconds,
            }
        )
    return rows


def _table(rows: list[dict[str, Any]], dataset: str, unit: str, n_train: int) -> pd.DataFrame:
    table = pd.DataFrame(rows).assign(dataset=dataset, unit=unit, n_train=n_train)
    for sd in ("roc_auc_sd", "pr_auc_sd"):
        if sd not in table:
            table[sd] = np.nan
    return table[list(TABLE_COLUMNS)]

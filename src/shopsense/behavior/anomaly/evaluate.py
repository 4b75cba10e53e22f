"""The evaluation protocol: both detectors on a temporal split, against real labels and
seeded injected anomalies."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from shopsense.behavior.anomaly.autoencoder import SequenceAutoencoder
from shopsense.behavior.anomaly.base import AnomalyDetector
from shopsense.behavior.anomaly.inject import (
    ORDER_INJECTIONS,
    SESSION_INJECTIONS,
    inject_orders,
    inject_sessions,
)
from shopsense.behavior.anomaly.isolation_forest import IsolationForestDetector
from shopsense.behavior.anomaly.labels import LABEL_DEFINING, order_labels
from shopsense.data.invoices import invoice_lines
from shopsense.data.references import order_reference, session_reference
from shopsense.data.sessions import session_events
from shopsense.data.units import Units, order_units, session_units

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
    lines = invoice_lines(order_lines)
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
    ev = session_events(events)
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

"""Behaviour jobs over the store and the registry, shared by the CLI, the service and the
benchmark: read the customer view, fit, save the model as a new version, write a report.

I/O lives here; the models in this package never open a file they were not given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from shopsense.config import Settings
from shopsense.data.customers import CustomerHistory
from shopsense.data.orders import order_lines_from_store
from shopsense.persist import atomic_write, write_json
from shopsense.registry import ModelVersion, Registry
from shopsense.workflows import open_store

TASK = "behavior"


def customer_history(settings: Settings, cutoff: str | None = None) -> CustomerHistory:
    """The store's customers as of `cutoff` (default: after the last order line)."""
    with open_store(settings) as store:
        return CustomerHistory.from_store(store, cutoff=cutoff)


@dataclass(frozen=True)
class SegmentsRun:
    """What `segment` produced: the saved version and where its report is."""

    version: ModelVersion
    profiles: pd.DataFrame
    report: dict[str, Any]
    report_dir: Path


def segment(
    settings: Settings,
    *,
    method: str = "autoencoder",
    k: int | None = None,
    cutoff: str | None = None,
    params: dict[str, Any] | None = None,
) -> SegmentsRun:
    """Segment the store's customers, save the segmenter as the next version of
    behavior/segments, and write profiles, report and plot to the reports folder."""
    from shopsense.behavior.segments import CustomerSegmenter

    history = customer_history(settings, cutoff)
    model = CustomerSegmenter(method=method, k=k, **(params or {})).fit(history)
    report = model.report()
    version = Registry(settings.models_dir).save(
        model,
        task=TASK,
        metrics=_numbers(report),
        data={
            "customers": len(model.customer_ids_),
            "cutoff": str(history.cutoff.date()),
            "notes": list(history.notes),
        },
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(settings.reports_dir) / f"segments-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    profiles = model.profiles()
    write_json(
        folder / "report.json",
        {
            "model": f"{version.name}/{version.version}",
            "report": report,
            "profiles": profiles.to_dict(orient="records"),
        },
    )
    model.plot(folder)
    return SegmentsRun(version, profiles, report, folder)


#: what `predict` can forecast: (model name in the registry, default kind, column)
TARGETS: dict[str, tuple[str, str, str]] = {
    "next-purchase": ("next_purchase", "gbm", "p_purchase_30d"),
    "churn": ("churn", "gbm", "p_churn_90d"),
    "value": ("customer_value", "bgnbd", "value_90d"),
}


@dataclass(frozen=True)
class PredictRun:
    """What `predict` produced: the saved version, every customer's prediction (highest
    first) and the CSV it was written to."""

    version: ModelVersion
    predictions: pd.DataFrame
    path: Path


def predict(
    settings: Settings,
    target: str,
    *,
    kind: str | None = None,
    params: dict[str, Any] | None = None,
) -> PredictRun:
    """Fit `target` (next-purchase, churn or value) on rolling cut-offs over the store's
    whole history, save it as the next version of behavior/<model>, and predict for every
    customer as of the last order."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    name, default_kind, column = TARGETS[target]
    from shopsense.registry import model_class

    history = customer_history(settings)
    cls = model_class(name)
    model = cls(kind=kind or default_kind, **(params or {})).fit(history)
    predicted = model.predict(history) if target == "value" else model.predict_proba(history)
    frame = predicted.rename(column).to_frame()
    features = history.features()
    frame = frame.join(features[["recency_days", "frequency", "monetary"]], how="left")
    frame = frame.sort_values(column, ascending=False)
    version = Registry(settings.models_dir).save(
        model,
        task=TASK,
        data={
            "customers": len(frame),
            "cutoffs": [str(pd.Timestamp(c).date()) for c in model.cutoffs_],
            "as_of": str(history.cutoff.date()),
        },
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    Path(settings.reports_dir).mkdir(parents=True, exist_ok=True)
    path = Path(settings.reports_dir) / f"predict-{target}-{stamp}.csv"
    _write_csv(path, frame, index_label="customer_id")
    return PredictRun(version, frame, path)


@dataclass(frozen=True)
class AnomaliesRun:
    """What `anomalies` produced: the saved detector, the flagged orders (most anomalous
    first, with the features that made each one so) and the CSV of every order's score."""

    version: ModelVersion
    flagged: pd.DataFrame
    path: Path


def anomalies(
    settings: Settings, *, detector: str = "isolation_forest", top: int = 20
) -> AnomaliesRun:
    """Score every order (invoice) of the store's order lines with `detector`, fitted on
    all of them; save it as the next version of behavior/<detector>; report the `top`."""
    from shopsense.behavior.anomaly import DETECTORS
    from shopsense.data.units import order_units

    if detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    with open_store(settings) as store:
        lines = order_lines_from_store(store)
    if lines.empty:
        raise ValueError(f"the store {settings.store_path} has no order_lines to score")
    units = order_units(lines, source=str(settings.store_path))
    model = DETECTORS[detector]().fit(units)
    scores = model.score(units).sort_values(ascending=False).rename("score")
    worst = units.subset(list(scores.index[:top]))
    why = model.explain(worst, top=3)
    reasons = why.groupby("unit", sort=False).apply(
        lambda g: "; ".join(f"{f} {v:.3g} (typical {t:.3g})" for f, v, t in
                            zip(g["feature"], g["value"], g["typical"], strict=True)),
        include_groups=False,
    )  # fmt: skip
    flagged = scores.iloc[:top].to_frame().join(reasons.rename("why"))
    version = Registry(settings.models_dir).save(
        model, task=TASK, data={"orders": len(units.ids), "lines": len(lines)}
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    Path(settings.reports_dir).mkdir(parents=True, exist_ok=True)
    path = Path(settings.reports_dir) / f"anomalies-{detector}-{stamp}.csv"
    _write_csv(path, scores.to_frame(), index_label="invoice_id")
    return AnomaliesRun(version, flagged, path)


def _write_csv(path: Path, frame: pd.DataFrame, index_label: str) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index_label=index_label))


def _numbers(report: dict[str, Any]) -> dict[str, float]:
    """The report's top-level numbers, as the registry's metrics."""
    return {
        k: float(v)
        for k, v in report.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }

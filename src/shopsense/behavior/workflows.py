"""Behaviour jobs over the store and the registry, shared by the CLI, the service and the
benchmark: read the customer view, fit, save the model as a new version, write a report.

I/O lives here; the models in this package never open a file they were not given.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from shopsense.behavior.customers import CustomerHistory
from shopsense.config import Settings
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


def _numbers(report: dict[str, Any]) -> dict[str, float]:
    """The report's top-level numbers, as the registry's metrics."""
    return {
        k: float(v)
        for k, v in report.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically: a temporary file in the same folder, then a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

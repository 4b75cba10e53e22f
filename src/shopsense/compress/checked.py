"""Which exported file a model may score with: the parity report every export writes.

An export is checked against the torch model before anything uses it; the check's numbers
per precision and whether they met the family's bars go to `export.json` beside the files.
Loading reads that report, never the files alone: a file whose check failed is kept for
inspection and never used, and int8 falls back to fp32 when its own check failed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shopsense.persist import atomic_write

REPORT_FILE = "export.json"
PRECISIONS = ("fp32", "int8")


#: a recommender's export, per precision: least share of users whose top-10 list equals
#: torch's, least mean share of torch's top 10 kept, largest |score error| relative to the
#: user's largest |score|. int8 changes scores by design: its bar is about the items shown.
RANKING_BARS = {
    "fp32": {
        "top10_agreement": (">=", 0.99),
        "top10_overlap": (">=", 0.99),
        "max_relative_score_error": ("<=", 1e-3),
    },
    "int8": {"top10_overlap": (">=", 0.9)},
}


def ranking_parity(want: np.ndarray, got: np.ndarray, k: int = 10) -> dict[str, float]:
    """How well the (users, items) scores `got` reproduce `want`: identical top-k lists
    (as sets), the mean share of want's top k kept, and the largest score error relative
    to each user's largest |score|."""
    if not len(want):
        return {"top10_agreement": 1.0, "top10_overlap": 1.0, "max_relative_score_error": 0.0}
    k = min(k, want.shape[1])
    top_want = np.sort(np.argpartition(-want, k - 1, axis=1)[:, :k], axis=1)
    top_got = np.sort(np.argpartition(-got, k - 1, axis=1)[:, :k], axis=1)
    agreement = float(np.mean(np.all(top_want == top_got, axis=1)))
    shared = [
        len(np.intersect1d(a, b, assume_unique=True))
        for a, b in zip(top_want, top_got, strict=True)
    ]
    scale = np.maximum(np.abs(want).max(axis=1, keepdims=True), 1e-12)
    error = float((np.abs(want - got) / scale).max())
    return {
        "top10_agreement": round(agreement, 4),
        "top10_overlap": round(float(np.mean(shared)) / k, 4),
        "max_relative_score_error": float(f"{error:.3g}"),
    }


def meets(numbers: Mapping[str, float], bars: Mapping[str, tuple[str, float]]) -> bool:
    """Whether every measured number meets its bar: `bars` maps a name to (">=" or "<=",
    limit); a name missing from `numbers` fails."""
    for name, (op, limit) in bars.items():
        value = numbers.get(name)
        if value is None or (value < limit if op == ">=" else value > limit):
            return False
    return True


def write_report(folder: str | Path, report: dict[str, Any]) -> None:
    """`export.json` in `folder`, atomically (written last: the files it names exist)."""
    text = json.dumps(report, indent=2)
    atomic_write(Path(folder) / REPORT_FILE, lambda tmp: Path(tmp).write_text(text))


def read_report(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / REPORT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def chosen_file(folder: str | Path, precision: str) -> tuple[Path, dict[str, Any]] | None:
    """(file, report) to score with for `precision` ("fp32", "int8" or "off"), or None:
    "off", nothing exported, or no file for it whose check passed."""
    if precision == "off":
        return None
    if precision not in PRECISIONS:
        raise ValueError(f"onnx precision must be fp32, int8 or off, not {precision!r}")
    report = read_report(folder)
    if report is None:
        return None
    checks = report.get("precisions", {})
    for candidate in ("int8", "fp32") if precision == "int8" else ("fp32",):
        check = checks.get(candidate) or {}
        path = Path(folder) / str(check.get("file", ""))
        if check.get("passed") and path.is_file():
            return path, report
    return None

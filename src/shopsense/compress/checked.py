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

from shopsense.persist import atomic_write

REPORT_FILE = "export.json"
PRECISIONS = ("fp32", "int8")


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

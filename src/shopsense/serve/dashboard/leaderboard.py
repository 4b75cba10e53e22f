"""The latest evaluation report (`evaluate-*.json`), arranged as the models page's
leaderboard: one table per stage, best ndcg@10 first, the best value of each metric known."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: leaderboard columns, in this order, where the report has them
LEADERBOARD_METRICS = (
    "ndcg@10",
    "hr@10",
    "recall@10",
    "precision@10",
    "mrr@10",
    "map@10",
    "coverage@10",
    "ndcg@20",
    "hr@20",
)
_STAMP = re.compile(r"(\d{8}T\d{6}Z)")


@dataclass(frozen=True)
class Leaderboard:
    """The latest evaluation report, arranged for the models page."""

    path: Path
    created: datetime
    protocol: str
    split: dict[str, Any]
    metrics: list[str]
    stages: dict[str, list[dict[str, Any]]]  # stage -> rows, best ndcg@10 first
    best: dict[str, dict[str, float]]  # stage -> metric -> best value (to highlight)
    reports: int  # how many reports the folder holds


def _report_time(path: Path) -> datetime:
    """When a report was written: the UTC stamp in its name, else the file's mtime."""
    found = _STAMP.search(path.name)
    if found:
        return datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def latest_leaderboard(reports_dir: Path) -> Leaderboard | None:
    """The newest `evaluate-*.json` as a leaderboard (None when there is none).

    Newest by the time stamp in the name, not by name: names start with the protocol, so
    sorting names would prefer one protocol over another.
    """
    paths = list(Path(reports_dir).glob("evaluate-*.json")) if Path(reports_dir).is_dir() else []
    if not paths:
        return None
    path = max(paths, key=_report_time)
    payload = json.loads(path.read_text())
    rows = payload.get("reports", [])
    present = {m for r in rows for m in r.get("metrics", {})}
    metrics = [m for m in LEADERBOARD_METRICS if m in present]
    key = "ndcg@10" if "ndcg@10" in present else (metrics[0] if metrics else None)
    stages: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        stages.setdefault(str(row.get("stage", "?")), []).append(row)
    for stage_rows in stages.values():
        stage_rows.sort(key=lambda r: -_metric(r, key))
    ordered = {s: stages[s] for s in sorted(stages, key=lambda s: (s != "test", s))}
    best = {
        stage: {m: max(_metric(r, m) for r in stage_rows) for m in metrics}
        for stage, stage_rows in ordered.items()
    }
    return Leaderboard(
        path=path,
        created=_report_time(path),
        protocol=str(payload.get("protocol", "?")),
        split=payload.get("split", {}),
        metrics=metrics,
        stages=ordered,
        best=best,
        reports=len(paths),
    )


def _metric(row: dict[str, Any], name: str | None) -> float:
    value = row.get("metrics", {}).get(name) if name else None
    return float(value) if isinstance(value, int | float) else float("-inf")

"""JSON-lines files: one object per line, each kept with its line number."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from shopsense.data.ingest.problems import Problem


def read_jsonl(
    text: str, source: str
) -> tuple[pd.DataFrame, np.ndarray, list[tuple[int, str]], list[Problem]]:
    """JSON lines: one object per line; a line that is not an object is a bad row."""
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    structural: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            structural.append((len(records), f"invalid JSON: {exc.msg} (column {exc.colno})"))
            obj = {}
        else:
            if not isinstance(obj, dict):
                structural.append((len(records), f"not a JSON object but {type(obj).__name__}"))
                obj = {}
        records.append(obj)
        lines.append(number)
    if not records:
        return (
            pd.DataFrame(),
            np.zeros(0, dtype=np.int64),
            [],
            [Problem(source, None, None, "file is empty: no JSON records")],
        )
    # dtype=object keeps each JSON value as parsed: no float detour for integer IDs.
    frame = pd.DataFrame(records, dtype=object, index=range(len(records)))
    return frame, np.asarray(lines, dtype=np.int64), structural, []

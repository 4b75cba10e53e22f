"""Checking a frame against a table's schema: columns matched by name, every cell typed,
good rows split from bad ones, and each bad cell reported with its line and reason."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from shopsense.data.ingest.checked import DTYPES, Checked, unloadable
from shopsense.data.ingest.parse import parse_column
from shopsense.data.ingest.problems import MAX_PROBLEMS, Problem, show
from shopsense.data.ingest.text import scalar_text
from shopsense.data.schema import Table
from shopsense.data.schema import table as table_named


def validate_frame(
    frame: pd.DataFrame,
    table: Table | str,
    *,
    source: str,
    line_offset: int = 2,
    lines: Sequence[int] | np.ndarray | None = None,
    unit: str = "line",
) -> tuple[pd.DataFrame, pd.DataFrame, list[Problem]]:
    """Split `frame` into (good rows typed, bad rows with `line` and `error`, problems).

    Row i of `frame` is reported as line `i + line_offset` unless `lines` gives each row's
    number. Typed output: STRING -> object (None for missing), INTEGER -> Int64, FLOAT ->
    float64, TIMESTAMP -> datetime64[ns] naive, BOOLEAN -> boolean. Whole-frame faults (a
    missing required column) come back as problems with line None and no good rows.
    """
    checked = check_frame(
        frame, table, source=source, line_offset=line_offset, lines=lines, unit=unit
    )
    return checked.good, checked.bad, checked.problems


def check_frame(
    frame: pd.DataFrame,
    table: Table | str,
    *,
    source: str,
    line_offset: int = 2,
    lines: Sequence[int] | np.ndarray | None = None,
    unit: str = "line",
) -> Checked:
    """Validate an in-memory frame; like `validate_frame` but also returns warnings and counts."""
    spec = table_named(table) if isinstance(table, str) else table
    if lines is None:
        line_numbers = np.arange(len(frame), dtype=np.int64) + line_offset
    else:
        line_numbers = np.asarray(lines, dtype=np.int64)
        if len(line_numbers) != len(frame):
            raise ValueError(f"{len(line_numbers)} line numbers for {len(frame)} rows")
    return check(frame, spec, source=source, lines=line_numbers, unit=unit)


def _quoted(values: pd.Series | pa.Array, row: int) -> str | None:
    """The value at `row` as text for a message."""
    if isinstance(values, pa.Array):
        return values[row].as_py()
    return scalar_text(values.iloc[row])


def _original_text(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """The rows at `positions` with every value as the text it had (None when missing)."""
    rows = frame.iloc[positions]
    names = [str(c) for c in rows.columns]
    columns = []
    for i in range(rows.shape[1]):  # by position: frames built in code may repeat a name
        col = rows.iloc[:, i]
        if isinstance(col.dtype, pd.StringDtype):
            columns.append(col.to_numpy(dtype=object, na_value=None))
        else:
            columns.append(
                np.array([scalar_text(v) for v in col.to_numpy(dtype=object)], dtype=object)
            )
    out = pd.DataFrame(dict(enumerate(columns)), index=range(len(positions)))
    out.columns = names
    return out


def check(
    frame: pd.DataFrame,
    table: Table,
    *,
    source: str,
    lines: np.ndarray,
    unit: str,
    structural: Sequence[tuple[int, str]] = (),
) -> Checked:
    n = len(frame)
    # Match columns by name, ignoring case and surrounding spaces.
    wanted = {c.name.lower(): c.name for c in table.columns}
    found: dict[str, list[Any]] = {}
    extras: list[str] = []
    for original in frame.columns:
        key = str(original).strip().lower()
        if key in wanted:
            found.setdefault(wanted[key], []).append(original)
        else:
            extras.append(str(original))
    fatal: list[Problem] = []
    for name, originals in found.items():
        if len(originals) > 1:
            shown = ", ".join(repr(str(o)) for o in originals)
            fatal.append(Problem(source, None, name, f"column given more than once ({shown})"))
    for column in table.columns:
        if column.required and column.name not in found:
            fatal.append(Problem(source, None, column.name, "missing required column"))
    if fatal:
        return unloadable(table, source, fatal)
    warnings = []
    if extras:
        shown = ", ".join(repr(e) for e in extras)
        warnings.append(f"ignored columns that {table.name} does not have: {shown}")

    # A row that could not be split into fields (ragged, invalid JSON) gets one problem for
    # the row, not one more for every column it therefore lacks.
    unsplit = np.zeros(n, dtype=bool)
    for row, _ in structural:
        unsplit[row] = True
    typed: dict[str, pd.Series] = {}
    flagged: list[tuple[int, np.ndarray, str, pd.Series | pa.Array | None]] = []
    for index, column in enumerate(table.columns):
        if column.name in found:
            raw = frame[found[column.name][0]]
            values, missing, issues, quoted = parse_column(raw, column)
        else:  # an optional column the input does not have: all missing
            values = pd.Series([None] * n, dtype=object)
            missing, issues, quoted = np.ones(n, dtype=bool), [], None
        typed[column.name] = values.astype(DTYPES[column.type])
        found_issues = [(mask, reason, quoted) for mask, reason in issues]
        if column.required:
            found_issues.append((missing, "required value is empty", None))
        for mask, reason, values_to_quote in found_issues:
            mask = mask & ~unsplit
            if mask.any():
                flagged.append((index, mask, reason, values_to_quote))

    bad_rows = unsplit.copy()
    for _, mask, _, _ in flagged:
        bad_rows |= mask

    good = pd.DataFrame(typed, columns=list(table.column_names))
    if bad_rows.any():
        good = good.loc[~bad_rows].reset_index(drop=True)

    # Each bad cell (row, column) -> its message, in line order then column order.
    cells: list[tuple[int, int, str, str | None]] = []
    for row, reason in structural:
        cells.append((row, -1, reason, None))
    for index, mask, reason, text in flagged:
        for row in np.flatnonzero(mask):
            value = None if text is None else _quoted(text, int(row))
            cells.append((int(row), index, reason, value))
    cells.sort(key=lambda cell: (cell[0], cell[1]))

    problems: list[Problem] = []
    errors: dict[int, list[str]] = {}
    names = table.column_names
    for row, index, reason, value in cells:
        column_name = names[index] if index >= 0 else None
        if len(problems) < MAX_PROBLEMS:
            problems.append(Problem(source, int(lines[row]), column_name, reason, value, unit))
        message = reason if column_name is None else f"column {column_name!r}: {reason}"
        if value is not None:
            message += f": {show(value)}"
        errors.setdefault(row, []).append(message)

    bad_positions = np.flatnonzero(bad_rows)
    bad = _original_text(frame, bad_positions)
    line_name, error_name = "line", "error"
    while line_name in bad.columns:
        line_name = "_" + line_name
    while error_name in bad.columns:
        error_name = "_" + error_name
    bad[line_name] = lines[bad_positions].astype(np.int64)
    bad[error_name] = ["; ".join(errors[int(row)]) for row in bad_positions]

    return Checked(
        table=table,
        source=source,
        good=good,
        bad=bad,
        problems=problems,
        problem_count=len(cells),
        rows_read=n,
        warnings=warnings,
        fatal=False,
    )

"""What validating one input found (`Checked`), and the typed frame it produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from shopsense.data.ingest.problems import MAX_PROBLEMS, IngestError, Problem
from shopsense.data.schema import ColumnType, Table

DTYPES: dict[ColumnType, Any] = {
    ColumnType.STRING: object,
    ColumnType.INTEGER: "Int64",
    ColumnType.FLOAT: "float64",
    ColumnType.TIMESTAMP: "datetime64[ns]",
    ColumnType.BOOLEAN: "boolean",
}


def frame_dtype(kind: ColumnType) -> Any:
    """The pandas dtype a validated frame uses for a schema column type."""
    return DTYPES[kind]


@dataclass
class Checked:
    """What validation found in one input.

    `good` has exactly the table's columns, typed; `bad` holds the rejected rows with their
    original values plus `line` and `error`. `fatal` means the input cannot be loaded at all
    (missing column, bad encoding...), even with a reject file.
    """

    table: Table
    source: str
    good: pd.DataFrame
    bad: pd.DataFrame
    problems: list[Problem]
    problem_count: int
    rows_read: int
    warnings: list[str] = field(default_factory=list)
    fatal: bool = False

    def error(self) -> IngestError:
        return IngestError(self.problems, source=self.source, total=self.problem_count)


def unloadable(
    table: Table, source: str, problems: list[Problem], total: int | None = None
) -> Checked:
    """The result for an input that cannot be loaded at all: no rows, only its faults."""
    empty = pd.DataFrame({c.name: pd.Series([], dtype=DTYPES[c.type]) for c in table.columns})
    return Checked(
        table=table,
        source=source,
        good=empty,
        bad=pd.DataFrame(columns=["line", "error"]),
        problems=problems[:MAX_PROBLEMS],
        problem_count=len(problems) if total is None else total,
        rows_read=0,
        fatal=True,
    )

"""Faults found in an input, and the error that rejects a file: each names the file, the
line as an editor shows it (or the row), the column and the reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Problem objects kept per file; the count of all problems is always exact.
MAX_PROBLEMS = 1000
#: Problems quoted in an IngestError message.
MESSAGE_PROBLEMS = 20


def show(value: str, limit: int = 60) -> str:
    """A value as quoted in a message, cut to `limit` characters."""
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")


@dataclass(frozen=True)
class Problem:
    """One fault in an input: a bad cell, a malformed row, or a whole-file fault (line None).

    `unit` is "line" for text files (physical line, header = 1) and "row" for Parquet files
    and in-memory frames (1-based row number).
    """

    file: str
    line: int | None
    column: str | None
    reason: str
    value: str | None = None
    unit: str = "line"

    def __str__(self) -> str:
        if self.line is None:
            parts = [self.file]
        elif self.unit == "line":
            parts = [f"{self.file}:{self.line}"]
        else:
            parts = [self.file, f"{self.unit} {self.line}"]
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        parts.append(self.reason if self.value is None else f"{self.reason}: {show(self.value)}")
        return ": ".join(parts)


class IngestError(ValueError):
    """A file (or frame) was rejected; `problems` says why, `total` how many faults in all.

    `problems` holds at most MAX_PROBLEMS entries so a file of a million bad rows does not
    build a million objects; `total` is always the exact count.
    """

    def __init__(
        self, problems: Sequence[Problem], *, source: str | None = None, total: int | None = None
    ) -> None:
        self.problems: list[Problem] = list(problems)
        self.total: int = len(self.problems) if total is None else total
        self.source = source if source is not None else (problems[0].file if problems else "?")
        super().__init__(self._message())

    def __reduce__(self) -> tuple[Any, ...]:  # picklable despite keyword-only arguments
        return (_rebuild_error, (self.problems, self.source, self.total))

    def _message(self) -> str:
        noun = "problem" if self.total == 1 else "problems"
        lines = [f"{self.source} was rejected ({self.total} {noun}):"]
        lines += [f"  {p}" for p in self.problems[:MESSAGE_PROBLEMS]]
        more = self.total - min(len(self.problems), MESSAGE_PROBLEMS)
        if more > 0:
            lines.append(f"  ... and {more} more")
        return "\n".join(lines)


def _rebuild_error(problems: list[Problem], source: str, total: int) -> IngestError:
    return IngestError(problems, source=source, total=total)

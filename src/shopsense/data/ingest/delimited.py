"""CSV and TSV files as columns of strings, each row with the physical line it starts on:
Arrow's parser for well-formed files, Python's csv module for the rest (ragged rows are
then reported row by row)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from shopsense.data.ingest.problems import Problem


def _unique_names(names: Sequence[str]) -> list[str]:
    """Header names made unique (a repeated name gets ".1", ".2"...), as pandas does."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            candidate = f"{name}.{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}.{seen[name]}"
            seen[candidate] = 0
            out.append(candidate)
        else:
            seen[name] = 0
            out.append(name)
    return out


def _record_start_lines(raw: bytes, quoting: bool) -> np.ndarray | None:
    """1-based physical line where each non-blank record starts (header included).

    With quoting, a line continues the previous record while an odd number of quote
    characters has been seen, which is exact for RFC 4180 files ("" escapes keep parity).
    None when the quotes do not pair up (a literal 5" or a quote never closed): the caller
    then parses with Python's csv module, which knows the difference.
    """
    buf = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    if len(starts) and starts[-1] == len(buf):  # the file ends with a newline
        starts, ends = starts[:-1], ends[:-1]
    length = ends - starts
    last = buf[np.maximum(ends - 1, 0)] if len(buf) else np.zeros(0, dtype=np.uint8)
    blank = (length == 0) | ((length == 1) & (last == 13))
    begins = ~blank
    if quoting:
        quotes = np.flatnonzero(buf == 34)
        if len(quotes) % 2:
            return None
        per_line = np.searchsorted(quotes, ends) - np.searchsorted(quotes, starts)
        open_before = np.concatenate(([0], np.cumsum(per_line)[:-1])) % 2 == 1
        begins &= ~open_before
    return np.flatnonzero(begins) + 1


def read_delimited(
    raw: bytes, text: str, source: str, *, delimiter: str, quoting: bool
) -> tuple[pd.DataFrame, np.ndarray, list[tuple[int, str]], list[Problem]]:
    """CSV/TSV as strings: a fast Arrow parse, or Python's csv module for malformed files."""
    if not text.strip():
        return (
            pd.DataFrame(),
            np.zeros(0, dtype=np.int64),
            [],
            [Problem(source, None, None, "file is empty: expected a header line naming columns")],
        )
    fast = _read_delimited_fast(raw, text, delimiter=delimiter, quoting=quoting)
    if fast is not None:
        return fast[0], fast[1], [], []
    return _read_delimited_slow(text, source, delimiter=delimiter, quoting=quoting)


def _read_delimited_fast(
    raw: bytes, text: str, *, delimiter: str, quoting: bool
) -> tuple[pd.DataFrame, np.ndarray] | None:
    """Arrow's parser; None when the file has ragged rows or record lines can't be matched."""
    # Only the start of the text: copying all of it for one line costs a noticeable time.
    reader = csv.reader(
        io.StringIO(text[: 1 << 20], newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
    )
    try:
        header = next(fields for fields in reader if fields)
    except (csv.Error, StopIteration):
        return None
    lines = _record_start_lines(raw, quoting)
    if lines is None:
        return None
    width = len(header)
    invalid: list[int] = []

    def on_invalid(_row: Any) -> str:
        invalid.append(1)
        return "skip"

    names = [f"f{i}" for i in range(width)]
    try:
        arrow = pacsv.read_csv(
            io.BytesIO(raw),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"' if quoting else False,
                newlines_in_values=quoting,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None
    if invalid:
        return None
    if len(lines) != arrow.num_rows or arrow.num_rows == 0:
        return None
    arrow, lines = arrow.slice(1), lines[1:]  # row 0 is the header
    # Rows with no value at all (",,,," lines from spreadsheets) are not data: drop them.
    # Test the first column alone first; only rows blank there can be blank everywhere.
    if arrow.num_rows and arrow.num_columns:
        empty = pc.equal(pc.utf8_trim_whitespace(arrow.column(0)), "")
        if pc.any(empty).as_py():
            for col in arrow.columns[1:]:
                empty = pc.and_(empty, pc.equal(pc.utf8_trim_whitespace(col), ""))
            keep = pc.invert(empty)
            arrow = arrow.filter(keep)
            lines = lines[keep.to_numpy()]
    frame = arrow.to_pandas(types_mapper=pd.ArrowDtype)
    frame.columns = _unique_names(header)
    return frame, lines


def _read_delimited_slow(
    text: str, source: str, *, delimiter: str, quoting: bool
) -> tuple[pd.DataFrame, np.ndarray, list[tuple[int, str]], list[Problem]]:
    """Python's csv module: exact record lines, and ragged rows reported row by row."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
        strict=True,  # a quote never closed is an error, not a field swallowing the file
    )
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    structural: list[tuple[int, str]] = []
    previous_end = 0
    try:
        for fields in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not fields or not any(f.strip() for f in fields):
                continue
            if header is None:
                header = fields
                continue
            if len(fields) != len(header):
                structural.append(
                    (len(rows), f"expected {len(header)} fields, found {len(fields)}")
                )
                fields = (fields + [""] * len(header))[: len(header)]
            rows.append(fields)
            lines.append(start)
    except csv.Error as exc:
        return (
            pd.DataFrame(),
            np.zeros(0, dtype=np.int64),
            [],
            [Problem(source, previous_end + 1, None, f"malformed CSV: {exc}")],
        )
    if header is None:
        return (
            pd.DataFrame(),
            np.zeros(0, dtype=np.int64),
            [],
            [Problem(source, None, None, "file is empty: expected a header line naming columns")],
        )
    names = _unique_names(header)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    frame = pd.DataFrame(
        {n: pd.Series(c, dtype=object) for n, c in zip(names, columns, strict=True)}
    )
    return frame, np.asarray(lines, dtype=np.int64), structural, []

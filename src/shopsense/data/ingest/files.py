"""Reading one file for a table: its format detected, its text decoded and split into rows,
an optional mapping applied, then every row checked against the schema."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from shopsense.data.ingest.checked import Checked, unloadable
from shopsense.data.ingest.delimited import read_delimited
from shopsense.data.ingest.formats import BOM, decode, detect_format, sniff
from shopsense.data.ingest.jsonl import read_jsonl
from shopsense.data.ingest.problems import Problem
from shopsense.data.ingest.validate import check
from shopsense.data.schema import Table
from shopsense.data.schema import table as table_named


def read_table_file(
    path: str | Path, table: Table | str, *, format: str | None = None
) -> pd.DataFrame:
    """Read and validate a file for `table`; raise IngestError if any row is bad.

    The frame has exactly `table.column_names`, typed (see `validate_frame`).
    """
    checked = check_file(path, table, format=format)
    if checked.problem_count:
        raise checked.error()
    return checked.good


def check_file(
    path: str | Path,
    table: Table | str,
    *,
    format: str | None = None,
    transform: Callable[[pd.DataFrame, str], pd.DataFrame] | None = None,
) -> Checked:
    """Read and validate one file without raising for bad rows (the store decides).

    `transform(frame, source)` maps the file's rows (as read) into the table's columns first,
    row for row (a shop's mapping, `shopsense.data.mapping`); line numbers are kept.
    """
    spec = table_named(table) if isinstance(table, str) else table
    path = Path(path)
    source = str(path)
    try:
        fmt = detect_format(path, format)
    except ValueError as exc:
        return unloadable(spec, source, [Problem(source, None, None, str(exc))])
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
            if not isinstance(frame.index, pd.RangeIndex):  # a saved index is data too
                frame = frame.reset_index()
        except (OSError, pa.ArrowException, ValueError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            return unloadable(
                spec, source, [Problem(source, None, None, f"cannot read Parquet: {exc}")]
            )
        if transform is not None:
            frame = transform(frame, source)
        return check(frame, spec, source=source, lines=np.arange(1, len(frame) + 1), unit="row")

    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            return unloadable(
                spec, source, [Problem(source, None, None, f"not a valid gzip file: {exc}")]
            )
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    text, encoding_problems, bad_lines = decode(raw, source)
    if encoding_problems:
        return unloadable(spec, source, encoding_problems, total=bad_lines)

    if fmt == "jsonl":
        frame, lines, structural, problems = read_jsonl(text, source)
    else:
        delimiter = "\t" if fmt == "tsv" else "," if fmt == "csv" else sniff(text)
        frame, lines, structural, problems = read_delimited(
            raw, text, source, delimiter=delimiter, quoting=fmt != "tsv"
        )
    if problems:
        return unloadable(spec, source, problems)
    if transform is not None:
        frame = transform(frame, source)
    return check(frame, spec, source=source, lines=lines, unit="line", structural=structural)

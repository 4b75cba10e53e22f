"""Reading a shop's files into frames that match the schema, with a precise list of faults.

A shop owner who exports orders from a till or a web shop gets files with typos, stray
headers and odd encodings. Every fault found here names the file, the line as an editor
shows it, the column and the reason, so the file can be fixed instead of guessed at. Nothing
is loaded from here: the store decides what to do with the good and the bad rows.

Formats: CSV, TSV, JSON lines and Parquet; the text formats may be gzip-compressed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from shopsense.data.schema import Column, ColumnType, Table
from shopsense.data.schema import table as table_named

#: Problem objects kept per file; the count of all problems is always exact.
MAX_PROBLEMS = 1000
#: Problems quoted in an IngestError message.
MESSAGE_PROBLEMS = 20

FORMATS = ("csv", "tsv", "jsonl", "parquet")
_FORMAT_ALIASES = {
    "csv": "csv",
    "txt": "txt",
    "tsv": "tsv",
    "tab": "tsv",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "parquet": "parquet",
    "pq": "parquet",
}

_BOM = b"\xef\xbb\xbf"
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
# Largest epoch values whose nanoseconds fit in int64 (datetime64[ns] is the frame's type).
_MAX_EPOCH_S = 9_223_372_036
_MAX_EPOCH_MS = 9_223_372_036_854
_EPOCH_MS_ABOVE = 1e11


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
        parts.append(self.reason if self.value is None else f"{self.reason}: {_show(self.value)}")
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


# ----------------------------------------------------------------------------- public API


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
    return _check(frame, spec, source=source, lines=line_numbers, unit=unit)


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
        return _fatal(spec, source, [Problem(source, None, None, str(exc))])
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
            if not isinstance(frame.index, pd.RangeIndex):  # a saved index is data too
                frame = frame.reset_index()
        except (OSError, pa.ArrowException, ValueError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            return _fatal(
                spec, source, [Problem(source, None, None, f"cannot read Parquet: {exc}")]
            )
        if transform is not None:
            frame = transform(frame, source)
        return _check(frame, spec, source=source, lines=np.arange(1, len(frame) + 1), unit="row")

    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            return _fatal(
                spec, source, [Problem(source, None, None, f"not a valid gzip file: {exc}")]
            )
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    text, encoding_problems, bad_lines = _decode(raw, source)
    if encoding_problems:
        return _fatal(spec, source, encoding_problems, total=bad_lines)

    if fmt == "jsonl":
        frame, lines, structural, problems = _read_jsonl(text, source)
    else:
        delimiter = "\t" if fmt == "tsv" else "," if fmt == "csv" else _sniff(text)
        frame, lines, structural, problems = _read_delimited(
            raw, text, source, delimiter=delimiter, quoting=fmt != "tsv"
        )
    if problems:
        return _fatal(spec, source, problems)
    if transform is not None:
        frame = transform(frame, source)
    return _check(frame, spec, source=source, lines=lines, unit="line", structural=structural)


def detect_format(path: Path, format: str | None = None) -> str:
    """The reader for `path`: from `format` if given, else from its suffix (".gz" ignored)."""
    if format is not None:
        key = format.lower().lstrip(".")
        if key not in _FORMAT_ALIASES:
            raise ValueError(f"unknown format {format!r}; formats are: {', '.join(FORMATS)}")
        return _FORMAT_ALIASES[key]
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    key = suffixes[-1].lstrip(".") if suffixes else ""
    if key not in _FORMAT_ALIASES:
        raise ValueError(
            f"cannot tell the format from the name {path.name!r}; use a .csv, .tsv, .jsonl or "
            f".parquet name (optionally .gz) or pass the format"
        )
    return _FORMAT_ALIASES[key]


# ----------------------------------------------------------------------------- readers


def _fatal(table: Table, source: str, problems: list[Problem], total: int | None = None) -> Checked:
    empty = pd.DataFrame({c.name: pd.Series([], dtype=_DTYPES[c.type]) for c in table.columns})
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


def _decode(raw: bytes, source: str) -> tuple[str, list[Problem], int]:
    """Decode UTF-8; on failure report each line holding a byte that is not UTF-8."""
    try:
        return raw.decode("utf-8"), [], 0
    except UnicodeDecodeError:
        pass
    text = raw.decode("utf-8", errors="surrogateescape")
    problems: list[Problem] = []
    bad_lines = 0
    line, pos, last_line = 1, 0, 0
    for match in re.finditer("[\udc80-\udcff]", text):
        line += text.count("\n", pos, match.start())
        pos = match.start()
        if line == last_line:
            continue
        last_line = line
        bad_lines += 1
        if len(problems) < MAX_PROBLEMS:
            byte = ord(match.group()) - 0xDC00
            reason = f"not valid UTF-8 (byte 0x{byte:02X}); save the file as UTF-8"
            problems.append(Problem(source, line, None, reason))
    return text, problems, bad_lines


def _sniff(text: str) -> str:
    """Delimiter of a .txt file: the most frequent of tab, comma, semicolon, bar in line 1."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in ("\t", ",", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


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


def _read_delimited(
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


def _read_jsonl(
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


# ----------------------------------------------------------------------------- validation

_DTYPES: dict[ColumnType, Any] = {
    ColumnType.STRING: object,
    ColumnType.INTEGER: "Int64",
    ColumnType.FLOAT: "float64",
    ColumnType.TIMESTAMP: "datetime64[ns]",
    ColumnType.BOOLEAN: "boolean",
}


def frame_dtype(kind: ColumnType) -> Any:
    """The pandas dtype a validated frame uses for a schema column type."""
    return _DTYPES[kind]


def _show(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")


def _scalar_text(value: Any) -> str | None:
    """A cell as text for parsing and for reject files; None when it is missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        # An ID read as float (pandas turns int columns with gaps into float) reads as an int.
        return str(int(value)) if value.is_integer() and abs(value) < 2**63 else repr(float(value))
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


_STRING = pa.string()
_NULL_STRING = pa.scalar(None, _STRING)


def _as_text(raw: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """(stripped text as an Arrow string array, null for missing; missing mask).

    Arrow compute keeps validation of 500k-row files to a fraction of a second.
    """
    dtype = raw.dtype
    arrow_strings = isinstance(dtype, pd.StringDtype) or (
        isinstance(dtype, pd.ArrowDtype)
        and (
            pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
        )
    )
    if arrow_strings:
        arr = pa.array(raw.array)
    elif dtype.kind in "iu":  # plain numpy integers: no missing values
        arr = pa.array(raw.to_numpy())
    else:
        values = raw.to_numpy(dtype=object)
        try:  # all str/None (the usual object column): converted in C
            arr = pa.array(values, type=_STRING, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arr = pa.array([_scalar_text(v) for v in values], type=_STRING)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.utf8_trim_whitespace(arr.cast(_STRING))
    missing = pc.fill_null(pc.equal(arr, ""), True)
    arr = pc.if_else(missing, _NULL_STRING, arr)
    return arr, missing.to_numpy(zero_copy_only=False)


def _matches(text: pa.Array, pattern: str) -> np.ndarray:
    """Where `text` matches `pattern` in full (False for nulls)."""
    found = pc.match_substring_regex(text, f"^(?:{pattern})$")
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def _take(text: pa.Array, positions: np.ndarray) -> pa.Array:
    return text.take(pa.array(positions, type=pa.int64()))


def _to_int64(text: pa.Array) -> np.ndarray:
    """Cast strings known to match [+-]?\\d{1,18} to int64 (Arrow refuses a leading '+')."""
    unsigned = pc.replace_substring_regex(text, r"^\+", "")
    return pc.cast(unsigned, pa.int64()).to_numpy(zero_copy_only=False)


def _coerce_floats(text: pa.Array) -> np.ndarray:
    """Anything pandas reads as a number ("nan", "inf" included); NaN for the rest."""
    strings = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object)
    return pd.to_numeric(strings, errors="coerce").to_numpy(dtype=np.float64)


_INTEGER = r"[+-]?\d{1,18}"
_DECIMAL = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"

Issues = list[tuple[np.ndarray, str]]


def _parse_string(text: pa.Array, missing: np.ndarray, column: Column) -> tuple[pd.Series, Issues]:
    if not column.choices:
        return pd.Series(text.to_numpy(zero_copy_only=False), dtype=object), []
    # Matched ignoring case, stored as spelled in the schema ("View" -> "view").
    choices = pa.array(list(column.choices), type=_STRING)
    lowered = pa.array([c.lower() for c in column.choices], type=_STRING)
    index = pc.index_in(pc.utf8_lower(text), value_set=lowered)
    values = pc.take(choices, index).to_numpy(zero_copy_only=False)
    bad = ~missing & pd.isna(values)
    return pd.Series(values, dtype=object), [(bad, f"not one of {', '.join(column.choices)}")]


def _parse_integer(text: pa.Array, missing: np.ndarray) -> tuple[pd.Series, Issues]:
    # Up to 18 digits always fits int64 and parses exactly; the rest goes through float
    # ("3.0" and "1e3" are integers, "2.5" and "abc" are not).
    values = np.zeros(len(text), dtype=np.int64)
    bad = np.zeros(len(text), dtype=bool)
    exact = _matches(text, _INTEGER)
    if exact.any():
        values[exact] = _to_int64(text.filter(pa.array(exact)))
    others = np.flatnonzero(~missing & ~exact)
    if len(others):
        floats = _coerce_floats(_take(text, others))
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(floats) & (np.floor(floats) == floats) & (np.abs(floats) < 2**63)
        values[others[ok]] = floats[ok].astype(np.int64)
        bad[others[~ok]] = True
    return pd.Series(pd.arrays.IntegerArray(values, missing | bad)), [(bad, "not an integer")]


def _parse_float(text: pa.Array, missing: np.ndarray) -> tuple[pd.Series, Issues]:
    values = np.full(len(text), np.nan)
    plain = _matches(text, _DECIMAL)
    if plain.any():
        values[plain] = pc.cast(text.filter(pa.array(plain)), pa.float64()).to_numpy()
    others = np.flatnonzero(~missing & ~plain)
    if len(others):
        values[others] = _coerce_floats(_take(text, others))
    return _finite(values, missing, text_input=True)


def _finite(
    values: np.ndarray, missing: np.ndarray, *, text_input: bool
) -> tuple[pd.Series, Issues]:
    """Floats with NaN for missing; NaN or infinity given as a value is a fault."""
    nan = np.isnan(values) & ~missing
    inf = np.isinf(values)
    values = np.where(inf, np.nan, values)
    issues: Issues = [(inf, "not a finite number")]
    if text_input:
        issues.insert(0, (nan, "not a number"))
    return pd.Series(values, dtype="float64"), issues


def _parse_timestamp(text: pa.Array, missing: np.ndarray) -> tuple[pd.Series, Issues]:
    """ISO-8601 text, or Unix epoch seconds (milliseconds above 1e11) when the values are
    integers. Offsets are converted to UTC and dropped."""
    present = ~missing
    if not present.any():
        return pd.Series(np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")), []
    digits = _matches(text, r"[+-]?\d+")
    if digits[present].all():
        values, out_of_range = _epoch(text, present)
        return pd.Series(values), [(out_of_range, "timestamp out of range")]
    values, unparseable, out_of_range = _iso(text, present)
    if digits.any() and not (present & ~digits & ~unparseable).any():
        # Integers beside values that are no dates at all: the integers are epochs.
        values, out_of_range = _epoch(text, digits)
        unparseable = present & ~digits
    return pd.Series(values), [
        (unparseable, "unparseable timestamp"),
        (out_of_range, "timestamp out of range"),
    ]


def _epoch(text: pa.Array, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(datetime64[ns] values, out-of-range mask) for the integer strings at `where`."""
    values = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    fits = where & _matches(text, _INTEGER)
    numbers = np.zeros(len(text), dtype=np.int64)
    if fits.any():
        numbers[fits] = _to_int64(text.filter(pa.array(fits)))
    size = np.abs(numbers)
    millis = size > _EPOCH_MS_ABOVE
    fits &= np.where(millis, size <= _MAX_EPOCH_MS, size <= _MAX_EPOCH_S)
    nanos = np.where(millis, numbers * 1_000_000, numbers * 1_000_000_000)
    values[fits] = nanos[fits].astype("datetime64[ns]")
    return values, where & ~fits


def _iso(text: pa.Array, present: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(datetime64[ns] values, unparseable mask, out-of-range mask) for ISO-8601 text."""
    try:  # plain ISO-8601 without offsets, in range: Arrow parses it in one pass
        stamps = pc.cast(text, pa.timestamp("ns")).to_numpy(zero_copy_only=False)
        nothing = np.zeros(len(text), dtype=bool)
        return stamps.astype("datetime64[ns]"), nothing, nothing
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    strings = pd.Series(text, dtype=pd.ArrowDtype(_STRING))
    parsed = pd.to_datetime(strings, format="ISO8601", errors="coerce", utc=True)
    parsed = parsed.dt.tz_localize(None)
    unparseable = present & parsed.isna().to_numpy()
    values, out_of_range = _fit_ns(parsed)
    return values, unparseable, out_of_range


def _fit_ns(stamps: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Naive stamps of any resolution -> datetime64[ns] values, and the mask of those that
    fall outside its range (years 1677-2262), which become NaT."""
    present = stamps.notna().to_numpy()
    inside = (
        present
        & (stamps >= pd.Timestamp.min).to_numpy(dtype=bool, na_value=False)
        & (stamps <= pd.Timestamp.max).to_numpy(dtype=bool, na_value=False)
    )
    outside = present & ~inside
    if outside.any():
        stamps = stamps.where(pd.Series(inside, index=stamps.index))
    return stamps.astype("datetime64[ns]").to_numpy(), outside


def _parse_boolean(text: pa.Array, missing: np.ndarray) -> tuple[pd.Series, Issues]:
    lowered = pc.utf8_lower(text)
    is_true = pc.fill_null(pc.is_in(lowered, value_set=pa.array(sorted(_TRUE))), False)
    is_false = pc.fill_null(pc.is_in(lowered, value_set=pa.array(sorted(_FALSE))), False)
    true = is_true.to_numpy(zero_copy_only=False)
    bad = ~missing & ~true & ~is_false.to_numpy(zero_copy_only=False)
    return pd.Series(pd.arrays.BooleanArray(true, missing | bad)), [(bad, "not a boolean")]


def _parse_column(
    raw: pd.Series, column: Column
) -> tuple[pd.Series, np.ndarray, Issues, pd.Series | pa.Array]:
    """(typed values, missing mask, issues, values to quote in messages) for one column.

    Frames built in code often carry real dtypes already; those skip the text round trip.
    """
    raw = raw.reset_index(drop=True)
    kind = column.type
    numeric = pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype)
    if kind == ColumnType.FLOAT and numeric:
        missing = raw.isna().to_numpy()
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        typed, issues = _finite(values, missing, text_input=False)
        return typed, missing, issues, raw
    if kind == ColumnType.INTEGER and pd.api.types.is_integer_dtype(raw.dtype):
        return raw.astype("Int64"), raw.isna().to_numpy(), [], raw
    if kind == ColumnType.TIMESTAMP and pd.api.types.is_datetime64_any_dtype(raw.dtype):
        if raw.dt.tz is not None:
            raw = raw.dt.tz_convert("UTC").dt.tz_localize(None)
        missing = raw.isna().to_numpy()
        values, outside = _fit_ns(raw)
        return pd.Series(values), missing, [(outside, "timestamp out of range")], raw
    if kind == ColumnType.BOOLEAN and pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("boolean"), raw.isna().to_numpy(), [], raw
    text, missing = _as_text(raw)
    if kind == ColumnType.STRING:
        values, issues = _parse_string(text, missing, column)
    elif kind == ColumnType.INTEGER:
        values, issues = _parse_integer(text, missing)
    elif kind == ColumnType.FLOAT:
        values, issues = _parse_float(text, missing)
    elif kind == ColumnType.TIMESTAMP:
        values, issues = _parse_timestamp(text, missing)
    else:
        values, issues = _parse_boolean(text, missing)
    return values, missing, issues, text


def _quoted(values: pd.Series | pa.Array, row: int) -> str | None:
    """The value at `row` as text for a message."""
    if isinstance(values, pa.Array):
        return values[row].as_py()
    return _scalar_text(values.iloc[row])


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
                np.array([_scalar_text(v) for v in col.to_numpy(dtype=object)], dtype=object)
            )
    out = pd.DataFrame(dict(enumerate(columns)), index=range(len(positions)))
    out.columns = names
    return out


def _check(
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
        return _fatal(table, source, fatal)
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
            values, missing, issues, quoted = _parse_column(raw, column)
        else:  # an optional column the input does not have: all missing
            values = pd.Series([None] * n, dtype=object)
            missing, issues, quoted = np.ones(n, dtype=bool), [], None
        typed[column.name] = values.astype(_DTYPES[column.type])
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
            message += f": {_show(value)}"
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

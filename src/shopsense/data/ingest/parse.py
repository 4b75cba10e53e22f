"""Typing one column against its schema type: the typed values, which cells are missing,
and which are faulty and why (not an integer, unparseable timestamp...)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shopsense.data.ingest.text import (
    STRING,
    as_text,
    coerce_floats,
    matches,
    take,
    to_int64,
)
from shopsense.data.schema import Column, ColumnType

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})

# Largest epoch values whose nanoseconds fit in int64 (datetime64[ns] is the frame's type).
_MAX_EPOCH_S = 9_223_372_036
_MAX_EPOCH_MS = 9_223_372_036_854
_EPOCH_MS_ABOVE = 1e11

INTEGER = r"[+-]?\d{1,18}"
_DECIMAL = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"

#: (mask of faulty cells, reason) pairs for one column
Issues = list[tuple[np.ndarray, str]]


def _parse_string(text: pa.Array, missing: np.ndarray, column: Column) -> tuple[pd.Series, Issues]:
    if not column.choices:
        return pd.Series(text.to_numpy(zero_copy_only=False), dtype=object), []
    # Matched ignoring case, stored as spelled in the schema ("View" -> "view").
    choices = pa.array(list(column.choices), type=STRING)
    lowered = pa.array([c.lower() for c in column.choices], type=STRING)
    index = pc.index_in(pc.utf8_lower(text), value_set=lowered)
    values = pc.take(choices, index).to_numpy(zero_copy_only=False)
    bad = ~missing & pd.isna(values)
    return pd.Series(values, dtype=object), [(bad, f"not one of {', '.join(column.choices)}")]


def _parse_integer(text: pa.Array, missing: np.ndarray) -> tuple[pd.Series, Issues]:
    # Up to 18 digits always fits int64 and parses exactly; the rest goes through float
    # ("3.0" and "1e3" are integers, "2.5" and "abc" are not).
    values = np.zeros(len(text), dtype=np.int64)
    bad = np.zeros(len(text), dtype=bool)
    exact = matches(text, INTEGER)
    if exact.any():
        values[exact] = to_int64(text.filter(pa.array(exact)))
    others = np.flatnonzero(~missing & ~exact)
    if len(others):
        floats = coerce_floats(take(text, others))
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(floats) & (np.floor(floats) == floats) & (np.abs(floats) < 2**63)
        values[others[ok]] = floats[ok].astype(np.int64)
        bad[others[~ok]] = True
    return pd.Series(pd.arrays.IntegerArray(values, missing | bad)), [(bad, "not an integer")]


def _parse_float(text: pa.Array, missing: np.ndarray) -> tuple[pd.Series, Issues]:
    values = np.full(len(text), np.nan)
    plain = matches(text, _DECIMAL)
    if plain.any():
        values[plain] = pc.cast(text.filter(pa.array(plain)), pa.float64()).to_numpy()
    others = np.flatnonzero(~missing & ~plain)
    if len(others):
        values[others] = coerce_floats(take(text, others))
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
    digits = matches(text, r"[+-]?\d+")
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
    fits = where & matches(text, INTEGER)
    numbers = np.zeros(len(text), dtype=np.int64)
    if fits.any():
        numbers[fits] = to_int64(text.filter(pa.array(fits)))
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
    strings = pd.Series(text, dtype=pd.ArrowDtype(STRING))
    parsed = pd.to_datetime(strings, format="ISO8601", errors="coerce", utc=True)
    parsed = parsed.dt.tz_localize(None)
    unparseable = present & parsed.isna().to_numpy()
    values, out_of_range = fit_ns(parsed)
    return values, unparseable, out_of_range


def fit_ns(stamps: pd.Series) -> tuple[np.ndarray, np.ndarray]:
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


def parse_column(
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
        values, outside = fit_ns(raw)
        return pd.Series(values), missing, [(outside, "timestamp out of range")], raw
    if kind == ColumnType.BOOLEAN and pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("boolean"), raw.isna().to_numpy(), [], raw
    text, missing = as_text(raw)
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

"""Cells as text: what a value reads as in a message or a reject file, and whole columns
as Arrow string arrays (Arrow compute keeps validating large files fast)."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def scalar_text(value: Any) -> str | None:
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


STRING = pa.string()
_NULL_STRING = pa.scalar(None, STRING)


def as_text(raw: pd.Series) -> tuple[pa.Array, np.ndarray]:
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
            arr = pa.array(values, type=STRING, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arr = pa.array([scalar_text(v) for v in values], type=STRING)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.utf8_trim_whitespace(arr.cast(STRING))
    missing = pc.fill_null(pc.equal(arr, ""), True)
    arr = pc.if_else(missing, _NULL_STRING, arr)
    return arr, missing.to_numpy(zero_copy_only=False)


def matches(text: pa.Array, pattern: str) -> np.ndarray:
    """Where `text` matches `pattern` in full (False for nulls)."""
    found = pc.match_substring_regex(text, f"^(?:{pattern})$")
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def take(text: pa.Array, positions: np.ndarray) -> pa.Array:
    return text.take(pa.array(positions, type=pa.int64()))


def to_int64(text: pa.Array) -> np.ndarray:
    """Cast strings known to match [+-]?\\d{1,18} to int64 (Arrow refuses a leading '+')."""
    unsigned = pc.replace_substring_regex(text, r"^\+", "")
    return pc.cast(unsigned, pa.int64()).to_numpy(zero_copy_only=False)


def coerce_floats(text: pa.Array) -> np.ndarray:
    """Anything pandas reads as a number ("nan", "inf" included); NaN for the rest."""
    strings = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object)
    return pd.to_numeric(strings, errors="coerce").to_numpy(dtype=np.float64)

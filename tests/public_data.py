"""Where the tests find real data: slices that ship in `tests/corpora/`, or the full public
data sets under `SHOPSENSE_DATA_ROOT`.

A fresh clone has only the shipped slices (and the UCI sample inside the package); tests
that need a full corpus skip with one line naming it and the variable. In CI (`CI=true`)
such a skip is a failure instead: CI must run everything.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shopsense.config import Settings

SHIPPED = Path(__file__).resolve().parent / "corpora"
"""Slices of MIT-licensed data sets in the layout of the data root (see its README)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def data_root() -> Path:
    return Path(Settings().data_root)


def corpus(name: str) -> Path:
    """The data root holding the public data set `name`; skip (fail in CI) without it."""
    root = data_root()
    if not (root / name).is_dir():
        message = f"needs the {name} data set under {root} (set SHOPSENSE_DATA_ROOT)"
        if in_ci():
            pytest.fail(f"CI runs every test, but {message}", pytrace=False)
        pytest.skip(message)
    return root

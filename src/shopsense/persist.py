"""Atomic file writes, shared by every model's `save` and every report writer: a reader
(a service loading a version, a dashboard reading a report) never sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO


def atomic_write(target: Path, write: Callable[[str], Any]) -> None:
    """`write(tmp)` to a temporary file beside `target`, flush it to disk, then rename it
    over `target`. On any error the temporary file is removed and `target` is untouched."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_stream(target: Path, write: Callable[[BinaryIO], Any]) -> None:
    """`atomic_write` for writers that take an open binary file (`np.savez` would add
    ".npz" to a temporary file's name)."""

    def to_file(tmp: str) -> None:
        with open(tmp, "wb") as f:
            write(f)

    atomic_write(target, to_file)


def write_json(target: Path, payload: Any, *, strict: bool = False) -> None:
    """`payload` as indented JSON, atomically. `strict` refuses NaN and infinity (which
    JSON has no words for); otherwise values JSON cannot hold are written as strings."""
    text = json.dumps(payload, indent=2, allow_nan=not strict, default=None if strict else str)
    atomic_write(target, lambda tmp: Path(tmp).write_text(text))


def read_model_json(folder: Path, kind: str, name: str = "model.json") -> dict[str, Any]:
    """The config a model's `save` wrote, checked to be of `kind`: FileNotFoundError when
    the folder holds no saved model, ValueError when it holds another kind."""
    folder = Path(folder)
    if not (folder / name).is_file():
        raise FileNotFoundError(f"{folder} holds no saved model ({name} missing)")
    meta = json.loads((folder / name).read_text())
    if meta.get("model") != kind:
        raise ValueError(f"{folder} holds a {meta.get('model')!r} model, not {kind!r}")
    return meta

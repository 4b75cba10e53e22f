"""Atomic writes: the target is replaced whole or not at all."""

from __future__ import annotations

import json

import pytest

from shopsense.persist import atomic_write, write_json


def test_a_failed_write_leaves_the_old_file_and_no_litter(tmp_path):
    target = tmp_path / "model.json"
    target.write_text("old")

    def broken(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model.json"]


def test_write_json_round_trips_and_strict_refuses_nan(tmp_path):
    write_json(tmp_path / "a.json", {"k": 3, "when": tmp_path})
    assert json.loads((tmp_path / "a.json").read_text()) == {"k": 3, "when": str(tmp_path)}
    with pytest.raises(ValueError):
        write_json(tmp_path / "b.json", {"x": float("nan")}, strict=True)
    assert not (tmp_path / "b.json").exists()


def test_atomic_write_stream_keeps_the_name_np_savez_would_change(tmp_path):
    import numpy as np

    from shopsense.persist import atomic_write_stream

    target = tmp_path / "arrays.npz"
    atomic_write_stream(target, lambda f: np.savez(f, x=np.arange(3)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays.npz"]
    assert np.load(target)["x"].tolist() == [0, 1, 2]


def test_atomic_write_stream_leaves_old_file_on_failure(tmp_path):
    from shopsense.persist import atomic_write_stream

    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_stream(target, boom)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]

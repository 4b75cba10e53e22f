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

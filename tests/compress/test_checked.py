"""Which exported file a model may use: only one whose check passed; int8 falls back to
fp32; "off" and a folder without a report mean torch."""

from __future__ import annotations

import pytest

from shopsense.compress.checked import chosen_file, meets, read_report, write_report


def _folder(tmp_path, fp32: bool, int8: bool):
    for name in ("m.onnx", "m.int8.onnx"):
        (tmp_path / name).write_bytes(b"onnx")
    write_report(
        tmp_path,
        {
            "precisions": {
                "fp32": {"file": "m.onnx", "passed": fp32},
                "int8": {"file": "m.int8.onnx", "passed": int8},
            }
        },
    )
    return tmp_path


def test_meets_reads_each_bar_s_direction():
    bars = {"agreement": (">=", 0.99), "error": ("<=", 1e-3)}
    assert meets({"agreement": 0.995, "error": 1e-4}, bars)
    assert not meets({"agreement": 0.98, "error": 1e-4}, bars)
    assert not meets({"agreement": 1.0, "error": 0.01}, bars)
    assert not meets({"agreement": 1.0}, bars)  # a number not measured fails


def test_each_precision_gets_its_own_file_when_it_passed(tmp_path):
    folder = _folder(tmp_path, fp32=True, int8=True)
    assert chosen_file(folder, "fp32")[0].name == "m.onnx"
    assert chosen_file(folder, "int8")[0].name == "m.int8.onnx"
    assert chosen_file(folder, "off") is None


def test_int8_falls_back_to_fp32_and_a_failed_file_is_never_used(tmp_path):
    folder = _folder(tmp_path, fp32=True, int8=False)
    assert chosen_file(folder, "int8")[0].name == "m.onnx"
    folder = _folder(tmp_path, fp32=False, int8=False)
    assert chosen_file(folder, "int8") is None and chosen_file(folder, "fp32") is None


def test_a_missing_file_or_report_means_torch(tmp_path):
    assert chosen_file(tmp_path, "fp32") is None and read_report(tmp_path) is None
    folder = _folder(tmp_path, fp32=True, int8=True)
    (folder / "m.onnx").unlink()
    assert chosen_file(folder, "fp32") is None


def test_an_unknown_precision_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="fp32, int8 or off"):
        chosen_file(_folder(tmp_path, True, True), "fp16")

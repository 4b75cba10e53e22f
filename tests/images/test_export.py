"""ONNX agrees with torch; int8 stays within a few points of fp32."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.images.export import OnnxClassifier, export_onnx, quantize_int8


@pytest.fixture(scope="module")
def onnx_files(fitted, train_set, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    fp32 = export_onnx(fitted, folder / "model.onnx")
    int8 = quantize_int8(fp32, folder / "model.int8.onnx", fitted, train_set.subset(np.arange(256)))
    return fp32, int8


def test_onnx_matches_torch(fitted, test_set, onnx_files):
    onnx = OnnxClassifier(onnx_files[0], fitted)
    np.testing.assert_allclose(onnx.logits(test_set), fitted.logits(test_set), atol=1e-3)
    np.testing.assert_allclose(
        onnx.embed(test_set.images[:7]), fitted.embed(test_set.images[:7]), atol=1e-4
    )


def test_int8_accuracy_is_close_to_fp32(fitted, test_set, onnx_files):
    fp32 = float((fitted.predict(test_set) == test_set.labels).mean())
    int8 = float(
        (OnnxClassifier(onnx_files[1], fitted).predict(test_set) == test_set.labels).mean()
    )
    assert int8 > fp32 - 0.03, (fp32, int8)
    assert onnx_files[1].stat().st_size < 0.6 * onnx_files[0].stat().st_size

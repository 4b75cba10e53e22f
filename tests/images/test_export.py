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


@pytest.fixture(scope="module")
def exported(fitted, tmp_path_factory):
    """The fitted classifier saved and exported the way training does: (folder, report)."""
    folder = fitted.save(tmp_path_factory.mktemp("exported"))
    return folder, fitted.export(folder)


def test_export_checks_itself_on_the_kept_training_photos(fitted, exported):
    folder, report = exported
    assert report["checked_images"] == len(fitted.calibration_images_) > 100
    fp32, int8 = report["precisions"]["fp32"], report["precisions"]["int8"]
    assert fp32["passed"] and fp32["top1_agreement"] >= 0.99
    assert int8["passed"] and int8["size_mb"] < fp32["size_mb"]
    assert (folder / "export.json").is_file() and (folder / fp32["file"]).is_file()


def test_a_loaded_classifier_predicts_through_onnx_like_torch(fitted, exported, test_set):
    from shopsense.images.model import ImageClassifier

    folder, _ = exported
    served = ImageClassifier.load(folder)
    assert served.runtime_ is not None and served.runtime_.path.name == "model.onnx"
    np.testing.assert_allclose(served.logits(test_set), fitted.logits(test_set), atol=1e-3)
    assert np.mean(served.predict(test_set) == fitted.predict(test_set)) >= 0.99
    np.testing.assert_allclose(
        served.embed(test_set.images[:9]), fitted.embed(test_set.images[:9]), atol=1e-4
    )
    assert served.use_runtime(folder, "int8") and served.runtime_.path.name == "model.int8.onnx"
    assert not served.use_runtime(folder, "off") and served.runtime_ is None


def test_a_loaded_classifier_needs_photos_to_check_an_export(exported, tmp_path, test_set):
    from shopsense.images.model import ImageClassifier

    folder, _ = exported
    loaded = ImageClassifier.load(folder)
    with pytest.raises(ValueError, match="needs real photos"):
        loaded.export(tmp_path)
    report = loaded.export(tmp_path, int8=False, images=test_set.images[:64])
    assert report["checked_images"] == 64 and set(report["precisions"]) == {"fp32"}

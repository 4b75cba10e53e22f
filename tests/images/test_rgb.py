"""RGB photos as shops have them: a model reads the channels, side and normalisation of its
training photos, saves them, and scores new photos of any size exactly as it trained."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from shopsense.data.images import ImageSet, default_size
from shopsense.images.data import augment
from shopsense.images.export import OnnxClassifier, export_onnx
from shopsense.images.io import ImageFormat, ImageReader
from shopsense.images.model import CONFIG_FILE, ImageClassifier
from shopsense.images.workflows import photo_from_bytes
from tests.images.grocery import SIDE, TINY_RGB, grocery, majority_share


@pytest.fixture(scope="module")
def rgb_train():
    return grocery("train")


@pytest.fixture(scope="module")
def rgb_test():
    return grocery("test")


@pytest.fixture(scope="module")
def rgb_model(rgb_train) -> ImageClassifier:
    return ImageClassifier(**TINY_RGB).fit(rgb_train)


def test_the_model_reads_what_its_training_photos_are(rgb_model, rgb_train, fitted):
    assert rgb_train.images.shape[1:] == (SIDE, SIDE, 3) and rgb_train.channels == 3
    fmt = rgb_model.input_format
    assert (fmt.size, fmt.channels, fmt.invert) == (SIDE, 3, "never")
    assert rgb_model.mean_.shape == (3,) and rgb_model.std_.shape == (3,)
    pixels = rgb_train.images.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(rgb_model.mean_, pixels.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(rgb_model.std_, pixels.std(axis=0), atol=1e-4)
    # Fashion-MNIST: light products on black, so only that model inverts photos on white
    assert fitted.input_format == ImageFormat(28, 1, "auto")
    assert default_size(1) == 28 and default_size(3) > 28


def test_a_cnn_on_the_shipped_photos_beats_the_majority_class(rgb_model, rgb_train, rgb_test):
    accuracy = float((rgb_model.predict(rgb_test) == rgb_test.labels).mean())
    majority = majority_share(rgb_train, rgb_test)  # 6 of 144 test photos: 0.04
    assert accuracy > majority + 0.25, (accuracy, majority)


def test_save_load_gives_identical_logits_and_keeps_the_input(rgb_model, rgb_test, tmp_path):
    rgb_model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())
    assert meta["channels"] == 3 and len(meta["mean"]) == 3 and meta["light_on_dark"] is False
    loaded = ImageClassifier.load(tmp_path / "m")
    assert loaded.input_format == rgb_model.input_format
    np.testing.assert_array_equal(loaded.logits(rgb_test), rgb_model.logits(rgb_test))
    with pytest.raises(ValueError, match=r"\(n, 32, 32, 3\)"):
        loaded.predict(np.zeros((2, 32, 32), dtype=np.uint8))


def test_a_model_saved_before_channels_loads_as_grayscale_28px(fitted, test_set, tmp_path):
    fitted.save(tmp_path / "old")
    path = tmp_path / "old" / CONFIG_FILE
    meta = json.loads(path.read_text())
    for key in ("image_size", "channels", "stem_stride", "light_on_dark"):
        meta.pop(key)
    meta["mean"], meta["std"] = meta["mean"][0], meta["std"][0]
    meta["config"]["image_size"] = 28
    for key in ("stem_stride", "crop_padding"):
        meta["config"].pop(key)
    path.write_text(json.dumps(meta))
    old = ImageClassifier.load(tmp_path / "old")
    assert old.input_format == ImageFormat(28, 1, "auto")
    np.testing.assert_allclose(old.logits(test_set), fitted.logits(test_set), atol=1e-6)


def test_onnx_export_of_a_colour_model(rgb_model, rgb_test, tmp_path):
    onnx = OnnxClassifier(export_onnx(rgb_model, tmp_path / "m.onnx"), rgb_model)
    np.testing.assert_allclose(onnx.logits(rgb_test), rgb_model.logits(rgb_test), atol=1e-3)


def _encoded(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _dark_box_on_white(size=(60, 40)) -> Image.Image:
    img = Image.new("RGB", size, (255, 255, 255))
    img.paste((20, 30, 160), (20, 10, 40, 30))
    return img


def test_only_a_light_on_dark_grayscale_model_inverts_photos_on_white(fitted, rgb_model):
    data = _encoded(_dark_box_on_white())
    gray = photo_from_bytes(data, fitted.input_format)
    assert gray.shape == (28, 28) and gray[0, 0] < 30 and gray[14, 14] > 150
    rgb = photo_from_bytes(data, rgb_model.input_format)
    assert rgb.shape == (SIDE, SIDE, 3) and rgb[0, 0].min() > 220  # white stays white
    assert rgb[SIDE // 2, SIDE // 2, 2] > rgb[SIDE // 2, SIDE // 2, 0] + 60  # blue stays blue
    never = ImageFormat(28, 1, "never")  # a grayscale model trained on photos on white
    assert photo_from_bytes(data, never)[0, 0] > 220


@pytest.mark.parametrize(
    ("image", "fmt"),
    [
        (Image.new("RGBA", (333, 57), (200, 10, 10, 128)), "PNG"),
        (Image.new("RGB", (57, 333), (10, 200, 10)).convert("P", palette=1), "PNG"),
        (Image.new("L", (333, 57), 90), "JPEG"),
        (Image.new("RGB", (333, 57), (10, 10, 200)), "JPEG"),
    ],
    ids=["rgba-png", "palette-png", "gray-jpeg", "rgb-jpeg"],
)
def test_odd_uploads_become_model_input(image, fmt, fitted, rgb_model):
    data = _encoded(image, fmt)
    for model in (fitted, rgb_model):
        x = photo_from_bytes(data, model.input_format, name="odd")
        assert x.shape == model.input_format.shape and x.dtype == np.uint8
        assert model.predict_proba(x[None]).shape == (1, len(model.classes_))


def test_channels_are_read_from_the_photos(tmp_path, train_set):
    Image.new("L", (40, 20), 10).save(tmp_path / "g.png")
    Image.new("RGB", (20, 40), (1, 2, 3)).save(tmp_path / "c.jpg")
    reader = ImageReader(tmp_path)
    assert reader.channels_of(["g.png"]) == 1 and reader.channels_of(["g.png", "c.jpg"]) == 3
    images, kept, _ = reader.read_many(["g.png", "c.jpg", "nothing.png"], 24, channels=3)
    assert images.shape == (2, 24, 24, 3) and kept.tolist() == [0, 1]
    view = ImageSet.from_arrays(np.zeros((2, 8, 8, 3)), np.array(["a", "b"], dtype=object))
    assert view.channels == 3 and view.size == 8 and train_set.channels == 1
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(np.zeros((2, 8, 8, 2), dtype=np.uint8), np.array(["a", "b"]))


def test_augment_moves_every_channel_alike():
    x = torch.rand(16, 1, 10, 10).repeat(1, 3, 1, 1) * torch.tensor([1.0, 2.0, 3.0])[:, None, None]
    out = augment(x, torch.Generator().manual_seed(1), padding=2, flip=True)
    assert out.shape == x.shape and not torch.equal(out, x)
    torch.testing.assert_close(out[:, 1], 2 * out[:, 0])
    torch.testing.assert_close(out[:, 2], 3 * out[:, 0])

"""Cheap inference: the classifier as ONNX, run by ONNX Runtime, optionally int8.

Export and quantisation use `shopsense.compress.onnx_runtime`. The graph has one input
`images` (batch, c, s, s), 1 or 3 channels normalised with the model's saved per-channel
mean/std as `ImageClassifier.preprocess` does, a dynamic batch axis, and two outputs,
`logits` and the unit-length `embedding`.

int8: static quantisation (QDQ format, per-channel int8 weights, uint8 activations)
calibrated on real images, a few hundred are enough.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from shopsense.compress.checked import meets, write_report
from shopsense.compress.onnx_runtime import export_module, quantize_static_int8, session
from shopsense.data.images import ImageSet
from shopsense.images.data import normalise

INPUT, OUTPUTS = "images", ("logits", "embedding")
FP32_FILE, INT8_FILE = "model.onnx", "model.int8.onnx"


def export_onnx(model: Any, path: str | Path, *, opset: int | None = None) -> Path:
    """Write `model` (a fitted ImageClassifier) as an ONNX file with a dynamic batch."""
    example = model.preprocess(np.zeros((2, *model.input_format.shape), dtype=np.uint8))
    return export_module(
        model.export_module().float(),
        (example.contiguous(),),
        path,
        input_names=[INPUT],
        output_names=OUTPUTS,
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=65536)},),
        opset=opset,
    )


class OnnxClassifier:
    """The same predictions as an ImageClassifier, from an ONNX file (fp32 or int8)."""

    def __init__(self, path: str | Path, model: Any, *, threads: int = 1) -> None:
        self.path = Path(path)
        self.classes_ = list(model.classes_)
        self.mean_, self.std_ = model.mean_, model.std_
        self.input_format = model.input_format
        self.session = session(path, threads=threads)

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """(n, s, s[, c]) uint8 -> the normalised (n, c, s, s) float32 model input."""
        return normalise(np.asarray(images, dtype=np.uint8), self.mean_, self.std_)

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, embedding) of an already normalised (n, c, s, s) float32 batch."""
        logits, emb = self.session.run(list(OUTPUTS), {INPUT: x})
        return logits, emb

    def _all(self, images: ImageSet | np.ndarray, which: int, batch: int = 512) -> np.ndarray:
        arr = images.images if isinstance(images, ImageSet) else np.asarray(images)
        parts = [
            self.run(self.preprocess(arr[s : s + batch]))[which] for s in range(0, len(arr), batch)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)

    def logits(self, images: ImageSet | np.ndarray) -> np.ndarray:
        return self._all(images, 0)

    def predict_proba(self, images: ImageSet | np.ndarray) -> np.ndarray:
        z = self.logits(images)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, images: ImageSet | np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_, dtype=object)[self.logits(images).argmax(axis=1)]

    def embed(self, images: ImageSet | np.ndarray) -> np.ndarray:
        return self._all(images, 1)


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    model: Any,
    calibration: ImageSet | np.ndarray,
    *,
    batch: int = 64,
) -> Path:
    """Static int8 quantisation of an exported model, calibrated on `calibration` images
    (a few hundred real ones, ideally every category)."""
    arr = calibration.images if isinstance(calibration, ImageSet) else np.asarray(calibration)
    if len(arr) == 0:
        raise ValueError("int8 calibration needs at least one image")
    batches = [
        {INPUT: normalise(arr[s : s + batch], model.mean_, model.std_)}
        for s in range(0, len(arr), batch)
    ]
    return quantize_static_int8(fp32_path, out_path, batches)


#: per precision, what the exported network must reproduce of the torch one on real photos:
#: share of photos with the same top category, largest logit error relative to the photo's
#: largest |logit|, and the least cosine between the two embeddings of a photo
BARS = {
    "fp32": {
        "top1_agreement": (">=", 0.99),
        "max_relative_logit_error": ("<=", 1e-3),
        "min_embedding_cosine": (">=", 0.999),
    },
    "int8": {"top1_agreement": (">=", 0.97), "min_embedding_cosine": (">=", 0.9)},
}
#: photos the check (and the int8 calibration) reads at most
CHECK_IMAGES = 512


def export_checked(
    model: Any,
    folder: str | Path,
    *,
    int8: bool = True,
    images: ImageSet | np.ndarray | None = None,
) -> dict[str, Any]:
    """Write `model.onnx` (and a calibrated `model.int8.onnx`) into `folder`, check both
    against the torch network on real photos and write the report (`export.json`).

    `images`: the shop's own photos (a few hundred, ideally every category); default, the
    sample of training photos a freshly fitted classifier keeps.
    """
    arr = images.images if isinstance(images, ImageSet) else images
    if arr is None:
        arr = getattr(model, "calibration_images_", None)
    if arr is None or len(arr) == 0:
        raise ValueError(
            "checking an exported image model needs real photos: pass images=... (a few "
            "hundred of the shop's own), or export right after fit"
        )
    arr = np.asarray(arr)[:CHECK_IMAGES]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"fp32": export_onnx(model, folder / FP32_FILE)}
    if int8:
        paths["int8"] = quantize_int8(paths["fp32"], folder / INT8_FILE, model, arr)
    held, model.runtime_ = model.runtime_, None  # the reference is the torch network
    try:
        want_logits, want_embedding = model.logits(arr), model.embed(arr)
    finally:
        model.runtime_ = held
    report: dict[str, Any] = {"checked_images": len(arr), "precisions": {}}
    for precision, path in paths.items():
        runtime = OnnxClassifier(path, model, threads=torch.get_num_threads())
        logits, embedding = runtime.logits(arr), runtime.embed(arr)
        scale = np.maximum(np.abs(want_logits).max(axis=1), 1e-12)
        numbers = {
            "top1_agreement": round(
                float(np.mean(logits.argmax(axis=1) == want_logits.argmax(axis=1))), 4
            ),
            "max_relative_logit_error": float(
                f"{float((np.abs(logits - want_logits).max(axis=1) / scale).max()):.3g}"
            ),
            "min_embedding_cosine": round(
                float(np.min(np.sum(embedding * want_embedding, axis=1))), 5
            ),
        }
        report["precisions"][precision] = {
            "file": path.name,
            "size_mb": round(path.stat().st_size / 2**20, 3),
            **numbers,
            "passed": meets(numbers, BARS[precision]),
        }
    write_report(folder, report)
    return report

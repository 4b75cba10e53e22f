"""Cheap inference: the classifier as ONNX, run by ONNX Runtime, optionally int8.

Export uses `torch.onnx.export(..., dynamo=True)`, the torch.export-based exporter that is
the default since torch 2.9 (it needs the `onnxscript` package, installed with shopsense,
and runs offline); the older TorchScript exporter still works in torch 2.13 but warns that
it will be removed. The graph has one input `images` (batch, c, s, s), 1 or 3 channels
normalised with the model's saved per-channel mean/std as `ImageClassifier.preprocess`
does, a dynamic batch axis, and two outputs, `logits` and the unit-length `embedding`.

int8: `onnxruntime.quantization.quantize_static` (QDQ format, per-channel int8 weights,
uint8 activations) calibrated on real images, a few hundred are enough. torch's own
`torch.ao.quantization` is deprecated and not used.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shopsense.data.images import ImageSet
from shopsense.images.data import normalise
from shopsense.persist import atomic_write

INPUT, OUTPUTS = "images", ("logits", "embedding")
FP32_FILE, INT8_FILE = "model.onnx", "model.int8.onnx"


def export_onnx(model: Any, path: str | Path, *, opset: int | None = None) -> Path:
    """Write `model` (a fitted ImageClassifier) as an ONNX file with a dynamic batch."""
    module = model.export_module().float()
    example = model.preprocess(np.zeros((2, *model.input_format.shape), dtype=np.uint8))
    example = example.contiguous()
    batch = torch.export.Dim("batch", min=1, max=65536)
    path = Path(path)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "torchvision is not installed" notes are noise here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                input_names=[INPUT],
                output_names=list(OUTPUTS),
                dynamic_shapes=({0: batch},),
                opset_version=opset,
                verbose=False,
            )
            atomic_write(path, lambda tmp: program.save(tmp))
    finally:
        quiet.setLevel(level)
    return path


def session(path: str | Path, *, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session using `threads` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


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


class _Calibration:
    """ONNX Runtime's CalibrationDataReader over normalised batches of real images."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self._batches = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT: batch}


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
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    arr = calibration.images if isinstance(calibration, ImageSet) else np.asarray(calibration)
    if len(arr) == 0:
        raise ValueError("int8 calibration needs at least one image")
    batches = [
        normalise(arr[s : s + batch], model.mean_, model.std_) for s in range(0, len(arr), batch)
    ]
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        quant_pre_process(str(fp32_path), pre, skip_symbolic_shape=True)
        staged = os.path.join(tmp, "int8.onnx")
        quantize_static(
            pre,
            staged,
            _Calibration(batches),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
        )
        data = Path(staged).read_bytes()
    atomic_write(out_path, lambda t: Path(t).write_bytes(data))
    return out_path

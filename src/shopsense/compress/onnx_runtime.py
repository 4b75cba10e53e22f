"""A PyTorch network as an ONNX file, run by ONNX Runtime, optionally quantised to int8.

Why: at the batch sizes a service scores (one customer at a time) torch eager spends most of
a call in Python and operator dispatch; ONNX Runtime runs the same graph with fused kernels
and no Python between the operators, and int8 weights shrink the file four-fold.

Export uses `torch.onnx.export(..., dynamo=True)`, the torch.export-based exporter (it needs
the `onnxscript` package, installed with shopsense, and runs offline). int8 comes from ONNX
Runtime's own quantiser: dynamic (weights int8, activations quantised at run time — no
calibration, suits MatMul/recurrent networks) or static (calibrated on real inputs — suits
convolutions). torch's `torch.ao.quantization` is deprecated and not used.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shopsense.persist import atomic_write


def export_module(
    module: torch.nn.Module,
    example: tuple[torch.Tensor, ...],
    path: str | Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_shapes: Sequence[Mapping[int, Any]],
    opset: int | None = None,
) -> Path:
    """Write `module` (in eval mode) as an ONNX file, atomically.

    `dynamic_shapes` gives, per input, the axes that vary (`torch.export.Dim`s); the example
    tensors should use sizes > 1 on those axes so the exporter does not specialise them.
    """
    module = module.eval()
    path = Path(path)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "torchvision is not installed" notes are noise here
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                example,
                dynamo=True,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_shapes=tuple(dynamic_shapes),
                opset_version=opset,
                verbose=False,
            )
            atomic_write(path, lambda tmp: program.save(tmp))
    finally:
        quiet.setLevel(level)
    return path


def session(path: str | Path, *, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session using `threads` intra-op threads (0: the runtime's choice)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(int(threads), 0)
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def quantize_dynamic_int8(fp32_path: str | Path, out_path: str | Path) -> Path:
    """int8 weights, activations quantised per call: no calibration data needed."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as tmp:
        pre = _preprocessed(fp32_path, tmp)
        staged = os.path.join(tmp, "int8.onnx")
        quantize_dynamic(pre, staged, weight_type=QuantType.QInt8, per_channel=False)
        data = Path(staged).read_bytes()
    atomic_write(out_path, lambda t: Path(t).write_bytes(data))
    return out_path


class _Calibration:
    """ONNX Runtime's CalibrationDataReader over prepared input batches."""

    def __init__(self, batches: Iterable[Mapping[str, np.ndarray]]) -> None:
        self._batches = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else dict(batch)


def quantize_static_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    calibration: Iterable[Mapping[str, np.ndarray]],
) -> Path:
    """int8 weights and activations (QDQ, per-channel weights), with activation ranges
    calibrated on `calibration`: input batches as {input name: array}, a few hundred
    real examples."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as tmp:
        pre = _preprocessed(fp32_path, tmp)
        staged = os.path.join(tmp, "int8.onnx")
        quantize_static(
            pre,
            staged,
            _Calibration(calibration),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
        )
        data = Path(staged).read_bytes()
    atomic_write(out_path, lambda t: Path(t).write_bytes(data))
    return out_path


def _preprocessed(fp32_path: str | Path, folder: str) -> str:
    """The graph with shapes inferred and constants folded, as the quantiser wants it."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = os.path.join(folder, "pre.onnx")
    quant_pre_process(str(fp32_path), pre, skip_symbolic_shape=True)
    return pre


class LazySession:
    """An ONNX Runtime session opened on first use, with torch's thread count at that
    moment (the service limits torch's threads after loading, before scoring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._session: Any = None
        self._lock = threading.Lock()

    def run(self, outputs: Sequence[str], feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = session(self.path, threads=torch.get_num_threads())
        return self._session.run(list(outputs), dict(feeds))

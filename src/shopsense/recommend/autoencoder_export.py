"""Mult-VAE / Mult-DAE served from ONNX: the network after its first layer, exported and
checked against torch.

The first layer reads a sparse row (the customer's items, L2-normalised) through an
embedding bag; that is one sparse-times-dense product, which NumPy/SciPy do with the same
weights. What is exported is the rest (encoder, code, decoder: the output layer over every
item dominates the cost), from the first layer's sum to logits over all items. The check
is the one every exported recommender passes (`shopsense.compress.checked`): on up to
1,000 of the model's own users, fp32 must give identical top-10 lists for 99% and scores
within 0.1%; int8 must keep 9 of torch's top 10 on average.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch

from shopsense.compress.checked import (
    RANKING_BARS,
    chosen_file,
    meets,
    ranking_parity,
    write_report,
)
from shopsense.compress.onnx_runtime import LazySession, export_module, quantize_dynamic_int8

if TYPE_CHECKING:
    from shopsense.recommend.autoencoders import _MultAutoencoder

FILES = {"fp32": "scores.onnx", "int8": "scores.int8.onnx"}
INPUT, OUTPUT = "first_layer", "logits"


class _Tail(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net.tail(h)[0]


class TailRuntime:
    """Logits of csr rows: the first layer in SciPy, the rest in ONNX Runtime."""

    def __init__(self, path: str | Path, weight: np.ndarray, bias: np.ndarray) -> None:
        self.path = Path(path)
        self.weight = np.ascontiguousarray(weight, dtype=np.float32)  # (items, width)
        self.bias = np.asarray(bias, dtype=np.float32)
        self._session = LazySession(path)

    def first_layer(self, rows: sp.csr_matrix) -> np.ndarray:
        """L2-normalised rows times the first layer's weight, plus its bias."""
        rows = sp.csr_matrix(rows, dtype=np.float32)
        norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        scaled = sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ rows
        return np.asarray(scaled @ self.weight, dtype=np.float32) + self.bias

    def logits(self, rows: sp.csr_matrix) -> np.ndarray:
        if rows.shape[0] == 0:
            return np.zeros((0, self.weight.shape[0]), dtype=np.float32)
        return self._session.run([OUTPUT], {INPUT: self.first_layer(rows)})[0]


def _first_layer_arrays(model: _MultAutoencoder) -> tuple[np.ndarray, np.ndarray]:
    net = model.module_
    return (
        net.first.weight.detach().float().cpu().numpy(),
        net.first_bias.detach().float().cpu().numpy(),
    )


def export(
    model: _MultAutoencoder,
    folder: str | Path,
    *,
    int8: bool = True,
    check_users: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write `scores.onnx` (and `scores.int8.onnx`) into `folder` with a parity report
    (`export.json`); returns the report."""
    model.check_fitted()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    net = model.module_.eval()
    width = net.first.weight.shape[1]
    example = torch.zeros((2, width), dtype=torch.float32, device=model.device_)
    paths = {
        "fp32": export_module(
            _Tail(net).eval(),
            (example,),
            folder / FILES["fp32"],
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1 << 20)},),
        )
    }
    if int8:
        paths["int8"] = quantize_dynamic_int8(paths["fp32"], folder / FILES["int8"])
    rows = _check_rows(model, check_users, seed)
    with torch.no_grad():
        from shopsense.recommend.autoencoders import _bags

        want = net(*_bags(rows, model.device_)[:3])[0].float().cpu().numpy()
    weight, bias = _first_layer_arrays(model)
    report: dict[str, Any] = {"checked_users": rows.shape[0], "precisions": {}}
    for precision, path in paths.items():
        parity = ranking_parity(want, TailRuntime(path, weight, bias).logits(rows))
        parity["passed"] = meets(parity, RANKING_BARS[precision])
        report["precisions"][precision] = {
            "file": path.name,
            "size_mb": round(path.stat().st_size / 2**20, 3),
            **parity,
        }
    write_report(folder, report)
    return report


def runtime_for(model: _MultAutoencoder, folder: str | Path, precision: str) -> TailRuntime | None:
    """The runtime for `precision` ("fp32", "int8", "off"), or None for torch."""
    chosen = chosen_file(folder, precision)
    if chosen is None:
        return None
    return TailRuntime(chosen[0], *_first_layer_arrays(model))


def _check_rows(model: _MultAutoencoder, n: int, seed: int) -> sp.csr_matrix:
    """The item rows of up to n seeded users who have items."""
    seen = model.seen_.tocsr()
    users = np.flatnonzero(np.diff(seen.indptr) > 0)
    if len(users) > n:
        users = np.sort(np.random.default_rng(seed).choice(users, n, replace=False))
    return seen[users]

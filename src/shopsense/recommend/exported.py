"""Sequence recommenders served from ONNX: export, a parity check, and the runtime that
replaces torch when scoring.

What is exported is the network that turns an item sequence into a query vector
(`tokens`, `lengths` -> `query`); scoring the catalogue stays one matrix product against
the item vectors (or an ANN index), the same in both paths. The export is checked before
it is kept: on up to `check_users` of the model's own users the ONNX queries must give the
same top-10 lists as torch for at least 99% of them, with scores within 0.1% of the user's
largest score. int8 changes scores by design, so its bar is looser: on average at least 9 of
torch's top 10 items stay in its top 10 (its ranking quality is measured by
`benchmarks/compress.py`). A file that misses its bar is kept, flagged and never used.
`export.json` records the check, so a loaded model knows which files it may trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
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
    from shopsense.recommend.sequential import SequentialRecommender

FILES = {"fp32": "query.onnx", "int8": "query.int8.onnx"}
#: the narrow graph a recurrent model also exports: most histories are short
NARROW_WIDTH = 16
INPUTS, OUTPUT = ("tokens", "lengths"), "query"


class _QueryNetwork(torch.nn.Module):
    """(tokens, lengths) -> the query after each sequence, as the model computes it."""

    def __init__(self, model: SequentialRecommender) -> None:
        super().__init__()
        self.net = model.module_  # registers the weights with the exporter
        self._model = model

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._model._network_states(tokens, lengths)


class QueryRuntime:
    """Queries from exported files via ONNX Runtime; sessions open on first use with
    torch's current thread count (the service limits it before scoring).

    `files` maps a graph's fixed sequence width to its file, or holds one file under None
    for a graph whose width is dynamic. A batch runs on the narrowest graph at least as
    wide as its longest history, padded on the right.
    """

    def __init__(self, files: dict[int | None, Path], hidden: int) -> None:
        self.files = {w: Path(p) for w, p in files.items()}
        self.widths = sorted(w for w in self.files if w is not None)
        self.hidden = hidden
        self._sessions = {w: LazySession(p) for w, p in self.files.items()}

    @property
    def path(self) -> Path:
        """The file of the widest graph (the one that reads every history)."""
        return self.files[self.widths[-1] if self.widths else None]

    def queries(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        if len(tokens) == 0:
            return np.zeros((0, self.hidden), dtype=np.float32)
        width = None
        if self.widths:
            need = tokens.shape[1]
            width = next((w for w in self.widths if w >= need), self.widths[-1])
            if need != width:
                padded = np.zeros((len(tokens), width), dtype=np.int64)
                padded[:, : min(need, width)] = tokens[:, :width]
                tokens = padded
        feeds = {
            INPUTS[0]: np.ascontiguousarray(tokens, dtype=np.int64),
            INPUTS[1]: np.ascontiguousarray(lengths, dtype=np.int64),
        }
        return self._sessions[width].run([OUTPUT], feeds)[0]


def _widths(model: SequentialRecommender) -> list[int | None]:
    """The graphs to export: one of dynamic width, or for a recurrent network (which the
    exporter unrolls over time) a narrow one for the many short histories and one of the
    full `max_length`; padding on the right leaves the last real state unchanged (the
    recurrence runs forwards)."""
    full = max(model.config.max_length, 2)
    if not model.export_fixed_width:
        return [None]
    return sorted({min(NARROW_WIDTH, full), full})


def _file(precision: str, width: int | None, full: int | None) -> str:
    """query.onnx / query.int8.onnx for the full graph, query.w16[.int8].onnx narrower."""
    name = FILES[precision]
    return name if width == full else name.replace("query.", f"query.w{width}.", 1)


def export(
    model: SequentialRecommender,
    folder: str | Path,
    *,
    int8: bool = True,
    check_users: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write `query.onnx` (and `query.int8.onnx`; a recurrent model also narrower graphs)
    into `folder` with a parity report.

    Returns the report also written to `export.json`: per precision its files, size, the
    share of checked users whose top-10 equals torch's, the largest relative score error
    and whether it passed.
    """
    model.check_fitted()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    widths = _widths(model)
    full = widths[-1]
    network = _QueryNetwork(model).eval()
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    dynamic = torch.export.Dim("width", min=1, max=max(cfg.max_length, 2))
    files: dict[str, dict[int | None, Path]] = {"fp32": {}, "int8": {}}
    for width in widths:
        w = width or max(2, min(cfg.max_length, 8))
        example = (
            torch.ones((2, w), dtype=torch.int64, device=model.device_),
            torch.tensor([w, w - 1], dtype=torch.int64, device=model.device_),
        )
        fp32 = export_module(
            network,
            example,
            folder / _file("fp32", width, full),
            input_names=INPUTS,
            output_names=[OUTPUT],
            dynamic_shapes=({0: batch} if width else {0: batch, 1: dynamic}, {0: batch}),
        )
        files["fp32"][width] = fp32
        if int8:
            files["int8"][width] = quantize_dynamic_int8(fp32, folder / _file("int8", width, full))
    tokens, lengths = _check_sequences(model, check_users, seed)
    report: dict[str, Any] = {"checked_users": len(lengths), "precisions": {}}
    for precision, paths in files.items():
        if not paths:
            continue
        parity = _parity(model, QueryRuntime(paths, cfg.hidden), tokens, lengths)
        parity["passed"] = meets(parity, RANKING_BARS[precision])
        report["precisions"][precision] = {
            "file": paths[full].name,
            "widths": {str(w): p.name for w, p in paths.items() if w is not None},
            "size_mb": round(sum(p.stat().st_size for p in paths.values()) / 2**20, 3),
            **parity,
        }
    write_report(folder, report)
    return report


def runtime_for(folder: str | Path, hidden: int, precision: str) -> QueryRuntime | None:
    """The runtime to score with for `precision` ("fp32", "int8", "off"), or None for torch
    (see `shopsense.compress.checked.chosen_file`)."""
    chosen = chosen_file(folder, precision)
    if chosen is None:
        return None
    path, report = chosen
    check = next(c for c in report["precisions"].values() if c["file"] == path.name)
    widths = check.get("widths") or {}
    if not widths:
        return QueryRuntime({None: path}, hidden)
    files = {int(w): Path(folder) / name for w, name in widths.items()}
    if not all(f.is_file() for f in files.values()):
        return None
    return QueryRuntime(files, hidden)


def _check_sequences(
    model: SequentialRecommender, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The histories of up to n seeded users who have one, as right-padded tokens."""
    from shopsense.recommend.sequential import _windows

    indptr = model.history_indptr_
    users = np.flatnonzero(np.diff(indptr) > 0)
    if len(users) > n:
        users = np.sort(np.random.default_rng(seed).choice(users, n, replace=False))
    return _windows(model.history_items_, indptr[users], indptr[users + 1], model.config.max_length)


def _parity(
    model: SequentialRecommender, runtime: QueryRuntime, tokens: np.ndarray, lengths: np.ndarray
) -> dict[str, Any]:
    """Top-10 agreement and score error of `runtime` against the torch network."""
    items = model._output_weights().detach().float().cpu().numpy()
    model.module_.eval()
    with torch.no_grad():
        reference = model._network_states(torch.from_numpy(tokens), torch.from_numpy(lengths))
    want = reference.float().cpu().numpy() @ items.T
    # in batches of similar length, trimmed to their longest history, as scoring calls it:
    # so every exported width (a recurrent model's narrow graph too) is checked
    queries = np.empty((len(lengths), runtime.hidden), dtype=np.float32)
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), 128):
        rows = order[start : start + 128]
        width = max(int(lengths[rows].max()), 1)
        queries[rows] = runtime.queries(tokens[rows, :width], lengths[rows])
    got = queries @ items.T
    return ranking_parity(want, got)

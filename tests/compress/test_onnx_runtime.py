"""The shared ONNX helpers: export keeps the batch dynamic, the runtime reproduces torch, int8
quantisation shrinks the weights and stays close, and a failed export leaves no file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shopsense.compress.onnx_runtime import (
    export_module,
    quantize_dynamic_int8,
    quantize_static_int8,
    session,
)


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 32)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    net = _Net().eval()
    path = tmp_path_factory.mktemp("onnx") / "net.onnx"
    batch = torch.export.Dim("batch", min=1, max=4096)
    export_module(
        net,
        (torch.randn(2, 64),),
        path,
        input_names=["x"],
        output_names=["y"],
        dynamic_shapes=({0: batch},),
    )
    return net, path


def _run(path, x: np.ndarray) -> np.ndarray:
    return session(path, threads=1).run(["y"], {"x": x})[0]


def test_the_runtime_reproduces_torch_at_any_batch(exported):
    net, path = exported
    for n in (1, 7, 300):
        x = np.random.default_rng(n).standard_normal((n, 64)).astype(np.float32)
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(_run(path, x), want, rtol=1e-4, atol=1e-5)


def test_dynamic_int8_is_smaller_and_close(exported, tmp_path):
    net, path = exported
    int8 = quantize_dynamic_int8(path, tmp_path / "net.int8.onnx")
    assert int8.stat().st_size < 0.5 * path.stat().st_size
    x = np.random.default_rng(1).standard_normal((50, 64)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    got = _run(int8, x)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    assert not np.array_equal(got, want)  # it really is the quantised graph


def test_static_int8_calibrates_on_given_batches(exported, tmp_path):
    net, path = exported
    rng = np.random.default_rng(2)
    batches = [{"x": rng.standard_normal((32, 64)).astype(np.float32)} for _ in range(4)]
    int8 = quantize_static_int8(path, tmp_path / "net.static.onnx", batches)
    x = rng.standard_normal((20, 64)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    assert np.abs(_run(int8, x) - want).max() < 0.1 * np.abs(want).max()


def test_a_failed_export_leaves_no_file(exported, tmp_path, monkeypatch):
    """A save that dies half-way (disk full, killed) leaves neither a partial file nor a
    temporary one: a reader never loads half a graph."""

    class HalfWritten:
        def save(self, path: str) -> None:
            with open(path, "wb") as f:
                f.write(b"half a graph")
            raise OSError("disk full")

    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: HalfWritten())
    net, _ = exported
    with pytest.raises(OSError, match="disk full"):
        export_module(
            net,
            (torch.randn(2, 64),),
            tmp_path / "net.onnx",
            input_names=["x"],
            output_names=["y"],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},),
        )
    assert list(tmp_path.iterdir()) == []

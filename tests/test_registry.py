import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from shopsense.recommend.ease import EASE
from shopsense.recommend.neighbors import ItemKNN
from shopsense.registry import Registry


def test_versions_are_numbered_and_load_back_identically(ml_split, tmp_path):
    registry = Registry(tmp_path / "models")
    model = ItemKNN(neighbors=20).fit(ml_split.train)
    v1 = registry.save(model, metrics={"ndcg@10": 0.1}, data={"events": 5})
    v2 = registry.save(model)
    assert (v1.version, v2.version) == ("v0001", "v0002")
    assert v1.path == tmp_path / "models" / "recommend" / "itemknn" / "v0001"
    meta = json.loads((v1.path / "meta.json").read_text())
    assert meta["metrics"] == {"ndcg@10": 0.1} and meta["params"]["neighbors"] == 20
    loaded = registry.load("recommend", "itemknn")  # latest
    users = np.arange(20)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    assert [v.version for v in registry.versions("recommend", "itemknn")] == ["v0001", "v0002"]


def test_no_pickle_on_disk(ml_split, tmp_path):
    version = Registry(tmp_path).save(EASE(l2=500.0).fit(ml_split.train))
    names = sorted(p.name for p in version.path.iterdir())
    assert names == ["arrays.npz", "meta.json", "model.json"]
    with np.load(version.path / "arrays.npz", allow_pickle=False) as npz:
        assert "state.weights" in npz.files


def test_clear_errors(tmp_path, ml_split):
    registry = Registry(tmp_path)
    with pytest.raises(FileNotFoundError, match="train one first"):
        registry.get("recommend", "ease")
    registry.save(ItemKNN().fit(ml_split.train))
    with pytest.raises(FileNotFoundError, match="itemknn"):
        registry.get("recommend", "ease")
    with pytest.raises(FileNotFoundError, match="v0001"):
        registry.get("recommend", "itemknn", "v0009")


def test_half_written_versions_are_invisible(tmp_path, ml_split):
    registry = Registry(tmp_path)
    registry.save(ItemKNN().fit(ml_split.train))
    # A crash mid-save leaves only a hidden temporary folder behind.
    (tmp_path / "recommend" / "itemknn" / ".incoming-abc").mkdir()
    (tmp_path / "recommend" / "itemknn" / "v0002").mkdir()  # no model.json: incomplete
    assert [v.version for v in registry.versions("recommend", "itemknn")] == ["v0001"]


def test_a_behaviour_model_is_stored_and_loaded_like_a_recommender(tmp_path):
    from shopsense.behavior.segments import CustomerSegmenter
    from shopsense.data.customers import CustomerHistory
    from shopsense.data.sources import load_sample

    history = CustomerHistory.from_order_lines(load_sample().order_lines_view())
    model = CustomerSegmenter(method="rfm").fit(history)
    registry = Registry(tmp_path)
    version = registry.save(model, task="behavior")
    assert version.name == "segments" and version.version == "v0001"
    assert [v.version for v in registry.versions("behavior", "segments")] == ["v0001"]
    loaded = registry.load("behavior", "segments")
    np.testing.assert_array_equal(loaded.predict(history), model.predict(history))


def test_importing_the_registry_loads_no_torch():
    import subprocess
    import sys

    code = "import sys, shopsense.registry; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_every_kind_resolves_to_the_class_its_module_registers():
    from shopsense.estimator import registered
    from shopsense.recommend import MODELS
    from shopsense.registry import KINDS, model_class

    for kind in KINDS:
        cls = model_class(kind)
        assert cls.kind == kind and registered(kind) is cls
    assert all(model_class(name) is cls for name, cls in MODELS.items())


def test_a_kind_whose_module_registers_nothing_is_a_clear_error(monkeypatch):
    from shopsense.registry import KINDS, model_class

    monkeypatch.setitem(KINDS, "ghost", "shopsense.persist")
    with pytest.raises(ValueError, match=r"ghost.*registers no class"):
        model_class("ghost")
    with pytest.raises(ValueError, match="unknown model kind 'nothing'"):
        model_class("nothing")


@pytest.fixture()
def segmenter():
    """A fitted RFM segmentation: a cheap non-recommender to save versions of."""
    from shopsense.behavior.segments import CustomerSegmenter
    from shopsense.data.customers import CustomerHistory
    from shopsense.data.sources import load_sample

    history = CustomerHistory.from_order_lines(load_sample().order_lines_view())
    return CustomerSegmenter(method="rfm").fit(history)


def test_a_version_saved_later_serves_only_once_activated(tmp_path, segmenter):
    registry = Registry(tmp_path)
    registry.save(segmenter, task="behavior")
    assert registry.serving("behavior", "segments").version == "v0001"
    assert registry.activated("behavior", "segments") == "v0001"  # recorded when served
    registry.save(segmenter, task="behavior")  # trained while serving
    assert registry.serving("behavior", "segments").version == "v0001"
    restarted = Registry(tmp_path)
    assert restarted.serving("behavior", "segments").version == "v0001"
    assert restarted.active("behavior", "segments").version == "v0001"
    registry.activate("behavior", "segments", "v0002")
    assert registry.serving("behavior", "segments").version == "v0002"
    assert registry.rollback("behavior", "segments").version == "v0001"
    assert registry.serving("behavior", "segments").version == "v0001"


def test_auto_activate_serves_the_newest_once_per_registry(tmp_path, segmenter):
    Registry(tmp_path).save(segmenter, task="behavior")
    Registry(tmp_path).serving("behavior", "segments")  # v0001 recorded
    Registry(tmp_path).save(segmenter, task="behavior")
    registry = Registry(tmp_path)  # a service started with auto_activate
    assert registry.serving("behavior", "segments", auto_activate=True).version == "v0002"
    assert registry.activated("behavior", "segments") == "v0002"
    registry.save(segmenter, task="behavior")  # trained while it runs: waits for a restart
    assert registry.serving("behavior", "segments", auto_activate=True).version == "v0002"
    assert registry.would_serve("behavior", "segments", auto_activate=True).version == "v0002"
    assert Registry(tmp_path).would_serve("behavior", "segments").version == "v0002"
    assert Registry(tmp_path).would_serve("behavior", "segments", auto_activate=True).version == (
        "v0003"
    )


def _read_only(folder: Path) -> None:
    """The folder cannot be written, even by root (immutable), else skip."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make {folder} read-only here: {done.stderr.decode().strip()}")


def _writable(folder: Path) -> None:
    if os.geteuid() != 0:
        folder.chmod(0o755)
    else:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)


def test_a_read_only_registry_still_serves_and_keeps_what_it_served(tmp_path, segmenter, caplog):
    registry = Registry(tmp_path)
    registry.save(segmenter, task="behavior")
    folder = tmp_path / "behavior" / "segments"
    _read_only(folder)
    try:
        with caplog.at_level("WARNING", logger="shopsense.registry"):
            assert registry.serving("behavior", "segments").version == "v0001"
        assert "could not record behavior/segments/v0001 as active" in caplog.text
        assert registry.activated("behavior", "segments") is None
        _writable(folder)
        registry.save(segmenter, task="behavior")  # another process trains a version
        _read_only(folder)
        caplog.clear()
        assert registry.serving("behavior", "segments").version == "v0001"
        assert not caplog.text  # warned once, not at every request
    finally:
        _writable(folder)


def test_a_failed_export_keeps_the_trained_model(tmp_path, monkeypatch):
    """An exporter failure must not lose the model that took minutes to train: the version
    is saved without ONNX files (it scores in torch) and says why in its metadata."""
    from shopsense.data.sources import load_sample
    from shopsense.data.views import Interactions
    from shopsense.recommend.gru4rec import GRU4Rec

    events = Interactions.from_frame(load_sample().tables["events"], keep="first")
    model = GRU4Rec(epochs=1, hidden=8, threads=1).fit(events)

    def broken(*_args, **_kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(GRU4Rec, "export", broken)
    version = Registry(tmp_path).save(model, export=True)
    assert version.meta["export"]["error"] == "RuntimeError: exporter crashed"
    assert not list(version.path.glob("*.onnx"))
    loaded = Registry(tmp_path).load("recommend", "gru4rec", onnx="fp32")
    assert loaded.runtime_ is None
    np.testing.assert_allclose(loaded.score(np.arange(5)), model.score(np.arange(5)), rtol=1e-5)

import json

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

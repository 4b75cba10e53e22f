"""Mult-VAE / Mult-DAE exported to ONNX score like their torch network on the bundled UCI
sample (ships with shopsense): the same top-10 lists for at least 99% of users."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.data.sources import load_sample
from shopsense.data.views import Interactions
from shopsense.eval.splits import leave_last_out
from shopsense.recommend.autoencoder_export import FILES
from shopsense.recommend.autoencoders import MultDAE, MultVAE

SMALL = {"epochs": 3, "layers": (64, 16), "threads": 1, "random_state": 0}


@pytest.fixture(scope="module")
def split():
    return leave_last_out(Interactions.from_frame(load_sample().tables["events"], keep="first"))


@pytest.fixture(scope="module", params=[MultVAE, MultDAE], ids=["multvae", "multdae"])
def saved(request, split, tmp_path_factory):
    model = request.param(**SMALL).fit(split.train)
    folder = model.save(tmp_path_factory.mktemp(model.name))
    return model, folder, model.export(folder)


def test_the_export_passes_its_check_and_int8_is_smaller(saved):
    _, folder, report = saved
    fp32, int8 = report["precisions"]["fp32"], report["precisions"]["int8"]
    assert fp32["passed"] and fp32["top10_agreement"] >= 0.99 and int8["passed"]
    assert (folder / FILES["fp32"]).is_file() and int8["size_mb"] < fp32["size_mb"]


def test_a_loaded_model_recommends_through_onnx_like_torch(saved, split, monkeypatch):
    model, folder, _ = saved
    monkeypatch.setenv("SHOPSENSE_ONNX", "fp32")
    served = type(model).load(folder)
    assert served.runtime_ is not None and served.runtime_.path.name == FILES["fp32"]
    users = list(split.test.user_ids[split.test.active_users])
    want, _ = model.recommend(users, k=10)
    got, _ = served.recommend(users, k=10)
    assert np.mean(np.all(np.asarray(want) == np.asarray(got), axis=1)) >= 0.99
    histories = [np.arange(4), np.array([7, 3])]
    np.testing.assert_allclose(
        served.score_histories(histories), model.score_histories(histories), rtol=1e-4, atol=1e-4
    )
    assert served.use_runtime(folder, "int8") and served.runtime_.path.name == FILES["int8"]


def test_refitting_drops_the_exported_network(saved, split):
    model, folder, _ = saved
    copy = type(model).load(folder)
    assert copy.runtime_ is not None
    copy.fit(split.train)
    assert copy.runtime_ is None

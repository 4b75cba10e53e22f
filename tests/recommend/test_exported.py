"""Sequence recommenders exported to ONNX score like their torch network: on the bundled
UCI sample (ships with shopsense), same top-10 lists for at least 99% of users."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shopsense.compress.checked import REPORT_FILE
from shopsense.data.sources import load_sample
from shopsense.data.views import Interactions
from shopsense.eval.splits import leave_last_out
from shopsense.recommend.exported import FILES
from shopsense.recommend.gru4rec import GRU4Rec
from shopsense.recommend.sasrec import SASRec

SMALL = {"epochs": 2, "hidden": 24, "threads": 1, "random_state": 0}


@pytest.fixture(scope="module")
def split():
    events = Interactions.from_frame(load_sample().tables["events"], keep="first")
    return leave_last_out(events)


@pytest.fixture(scope="module", params=[SASRec, GRU4Rec], ids=["sasrec", "gru4rec"])
def saved(request, split, tmp_path_factory):
    """A small model fitted on the sample, saved and exported: (model, folder)."""
    model = request.param(**SMALL).fit(split.train)
    folder = model.save(tmp_path_factory.mktemp(model.name))
    model.export(folder)
    return model, folder


def _top10(model, split) -> np.ndarray:
    users = split.test.user_ids[split.test.active_users]
    ids, _ = model.recommend(list(users), k=10)
    return np.asarray(ids)


def test_export_passes_its_own_parity_check(saved):
    _, folder = saved
    report = json.loads((folder / REPORT_FILE).read_text())
    fp32 = report["precisions"]["fp32"]
    assert fp32["passed"] and fp32["top10_agreement"] >= 0.99
    assert fp32["max_relative_score_error"] <= 1e-3
    assert (folder / FILES["fp32"]).is_file() and (folder / FILES["int8"]).is_file()
    # int8 stores weights in a quarter of the bytes; the embeddings dominate these models
    assert report["precisions"]["int8"]["size_mb"] < fp32["size_mb"]


def test_loaded_model_scores_with_onnx_and_agrees_with_torch(saved, split, monkeypatch):
    model, folder = saved
    monkeypatch.setenv("SHOPSENSE_ONNX", "fp32")
    served = type(model).load(folder)
    assert served.runtime_ is not None
    monkeypatch.setenv("SHOPSENSE_ONNX", "off")
    plain = type(model).load(folder)
    assert plain.runtime_ is None
    a, b = _top10(served, split), _top10(plain, split)
    assert np.mean(np.all(a == b, axis=1)) >= 0.99
    history = list(split.train.item_ids[split.train.sequence(int(split.train.active_users[3]))])
    ids_onnx, scores_onnx = served.recommend_session(history, k=10)
    ids_torch, scores_torch = plain.recommend_session(history, k=10)
    np.testing.assert_array_equal(ids_onnx, ids_torch)
    np.testing.assert_allclose(scores_onnx, scores_torch, rtol=1e-4, atol=1e-5)


def test_int8_keeps_most_of_the_top_10(saved, split, monkeypatch):
    model, folder = saved
    monkeypatch.setenv("SHOPSENSE_ONNX", "int8")
    served = type(model).load(folder)
    assert served.runtime_.path.name == FILES["int8"]
    pairs = zip(_top10(served, split), _top10(model, split), strict=True)
    assert np.mean([len(set(x) & set(y)) / 10 for x, y in pairs]) >= 0.9


def test_a_file_that_failed_its_check_is_never_used(saved, tmp_path):
    model, folder = saved
    copy = model.save(tmp_path / "copy")
    model.export(copy)
    model = type(model).load(folder)  # leave the shared fixture scoring in torch
    report = json.loads((copy / REPORT_FILE).read_text())
    report["precisions"]["int8"]["passed"] = False
    (copy / REPORT_FILE).write_text(json.dumps(report))
    assert model.use_runtime(copy, "int8") and model.runtime_.path.name == FILES["fp32"]
    report["precisions"]["fp32"]["passed"] = False
    (copy / REPORT_FILE).write_text(json.dumps(report))
    assert not model.use_runtime(copy, "fp32") and model.runtime_ is None
    assert not model.use_runtime(tmp_path, "fp32")  # nothing exported there


def test_refitting_drops_the_exported_network(saved, split):
    model, folder = saved
    copy = type(model).load(folder)
    assert copy.runtime_ is not None
    copy.fit(split.train)
    assert copy.runtime_ is None  # the file holds the old weights


def test_a_batch_of_no_users_and_long_histories_work(saved):
    model, folder = saved
    served = type(model).load(folder)
    assert served.history_queries([]).shape == (0, model.config.hidden)
    long = np.arange(model.config.max_length * 2) % model.n_items
    np.testing.assert_allclose(
        served.history_queries([long]), model.history_queries([long]), rtol=1e-4, atol=1e-5
    )


def test_a_recurrent_model_exports_a_narrow_graph_for_short_histories(split, tmp_path):
    model = GRU4Rec(**SMALL).fit(split.train)
    folder = model.save(tmp_path / "gru")
    report = model.export(folder)
    assert report["precisions"]["fp32"]["widths"] == {"16": "query.w16.onnx", "50": "query.onnx"}
    served = GRU4Rec.load(folder)
    assert served.runtime_.widths == [16, 50]
    short = [np.arange(5), np.arange(3)]
    np.testing.assert_allclose(
        served.history_queries(short), model.history_queries(short), rtol=1e-4, atol=1e-5
    )
    opened = {w for w, lazy in served.runtime_._sessions.items() if lazy._session is not None}
    assert opened == {16}  # the long graph was not needed

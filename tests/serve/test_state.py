"""The service's shared state: durable events, activation that keeps serving on failure,
and a clear answer when another process holds the store."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from shopsense import workflows
from shopsense.data.store import Store
from shopsense.serve.state import ANN_FOLDER, NotReady, ServiceState, StoreBusy


def test_events_are_stored_then_applied(fresh_shop):
    state = ServiceState(fresh_shop)
    served = state.model()
    with Store(fresh_shop.store_path, read_only=True) as store:
        before = store.count("events")
    frame = pd.DataFrame(
        {"user_id": ["x1", "x1"], "item_id": ["22423", "22699"], "event_type": ["view", "cart"],
         "value": [None, None], "timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"]),
         "session_id": [None, None]}
    )  # fmt: skip
    written = state.write_events(frame, source="test")
    assert written.report.rows_inserted == 2 and written.users == 1
    with Store(fresh_shop.store_path, read_only=True) as store:
        assert store.count("events") == before + 2
    assert list(served.model.item_ids_[served.history("x1")]) == ["22423", "22699"]


def test_failed_activation_keeps_the_old_version(fresh_shop):
    state = ServiceState(fresh_shop)
    old = state.model("ease")
    with pytest.raises(FileNotFoundError):
        state.activate("ease", "v0042")
    assert state.model("ease") is old


def test_no_store_is_not_ready(fresh_shop, tmp_path):
    state = ServiceState(fresh_shop.model_copy(update={"store_path": tmp_path / "none.duckdb"}))
    ready, why = state.ready()
    assert not ready and "no store" in why
    with pytest.raises(NotReady):
        state.catalogue()


def test_a_store_locked_elsewhere_is_busy(fresh_shop):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(fresh_shop.store_path)!r}); "
         "print('locked', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        state = ServiceState(fresh_shop)
        start = time.monotonic()
        with pytest.raises(StoreBusy, match="locked by another process"):
            state._open_store(wait_s=0.3)
        assert time.monotonic() - start < 5
    finally:
        holder.kill()
        holder.wait()


def test_ann_retrieval_is_built_once_kept_and_agrees_with_exact(fresh_shop):
    workflows.train(fresh_shop, "als", {"factors": 16, "iterations": 5})
    als = fresh_shop.model_copy(update={"default_model": "als"})
    exact = ServiceState(als.model_copy(update={"ann": "off"})).model()
    state = ServiceState(als.model_copy(update={"ann": "on", "ann_ef_search": 64}))
    served = state.model()
    assert exact.retriever is None and served.retriever is not None
    index_folder = served.version.path / ANN_FOLDER
    assert (index_folder / "index.json").is_file()
    users = [str(u) for u in served.model.user_ids_[:200]] + ["nobody"]
    approx, truth = served.recommend(users, 10), exact.recommend(users, 10)
    overlap = np.mean(
        [len(set(a.items) & set(t.items)) / 10 for a, t in zip(approx, truth, strict=True)]
    )
    assert served.retriever.args[0].ef_search == 64
    assert overlap > 0.9  # 0.935 measured: HNSW finds most of the true top-10
    for a in approx[:-1]:
        assert (a.items >= 0).all() and not set(a.items) & set(a.history)
    assert approx[-1].source == "cold_start"
    # a restart reads the stored index instead of building it again
    stamp = (index_folder / "index.json").stat().st_mtime_ns
    again = ServiceState(als.model_copy(update={"ann": "on"})).model()
    assert (index_folder / "index.json").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.recommend(users, 10)[0].items, approx[0].items)

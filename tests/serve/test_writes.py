"""Event batches of concurrent requests share one store connection (a group commit by one
writer thread): each keeps its own report, a bad batch fails alone, and beyond the bound a
request is refused at once (HTTP 429) instead of queueing."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shopsense.data.ingest import IngestError
from shopsense.data.store import Store
from shopsense.serve.app import create_app
from shopsense.serve.writes import Batch, GroupCommit, WritesBacklogged
from tests.serve.conftest import KEY

NOW = datetime(2026, 5, 1, 12, 0)


def _batch(user: str, n: int = 2, item: str | None = "i1") -> Batch:
    frame = pd.DataFrame(
        {
            "user_id": [user] * n,
            "item_id": [item] * n,
            "event_type": ["view"] * n,
            "value": [None] * n,
            "timestamp": pd.to_datetime([f"2026-04-0{d + 1}" for d in range(n)]),
            "session_id": [None] * n,
        }
    )
    return Batch(frame, f"request of {user}", None, "", NOW)


def _write(store: Store, batches: list[Batch]):  # type: ignore[no-untyped-def]
    frames = [b.frame for b in batches]
    reports = store.write_frames("events", frames, sources=[b.source for b in batches])
    return [r if isinstance(r, Exception) else (r, b.frame, False)
            for r, b in zip(reports, batches, strict=True)]  # fmt: skip


def _submit_all(commit: GroupCommit, batches: list[Batch]) -> dict[str, object]:
    """Each batch submitted from its own thread, as concurrent requests do."""
    out: dict[str, object] = {}

    def run(batch: Batch) -> None:
        try:
            out[batch.source] = commit.submit(batch).result(30)[0]
        except Exception as e:
            out[batch.source] = e

    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    return out, threads  # type: ignore[return-value]


def _wait_pending(commit: GroupCommit, n: int) -> None:
    deadline = time.monotonic() + 10
    while commit.pending < n:
        assert time.monotonic() < deadline, f"{commit.pending} of {n} batches queued"
        time.sleep(0.005)


def test_waiting_batches_are_stored_through_one_connection(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    Store(path).close()
    lock = threading.Lock()
    commit = GroupCommit(lambda: Store(path), _write, lock, limit=16)
    batches = [_batch(f"u{i}", n=i + 1) for i in range(6)]
    with lock:  # a read holds the store: the requests queue behind it
        out, threads = _submit_all(commit, batches)
        _wait_pending(commit, len(batches))
    for t in threads:
        t.join(10)
    commit.close()
    assert commit.groups == 1 and commit.batches == 6
    assert [out[b.source].rows_inserted for b in batches] == [1, 2, 3, 4, 5, 6]
    with Store(path, read_only=True) as store:
        assert store.count("events") == 21


def test_a_bad_batch_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    lock = threading.Lock()
    commit = GroupCommit(lambda: Store(path), _write, lock, limit=16)
    good, bad, other = _batch("u1"), _batch("u2", item=None), _batch("u3")
    with lock:
        out, threads = _submit_all(commit, [good, bad, other])
        _wait_pending(commit, 3)
    for t in threads:
        t.join(10)
    assert isinstance(out[bad.source], IngestError)
    assert "item_id" in str(out[bad.source])
    assert out[good.source].rows_inserted == 2 and out[other.source].rows_inserted == 2


def test_a_store_that_cannot_open_fails_every_waiting_batch(tmp_path: Path) -> None:
    def cannot_open() -> Store:
        raise OSError("disk gone")

    lock = threading.Lock()
    commit = GroupCommit(cannot_open, _write, lock, limit=16)
    with lock:
        out, threads = _submit_all(commit, [_batch("u1"), _batch("u2")])
        _wait_pending(commit, 2)
    for t in threads:
        t.join(10)
    assert all(isinstance(e, OSError) for e in out.values()) and len(out) == 2
    assert commit.pending == 0


def test_beyond_the_bound_a_batch_is_refused_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    lock = threading.Lock()
    commit = GroupCommit(lambda: Store(path), _write, lock, limit=2)
    with lock:
        out, threads = _submit_all(commit, [_batch("u1"), _batch("u2")])
        _wait_pending(commit, 2)
        with pytest.raises(WritesBacklogged, match=r"2 batches.*MAX_PENDING_WRITES"):
            commit.submit(_batch("u3"))
    for t in threads:
        t.join(10)
    assert sorted(r.rows_inserted for r in out.values()) == [2, 2]


def test_the_service_answers_429_with_retry_after_when_writes_back_up(fresh_shop) -> None:
    settings = fresh_shop.model_copy(update={"max_pending_writes": 1})
    app = create_app(settings)
    event = {"events": [{"user_id": "walk-in", "item_id": "22423", "event_type": "view"}]}
    headers = {"X-API-Key": KEY}
    with TestClient(app) as client:
        state = app.state.service
        answers: list[int] = []
        with state._store_lock:  # a long read holds the store
            waiting = threading.Thread(
                target=lambda: answers.append(
                    client.post("/v1/events", json=event, headers=headers).status_code
                )
            )
            waiting.start()
            _wait_pending(state._writes, 1)
            refused = client.post("/v1/events", json=event, headers=headers)
        waiting.join(30)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "MAX_PENDING_WRITES" in refused.json()["detail"]
    assert answers == [201]


def test_closing_stores_what_waits_then_refuses_more(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    lock = threading.Lock()
    commit = GroupCommit(lambda: Store(path), _write, lock, limit=16)
    with lock:
        waiting = [commit.submit(_batch(f"u{i}")) for i in range(3)]
        closer = threading.Thread(target=commit.close)
        closer.start()
    closer.join(30)
    assert [f.result(0)[0].rows_inserted for f in waiting] == [2, 2, 2]
    with pytest.raises(RuntimeError, match="stopping"):
        commit.submit(_batch("late"))


def test_a_retry_in_the_same_group_as_its_first_try_stores_nothing_twice(fresh_shop) -> None:
    from shopsense.serve.state import ServiceState

    state = ServiceState(fresh_shop)
    events = pd.DataFrame(
        {"user_id": ["walk-in"] * 2, "item_id": ["22423", "22699"], "event_type": ["view"] * 2,
         "value": [None] * 2, "timestamp": pd.to_datetime([None, None]),
         "session_id": [None] * 2}
    )  # fmt: skip
    with state._store_lock:  # both tries wait for the same connection
        tries = [state.submit_events(events, "api", key="batch-7", body_sha256="b7")
                 for _ in range(2)]  # fmt: skip
        someone = events.assign(user_id="someone-else")
        other = state.submit_events(someone, "api", key="batch-8", body_sha256="b8")
    (first, _, replay1), (second, _, replay2) = (t.result(30) for t in tries)
    assert (first.rows_inserted, replay1) == (2, False)
    assert (second.rows_inserted, second.rows_skipped_existing, replay2) == (0, 2, True)
    assert other.result(30)[0].rows_inserted == 2
    assert state._writes.groups == 1
    state.stop()

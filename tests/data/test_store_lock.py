"""One writer per store: a read-write store holds the store's write lock (naming its pid)
while open; another process that wants to write is refused, readers are not; and each
write that changes a table bumps that table's data version, and only that one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from shopsense.data.store import Store, StoreLocked, WriteLock, lock_path


@contextmanager
def writer_elsewhere(path: Path) -> Iterator[subprocess.Popen]:
    """Another process holding the store's write lock (as a running service does)."""
    code = (
        "import sys, time; from shopsense.data.store import WriteLock; "
        f"WriteLock({str(path)!r}, 'shopsense serve').acquire(); "
        "print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def _try_write(path: Path) -> str:
    """Open the store for writing in a fresh process: 'ok' or the refusal."""
    code = (
        "from shopsense.data.store import Store, StoreLocked\n"
        f"try:\n    Store({str(path)!r}).close(); print('ok')\n"
        "except StoreLocked as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _events(n: int, day: str = "2026-01-01") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "item_id": ["i1"] * n,
            "event_type": ["view"] * n,
            "timestamp": pd.to_datetime([day] * n),
        }
    )


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    Store(path).close()
    with writer_elsewhere(path) as holder:
        with pytest.raises(StoreLocked) as refused:
            Store(path)
        message = str(refused.value)
        assert f"pid {holder.pid}" in message and "shopsense serve" in message
        assert str(lock_path(path)) in message and "read-only" in message
        with Store(path, read_only=True) as reader:  # readers share the store
            assert reader.count("events") == 0
    assert _try_write(path) == "ok"  # the lock went with its process


def test_the_lock_is_shared_in_one_process_and_released_by_the_last(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    outer = Store(path)
    with Store(path) as inner:
        inner.write_frame("events", _events(2), source="test", quality=False)
        assert f"pid {os.getpid()}" in lock_path(path).read_text()
    assert "pid" in _try_write(path)  # still held by `outer`
    outer.close()
    assert _try_write(path) == "ok"


def test_data_versions_count_changes_per_table(tmp_path: Path) -> None:
    with Store(tmp_path / "shop.duckdb") as store:
        assert store.data_versions() == {}
        store.write_frame("events", _events(3), source="test", quality=False)
        assert store.data_versions() == {"events": 1}
        store.write_frame("events", _events(3), source="again", quality=False)  # all stored
        assert store.data_versions() == {"events": 1}
        store.write_frame("events", _events(1, "2026-01-02"), source="more", quality=False)
        items = pd.DataFrame({"item_id": ["i1"], "title": ["a cup"], "price": [2.5]})
        store.write_frame("items", items, source="catalogue")
        assert store.data_versions() == {"events": 2, "items": 1}
        store.write_frame("items", items.assign(price=3.0), source="new price")  # an update
        assert store.data_versions() == {"events": 2, "items": 2}


def test_a_process_holding_the_lock_makes_the_tables_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While this process holds the lock nobody else can change the tables, so later
    connections skip the schema statements; a new holder checks them again."""
    from shopsense.data import store as store_module

    path = tmp_path / "shop.duckdb"
    checks = []
    add_columns = store_module._add_new_columns
    monkeypatch.setattr(
        store_module, "_add_new_columns", lambda con: checks.append(1) or add_columns(con)
    )
    with WriteLock(path):
        for n in range(3):
            with Store(path) as store:
                store.write_frame("events", _events(1, f"2026-01-0{n + 1}"), source="t")
        assert len(checks) == 1
    with Store(path) as store:  # the lock was let go: another process may have written
        assert store.count("events") == 3
    assert len(checks) == 2
    with WriteLock(path):
        Store(path).close()
        path.unlink()  # the file removed while the lock is held: its tables are made again
        with Store(path) as store:
            store.write_frame("events", _events(2), source="t", quality=False)
            assert store.count("events") == 2

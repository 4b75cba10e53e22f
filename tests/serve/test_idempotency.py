"""A batch's idempotency key: recorded with its stamp on first sight, in the store, so a
retry - even after a restart - reuses the stamp; a key reused for another batch is refused."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from shopsense.data.store import Store
from shopsense.serve.idempotency import KeyReused, digest, stamp


def test_a_retry_reuses_the_first_stamp_across_a_restart(tmp_path: Path) -> None:
    body = b'{"events": [{"user_id": "u1", "item_id": "i1"}]}'
    first_at, later = datetime(2026, 3, 1, 9, 30), datetime(2026, 3, 1, 9, 45)
    with Store(tmp_path / "s.duckdb") as store:
        first = stamp(store, "batch-1", digest(body), first_at)
        assert first.at == first_at and not first.replay
        again = stamp(store, "batch-1", digest(body), later)
        assert again.at == first_at and again.replay
    with Store(tmp_path / "s.duckdb") as store:  # a new process: the key is still known
        assert stamp(store, "batch-1", digest(body), later).at == first_at
        assert not stamp(store, "batch-2", digest(body), later).replay


def test_a_key_reused_for_another_batch_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        stamp(store, "batch-1", digest(b"one"), datetime(2026, 3, 1))
        with pytest.raises(KeyReused, match=r"batch-1.*different batch"):
            stamp(store, "batch-1", digest(b"two"), datetime(2026, 3, 2))

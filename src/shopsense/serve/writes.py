"""Event batches from concurrent requests stored together: a group commit.

Opening the store, and closing it (which checkpoints), costs more than writing a small
batch of events. So requests do not each open the store: each puts its batch in a queue,
and whichever request next holds the service's store lock opens the store once and
stores every batch waiting, one transaction per batch (each keeps its own idempotency key
and report, and a bad batch fails alone). The others find their batch stored when they
get the lock, or wait for it.

The queue is bounded (`max_pending_writes`): beyond it a request is refused at once
(`WritesBacklogged`, HTTP 429 with Retry-After) instead of waiting behind writes the
service cannot keep up with, which would also slow every read.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from shopsense.data.store import IngestReport, Store

#: what storing one batch returns: its report, the frame as stored, whether it was a replay
Stored = tuple[IngestReport, pd.DataFrame, bool]


class WritesBacklogged(RuntimeError):
    """More event batches wait to be stored than the service accepts; maps to HTTP 429."""


@dataclass
class Batch:
    """One request's events, waiting to be stored."""

    frame: pd.DataFrame
    source: str
    key: str | None
    body_sha256: str
    now: datetime
    done: threading.Event = field(default_factory=threading.Event)
    result: Stored | None = None
    error: BaseException | None = None


class GroupCommit:
    """Stores batches through one store connection per group of waiting requests.

    `write(store, batch)` stores one batch on an open store; `open_store()` opens it;
    `lock` is the lock every user of the store connection holds (the service's store lock).
    """

    def __init__(
        self,
        open_store: Callable[[], Store],
        write: Callable[[Store, Batch], Stored],
        lock: threading.Lock,
        limit: int,
    ) -> None:
        self._open_store = open_store
        self._write = write
        self._lock = lock
        self.limit = limit
        self._pending: deque[Batch] = deque()
        self._guard = threading.Lock()
        self.groups = 0  # how many store connections wrote batches: a check of the grouping
        self.batches = 0

    @property
    def pending(self) -> int:
        """Batches waiting for a connection now."""
        return len(self._pending)

    def submit(self, batch: Batch) -> Stored:
        """Store `batch` (with any others waiting) and return what storing it did; raises
        WritesBacklogged, without waiting, when `limit` batches are waiting already."""
        with self._guard:
            if len(self._pending) >= self.limit:
                raise WritesBacklogged(
                    f"{len(self._pending)} batches of events are waiting to be stored "
                    f"(the limit is {self.limit}, SHOPSENSE_MAX_PENDING_WRITES); retry shortly"
                )
            self._pending.append(batch)
        while not batch.done.is_set():
            with self._lock:
                if not batch.done.is_set():
                    self._drain()
        if batch.error is not None:
            raise batch.error
        assert batch.result is not None
        return batch.result

    def _drain(self) -> None:
        """Store every waiting batch on one connection (the caller holds the lock)."""
        with self._guard:
            group = list(self._pending)
            self._pending.clear()
        if not group:
            return
        left = iter(group)
        try:
            with self._open_store() as store:
                self.groups += 1
                for batch in left:
                    try:
                        batch.result = self._write(store, batch)
                        self.batches += 1
                    except Exception as e:  # it belongs to that request alone
                        batch.error = e
                    finally:
                        batch.done.set()
        except BaseException as e:
            for batch in left:  # the rest: the store could not be opened (or closed)
                batch.error = e
                batch.done.set()
            if not isinstance(e, Exception):
                raise
        finally:
            for batch in group:  # never leave a request waiting, whatever happened
                if not batch.done.is_set():
                    batch.error = batch.error or RuntimeError("the event batch was not stored")
                    batch.done.set()

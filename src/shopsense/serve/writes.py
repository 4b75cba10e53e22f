"""Event batches from concurrent requests stored together, by one writer thread.

Opening the store, and closing it (which checkpoints), costs more than writing a small
batch of events. So requests do not each open the store: each puts its batch in a queue
and waits for its future, and one writer thread, whenever batches wait and the service's
store lock is free, opens the store once and stores every batch waiting, in one
validation and one transaction (`Store.write_frames`: each batch keeps its own
idempotency key and report, and a bad batch fails alone).
A waiting request holds no worker thread (the route awaits the future), so writes that
queue up cannot take the threads reads need.

The queue is bounded (`max_pending_writes`): beyond it a request is refused at once
(`WritesBacklogged`, HTTP 429 with Retry-After) instead of waiting behind writes the
service cannot keep up with.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from shopsense.data.store import IngestReport, Store

#: what storing one batch returns: its report, the frame as stored, whether it was a replay
Stored = tuple[IngestReport, pd.DataFrame, bool]

log = logging.getLogger("shopsense.serve")


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
    future: Future[Stored] = field(default_factory=Future)


class GroupCommit:
    """Stores batches through one store connection per group of waiting batches.

    `write(store, batches)` stores batches on an open store, returning each one's result
    or its exception in order; `open_store()` opens it;
    `lock` is the lock every user of the store connection holds (the service's store lock).
    The writer thread starts with the first batch and ends with `close()`.
    """

    def __init__(
        self,
        open_store: Callable[[], Store],
        write: Callable[[Store, list[Batch]], list[Stored | Exception]],
        lock: threading.Lock,
        limit: int,
    ) -> None:
        self._open_store = open_store
        self._write = write
        self._lock = lock
        self.limit = limit
        self._pending: deque[Batch] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.groups = 0  # store connections that wrote batches: a check of the grouping
        self.batches = 0

    @property
    def pending(self) -> int:
        """Batches waiting for the writer now."""
        return len(self._pending)

    def submit(self, batch: Batch) -> Future[Stored]:
        """Queue `batch`; its future gives what storing it did (or its error). Raises
        WritesBacklogged, without queueing, when `limit` batches wait already."""
        with self._wake:
            if self._closed:
                raise RuntimeError("the service is stopping: no more events are stored")
            if len(self._pending) >= self.limit:
                raise WritesBacklogged(
                    f"{len(self._pending)} batches of events are waiting to be stored "
                    f"(the limit is {self.limit}, SHOPSENSE_MAX_PENDING_WRITES); retry shortly"
                )
            self._pending.append(batch)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="shopsense-writer", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        return batch.future

    def close(self, timeout: float = 30.0) -> None:
        """Store what waits, then stop the writer thread."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return  # closed and nothing left
            with self._lock:
                self._drain()

    def _drain(self) -> None:
        """Store every waiting batch on one connection (the caller holds the lock). The
        futures are settled once the connection is closed, so a request answered 201 has
        its events checkpointed and the store free for the next reader."""
        with self._wake:
            group = list(self._pending)
            self._pending.clear()
        outcomes: list[tuple[Batch, Stored | None, BaseException | None]] = []
        try:
            with self._open_store() as store:
                self.groups += 1
                results = self._write(store, group)
                for batch, result in zip(group, results, strict=True):
                    if isinstance(result, Exception):  # it belongs to that request alone
                        outcomes.append((batch, None, result))
                    else:
                        outcomes.append((batch, result, None))
                        self.batches += 1
        except Exception as e:  # the store could not be opened (or closed)
            log.warning("could not store %d event batches: %s", len(group), e)
            settled = {id(b) for b, _, _ in outcomes}
            outcomes += [(b, None, e) for b in group if id(b) not in settled]
        finally:
            for batch, stored, error in outcomes:
                if error is not None:
                    batch.future.set_exception(error)
                else:
                    batch.future.set_result(stored)  # type: ignore[arg-type]
            for batch in group:  # never leave a request waiting, whatever happened
                if not batch.future.done():
                    batch.future.set_exception(RuntimeError("the event batch was not stored"))

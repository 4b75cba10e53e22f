"""What the running service holds: settings, the registry, loaded models, the store.

Models load on first use and stay loaded. Activation loads the new version completely
before swapping one dictionary entry, so a request that already holds the old version
finishes with it and the next one gets the new: a hot swap with no dropped request.
Events are written to the store (one short write transaction per request, so other
processes, such as `shopsense train`, can read the store in between) and then applied
to every loaded model's live histories.

One service writes a store: `start()` takes the store's write lock for the service's
life, and a second service (or a `shopsense data load`) on the same store is refused
with the holder's pid. A service started read-only (`read_only`) takes no lock, refuses
events, and follows the store: every few seconds it reads the tables' data versions and,
when the events changed, rebuilds its models' live histories from them.

Which version serves is the registry's active version, and a version trained while the
service runs does not serve until it is activated: the first time a model is served
without an explicit activation, the version served is recorded as active (so a restart
serves it again), unless `auto_activate` asks for the newest at every start.

Caches of what is read from the store are keyed by `data_versions(*tables)`: a number
per table that changes only when that table does, so an event write leaves caches of
order lines and prices valid.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pandas as pd

from shopsense.config import Settings
from shopsense.data.store import (
    IngestReport,
    Store,
    StoreLocked,
    WriteLock,
    seed_versions,
    written_versions,
)
from shopsense.registry import ModelVersion, Registry
from shopsense.serve.served import ServedModel
from shopsense.serve.writes import Batch, GroupCommit, Stored
from shopsense.workflows import TASK, default_model_name

T = TypeVar("T")

#: where a model version keeps its ANN index, beside its weights
ANN_FOLDER = "ann"
#: how often a read-only service reads the store's data versions (seconds)
FOLLOW_S = 2.0
#: the tables order-line views read (customers, prices, demand): their cache key
ORDER_TABLES = ("order_lines", "items", "orders")

log = logging.getLogger("shopsense.serve")


class NotReady(RuntimeError):
    """The service cannot answer yet (no store, no trained model); maps to HTTP 503."""


class StoreBusy(RuntimeError):
    """Another process holds the store's write lock for longer than we wait."""


class ReadOnly(RuntimeError):
    """This service does not write the store; maps to HTTP 409."""


@dataclass(frozen=True)
class EventsWritten:
    report: IngestReport
    users: int
    replay: bool = False  # the batch's idempotency key was seen before


class ServiceState:
    """Everything requests share. Thread-safe: FastAPI runs sync endpoints in threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = Registry(settings.models_dir)
        self.started = time.time()
        self._models: dict[str, ServedModel] = {}
        self._loading = threading.Lock()
        self._store_lock = threading.Lock()
        self._catalogue: pd.DataFrame | None = None
        self._default: str | None = None
        self.on_swap: list[Any] = []  # callbacks(name, served) — metrics subscribe
        self._write_lock: WriteLock | None = None
        self._versions: dict[str, int] = {}  # read-only services: as last read
        self._versions_read = float("-inf")
        self._follow_stop = threading.Event()
        self._follower: threading.Thread | None = None
        self._writes = GroupCommit(
            self._open_store, self._store_group, self._store_lock, settings.max_pending_writes
        )

    # ----------------------------------------------------------------- life
    def start(self) -> None:
        """Begin the service's life on its store: take the store's write lock (StoreLocked,
        naming the holder, when another process writes it), or, read-only, start
        following the store's events."""
        if self.settings.read_only:
            if self._follower is None:
                self._follow_stop.clear()
                self._follower = threading.Thread(
                    target=self._follow, name="shopsense-follow", daemon=True
                )
                self._follower.start()
            return
        if self._write_lock is None:
            self._write_lock = WriteLock(self.settings.store_path, "shopsense serve").acquire()

    def stop(self) -> None:
        """Store the events still queued, release the write lock (or stop following)."""
        self._writes.close()
        self._follow_stop.set()
        if self._follower is not None:
            self._follower.join(timeout=10)
            self._follower = None
        if self._write_lock is not None:
            self._write_lock.release()
            self._write_lock = None

    # ----------------------------------------------------------------- store
    def _open_store(self, *, wait_s: float = 3.0) -> Store:
        """A connection (read-only in a read-only service), waiting up to `wait_s` while
        another process has the file open."""
        path = Path(self.settings.store_path)
        if not path.exists():
            raise NotReady(f"no store at {path}; load data first (`shopsense data load sample`)")
        try:
            return Store(path, read_only=self.settings.read_only, wait_s=wait_s)
        except StoreLocked as e:
            raise StoreBusy(str(e)) from None
        except duckdb.IOException as e:
            raise StoreBusy(f"the store {path} is locked by another process") from e

    def data_version(self, table: str) -> int:
        """A number that changes whenever `table` changes (0 before its first write)."""
        return self.data_versions(table)[0]

    def data_versions(self, *tables: str) -> tuple[int, ...]:
        """The data versions of `tables`, a cache key for what is computed from them.

        While this process holds the store's write lock nobody else writes, so the
        versions are known without reading the store; otherwise they are read (a
        read-only service reads them at most every FOLLOW_S seconds)."""
        known = written_versions(self.settings.store_path)
        if known is None:
            known = self._read_versions()
        return tuple(known.get(t, 0) for t in tables)

    def _read_versions(self, *, fresh: bool = False) -> dict[str, int]:
        if (
            self.settings.read_only
            and not fresh
            and time.monotonic() - self._versions_read < FOLLOW_S
        ):
            return self._versions
        if not Path(self.settings.store_path).exists():
            return {}
        with self._store_lock, self._open_store() as store:
            versions = store.data_versions()
            seed_versions(store.path, versions)  # trusted while we hold the write lock
        self._versions, self._versions_read = versions, time.monotonic()
        return versions

    def _follow(self) -> None:
        """Read-only services: rebuild live histories whenever the store's events change."""
        while not self._follow_stop.wait(FOLLOW_S):
            try:
                version = self._read_versions(fresh=True).get("events", 0)
                stale = [m for m in self._models.values() if m.events_version != version]
                if stale:
                    events = self._events()
                    for served in stale:
                        served.follow(events)
                        served.events_version = version
                    log.info("followed the store's events (version %d)", version)
            except (NotReady, StoreBusy, duckdb.Error) as e:
                log.warning("could not follow the store: %s", e)

    def read_store(self, read: Callable[[Store], T]) -> T:
        """`read(store)` on a short-lived connection, sharing the service's store lock."""
        with self._store_lock, self._open_store() as store:
            return read(store)

    def catalogue(self) -> pd.DataFrame:
        """The items table (id-indexed), read once and refreshed on activation."""
        if self._catalogue is None:
            with self._store_lock, self._open_store() as store:
                frame = store.read(
                    "items", ["item_id", "title", "category", "brand", "price", "description"]
                )
            self._catalogue = frame.set_index("item_id")
        return self._catalogue

    def _events(self) -> pd.DataFrame:
        with self._store_lock, self._open_store() as store:
            return store.read("events", ["user_id", "item_id", "timestamp"])

    def write_events(
        self, frame: pd.DataFrame, source: str, *, key: str | None = None, body_sha256: str = ""
    ) -> EventsWritten:
        """Store events durably (validated like any ingest), then update live histories.

        Times are naive UTC; a missing one (NaT) is the time of arrival, or, with an
        idempotency `key`, the arrival time of the key's first request, so a retried
        batch stores nothing twice (`shopsense.serve.idempotency`). Batches of concurrent
        requests share one store connection (`shopsense.serve.writes`); WritesBacklogged
        when too many wait already."""
        stored = self.submit_events(frame, source, key=key, body_sha256=body_sha256).result()
        return self.apply_events(stored)

    def submit_events(
        self, frame: pd.DataFrame, source: str, *, key: str | None = None, body_sha256: str = ""
    ) -> Future[Stored]:
        """Queue events for the writer (see `write_events`); the future gives what storing
        them did, to pass to `apply_events`. A request awaits it without a thread."""
        if self.settings.read_only:
            raise ReadOnly(
                "this service is read-only (SHOPSENSE_READ_ONLY): send events to the "
                "service that writes the store"
            )
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        return self._writes.submit(Batch(frame, source, key, body_sha256, now))

    def apply_events(self, stored: Stored) -> EventsWritten:
        """Add stored events to every loaded model's live histories."""
        report, frame, replay = stored
        ordered = frame.sort_values("timestamp", kind="stable")
        users = ordered["user_id"].astype(str).tolist()
        items = ordered["item_id"].astype(str).tolist()
        if not (replay and report.rows_inserted == 0):  # a retry adds nothing live either
            for served in list(self._models.values()):
                served.add_events(users, items)
        return EventsWritten(report, len(set(users)), replay)

    @staticmethod
    def _store_group(store: Store, batches: list[Batch]) -> list[Stored | Exception]:
        """Requests' events on an open store (called by the group commit): each batch's
        idempotency stamp, then every batch in one validation and one transaction."""
        from shopsense.serve import idempotency

        out: list[Stored | Exception | None] = [None] * len(batches)
        frames: dict[int, tuple[pd.DataFrame, bool]] = {}
        for i, batch in enumerate(batches):
            now, replay = batch.now, False
            if batch.key is not None:
                try:
                    stamped = idempotency.stamp(store, batch.key, batch.body_sha256, now)
                except idempotency.KeyReused as e:
                    out[i] = e
                    continue
                now, replay = stamped.at, stamped.replay
            stamp = pd.Timestamp(now)
            frames[i] = (
                batch.frame.assign(timestamp=batch.frame["timestamp"].fillna(stamp)),
                replay,
            )
        written = store.write_frames(
            "events",
            [frame for frame, _ in frames.values()],
            sources=[batches[i].source for i in frames],
        )
        for (i, (frame, replay)), report in zip(frames.items(), written, strict=True):
            out[i] = report if isinstance(report, Exception) else (report, frame, replay)
        return out  # type: ignore[return-value]

    # ----------------------------------------------------------------- models
    def default_name(self) -> str:
        """The model that answers when a request names none: `settings.default_model`, else
        the most recently activated one, else the most recently trained. Kept until an
        activation or rollback, so requests do not read the registry; a model trained
        while the service runs does not become the default at a restart once another
        one was served (serving records its activation)."""
        if self._default is None:
            activated = [
                (when, name)
                for name in sorted({v.name for v in self.registry.versions(TASK)})
                if (when := self.registry.activated_at(TASK, name)) is not None
            ]
            if not self.settings.default_model and activated:
                self._default = max(activated)[1]
                return self._default
            try:
                self._default = default_model_name(self.settings)
            except FileNotFoundError as e:
                raise NotReady(str(e)) from None
        return self._default

    def loaded_model(self, name: str | None = None) -> ServedModel | None:
        """The serving version of `name` if it is loaded already (never loads)."""
        try:
            return self._models.get(name or self.default_name())
        except NotReady:
            return None

    def model(self, name: str | None = None) -> ServedModel:
        """The serving version of `name` (default model when None), loading it if needed."""
        name = name or self.default_name()
        served = self._models.get(name)
        if served is not None:
            return served
        with self._loading:
            served = self._models.get(name)
            if served is None:
                try:
                    version = self.registry.serving(
                        TASK, name, auto_activate=self.settings.auto_activate
                    )
                except FileNotFoundError as e:
                    if not self.registry.versions(TASK):
                        raise NotReady(str(e)) from None
                    raise
                served = self._load(version)
                self._swap(name, served)
        return served

    def serving(self) -> dict[str, str]:
        """Model name -> the version this process answers with now."""
        return {name: served.version.version for name, served in self._models.items()}

    def loaded(self) -> dict[str, ServedModel]:
        return dict(self._models)

    def activate(self, name: str, version: str) -> ServedModel:
        """Serve `version` of `name` from now on (persisted in the registry)."""
        target = self.registry.get(TASK, name, version)
        served = self._load(target)  # before the swap: requests keep the old one meanwhile
        self.registry.activate(TASK, name, version)
        self._swap(name, served)
        self._default = None
        return served

    def rollback(self, name: str) -> ServedModel:
        """Serve the previously active version of `name` again."""
        previous = self.registry.rollback(TASK, name)
        served = self._load(previous)
        self._swap(name, served)
        self._default = None
        return served

    def _swap(self, name: str, served: ServedModel) -> None:
        self._models[name] = served  # one assignment: atomic for readers
        for callback in self.on_swap:
            callback(name, served)
        log.info("serving %s (%d live users)", served.label, served.live_users)

    def _load(self, version: ModelVersion) -> ServedModel:
        start = time.perf_counter()
        model = self.registry.load(TASK, version.name, version.version, onnx=self.settings.onnx)
        self._catalogue = None  # activation is when a new catalogue shows up
        events_version = self.data_version("events")  # before reading: a later write shows
        served = ServedModel(
            model,
            version,
            self.catalogue(),
            self._events(),
            self._retriever(model, version),
            query_cache_users=self.settings.query_cache_users,
        )
        served.events_version = events_version
        log.info("loaded %s in %.2f s", served.label, time.perf_counter() - start)
        return served

    def _retriever(self, model: Any, version: ModelVersion) -> Any | None:
        """An ANN top-k function for dot-product models over large catalogues, else None.

        The index is built once per model version and kept in the version's folder
        (`ann/`), so later loads and restarts read it instead of rebuilding (a million
        items take minutes to build, seconds to read)."""
        mode = self.settings.ann
        vectors = model.item_embeddings()
        if mode == "off" or vectors is None:
            return None
        if mode == "auto" and model.n_items < self.settings.ann_min_items:
            return None
        from shopsense.ann import ANNIndex, retrieve

        folder = Path(version.path) / ANN_FOLDER
        index = None
        if (folder / "index.json").is_file():
            try:
                index = ANNIndex.load(folder, threads=self.settings.threads)
                if not np.array_equal(index.vectors, vectors):
                    log.warning("%s: stored ANN index is stale; rebuilding", folder)
                    index = None
            except (OSError, ValueError, RuntimeError) as e:
                log.warning("%s: unreadable ANN index (%s); rebuilding", folder, e)
                index = None
        if index is None:
            index = ANNIndex(vectors, threads=self.settings.threads)
            try:
                index.save(folder)
            except OSError as e:  # a read-only registry still serves, it rebuilds next time
                log.warning("could not keep the ANN index in %s: %s", folder, e)
        index.ef_search = self.settings.ann_ef_search
        return functools.partial(retrieve, index)

    # ----------------------------------------------------------------- status
    def ready(self) -> tuple[bool, str]:
        """Whether requests can be answered now, and why not."""
        try:
            served = self.model()
        except (NotReady, FileNotFoundError, StoreBusy) as e:
            return False, str(e)
        return True, f"serving {served.label}"

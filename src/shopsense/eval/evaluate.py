"""Evaluate a fitted recommender on held-out events: full ranking by default.

Full ranking scores every item for every test user (minus what the model was trained on).
Sampled-negative ranking — the test item among n random items — is available on request
and every such number is labelled `sampled`, because it is known to flatter models and to
reorder them (Krichene & Rendle, KDD 2020).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from shopsense.data.views import Interactions
from shopsense.eval.metrics import METRICS, coverage
from shopsense.recommend.base import Recommender, top_k

DEFAULT_METRICS = ("hr", "recall", "precision", "ndcg", "mrr", "map")


@dataclass(frozen=True)
class Report:
    """Mean metrics of one model on one held-out set."""

    model: str
    protocol: str
    stage: str  # "validation" or "test"
    k: int
    n_users: int
    metrics: dict[str, float]
    ranking: str = "full"  # "full" or "sampled-<n>"
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def flat(self) -> dict[str, Any]:
        """One flat record (metric names as keys), for tables and JSON results."""
        return {
            "model": self.model,
            "protocol": self.protocol,
            "stage": self.stage,
            "ranking": self.ranking,
            "users": self.n_users,
            **self.metrics,
        }


def evaluate(
    model: Recommender,
    heldout: Interactions,
    *,
    k: int | Sequence[int] = 10,
    metrics: Sequence[str] = DEFAULT_METRICS,
    protocol: str = "",
    stage: str = "test",
    sampled_negatives: int | None = None,
    random_state: int = 0,
    progress: bool = False,
) -> Report:
    """Score `model` on the users of `heldout`; metrics named `<metric>@<k>`.

    Items the model was trained on are excluded from each user's list (full ranking over
    the rest of the catalogue). With `sampled_negatives=n`, each held-out item is ranked
    against n random items the user never touched instead, and the report says so.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
    ks = [k] if isinstance(k, int) else list(k)
    users = heldout.active_users
    if len(users) == 0:
        raise ValueError("the held-out set has no events to evaluate on")
    truth = heldout.binary[users]
    start = time.perf_counter()
    if sampled_negatives:
        recommended = _sampled_ranking(
            model, users, heldout, max(ks), sampled_negatives, random_state
        )
        ranking = f"sampled-{sampled_negatives}"
    else:
        recommended, _ = model.recommend_indices(
            users, max(ks), exclude_seen=True, progress=progress
        )
        ranking = "full"
    seconds = time.perf_counter() - start
    values: dict[str, float] = {}
    for kk in ks:
        top = recommended[:, :kk]
        for m in metrics:
            values[f"{m}@{kk}"] = float(np.mean(METRICS[m](top, truth)))
        if not sampled_negatives:
            values[f"coverage@{kk}"] = coverage(top, model.n_items)
    return Report(
        model=model.name,
        protocol=protocol,
        stage=stage,
        k=max(ks),
        n_users=len(users),
        metrics=values,
        ranking=ranking,
        seconds=seconds,
        params=model.get_params(),
    )


def _sampled_ranking(
    model: Recommender,
    users: np.ndarray,
    heldout: Interactions,
    k: int,
    n_negatives: int,
    random_state: int,
) -> np.ndarray:
    """Rank each user's held-out items among n random unseen items; top-k indices."""
    rng = np.random.default_rng(random_state)
    truth = heldout.binary[users]
    out = np.full((len(users), k), -1, dtype=np.int64)
    for s in range(0, len(users), model.batch_size):
        rows = np.arange(s, min(s + model.batch_size, len(users)))
        scores = model.score(users[rows])
        negatives = rng.integers(0, model.n_items, size=(len(rows), n_negatives))
        keep = np.full(scores.shape, False)
        keep[np.arange(len(rows))[:, None], negatives] = True
        t = truth[rows]
        keep[np.repeat(np.arange(len(rows)), np.diff(t.indptr)), t.indices] = True
        seen = model.seen_[users[rows]]
        keep[np.repeat(np.arange(len(rows)), np.diff(seen.indptr)), seen.indices] = False
        keep[np.repeat(np.arange(len(rows)), np.diff(t.indptr)), t.indices] = True
        scores = np.where(keep, scores, -np.inf)
        out[rows], _ = top_k(scores, k)
    return out

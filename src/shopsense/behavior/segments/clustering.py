"""Clustering the embedding (consensus, k-means, Gaussian mixture) and the choice of k."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shopsense.behavior.segments.config import (
    CLUSTERERS,
    CONSENSUS_SAMPLE,
    SILHOUETTE_SAMPLE,
    SegmenterConfig,
)


@dataclass
class _Clusters:
    """How an ensemble embedding maps to segments.

    kmeans: the nearest of `centers`. gmm: the likeliest component of a mixture (`weights`,
    means `centers`, `covariances`) on the embedding's principal components (`offset`,
    `axes`; None: the embedding itself). consensus: every member's nearest centre at each k
    of `ks` (`member_centers`, (members, sum(ks), embedding_size)) as a 0/1 code, then the
    nearest of `centers` in that code space.
    """

    kind: str
    centers: np.ndarray
    weights: np.ndarray | None = None
    covariances: np.ndarray | None = None
    offset: np.ndarray | None = None
    axes: np.ndarray | None = None
    member_centers: np.ndarray | None = None
    ks: tuple[int, ...] = ()

    def predict(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if self.kind == "consensus":
            assert self.member_centers is not None
            return self.predict_codes(_codes(z, self.member_centers, self.ks))
        if self.kind == "gmm":
            assert self.weights is not None and self.covariances is not None
            reduced = z if self.axes is None else (z - self.offset) @ self.axes.T
            return _gmm_log_prob(reduced, self.weights, self.centers, self.covariances).argmax(1)
        return _nearest(z, self.centers)

    def predict_codes(self, codes: Any) -> np.ndarray:
        """consensus: the nearest centre of each customer's code."""
        return ((self.centers**2).sum(axis=1) - 2 * (codes @ self.centers.T)).argmin(axis=1)

    def reordered(self, order: np.ndarray) -> _Clusters:
        pick = lambda a: None if a is None else a[order]  # noqa: E731
        return dataclasses.replace(
            self,
            centers=self.centers[order],
            weights=pick(self.weights),
            covariances=pick(self.covariances),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        names = ("centers", "weights", "covariances", "offset", "axes", "member_centers")
        out = {f"clusters.{n}": getattr(self, n) for n in names if getattr(self, n) is not None}
        if self.ks:
            out["clusters.ks"] = np.asarray(self.ks, dtype=np.int64)
        return out

    @classmethod
    def from_arrays(cls, kind: str, arrays: dict[str, np.ndarray]) -> _Clusters:
        get = arrays.get
        return cls(
            kind,
            arrays["clusters.centers"],
            *(get(f"clusters.{n}") for n in ("weights", "covariances", "offset", "axes")),
            get("clusters.member_centers"),
            tuple(int(k) for k in get("clusters.ks", np.zeros(0, dtype=np.int64))),
        )


def _nearest(z: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centre (squared Euclidean)."""
    return ((centers**2).sum(axis=1) - 2 * (z @ centers.T)).argmin(axis=1).astype(np.int64)


def _codes(z: np.ndarray, member_centers: np.ndarray, ks: Sequence[int]) -> Any:
    """Sparse (customers, members * sum(ks)) 0/1 codes, scaled to unit norm: one column per
    (member, k, cluster), set where the member's nearest centre at that k is the cluster.
    Squared distances between codes are 2 − 2 × the share of clusterings that agree."""
    from scipy import sparse

    members, total, dims = member_centers.shape
    columns = []
    for i in range(members):
        block = z[:, i * dims : (i + 1) * dims]
        start = 0
        for k in ks:
            columns.append(
                i * total + start + _nearest(block, member_centers[i, start : start + k])
            )
            start += k
    n, t = len(z), len(columns)
    indices = np.column_stack(columns).ravel() if n else np.zeros(0, dtype=np.int64)
    data = np.full(n * t, 1 / np.sqrt(t))
    return sparse.csr_matrix((data, indices, np.arange(0, n * t + 1, t)), (n, members * total))


class _Space:
    """An ensemble embedding and what the clusterers need of it, each made once: the
    members' k-means at every k of `ks` and the codes they give (consensus), and the
    embedding's first principal components (mixture)."""

    def __init__(self, x: np.ndarray, members: int, ks: Sequence[int], seed: int) -> None:
        self.x = np.asarray(x, dtype=np.float64)
        self.members, self.ks, self.seed = members, tuple(ks), seed

    @functools.cached_property
    def member_centers(self) -> np.ndarray:
        from sklearn.cluster import KMeans

        rs = np.random.RandomState(self.seed)
        dims = self.x.shape[1] // self.members
        out = np.zeros((self.members, sum(self.ks), dims))
        for i in range(self.members):
            block, start = self.x[:, i * dims : (i + 1) * dims], 0
            for k in self.ks:
                with warnings.catch_warnings():  # fewer distinct customers than k: fine
                    warnings.simplefilter("ignore")
                    km = KMeans(n_clusters=k, n_init=1, random_state=rs).fit(block)
                out[i, start : start + k] = km.cluster_centers_
                start += k
        return out

    @functools.cached_property
    def codes(self) -> Any:
        return _codes(self.x, self.member_centers, self.ks)

    @functools.cached_property
    def code_distances(self) -> tuple[np.ndarray, np.ndarray]:
        """(sample, distances): a seeded sample of at most CONSENSUS_SAMPLE customers and
        their pairwise code distances, √(2 − 2 × share of clusterings that agree)."""
        n = self.codes.shape[0]
        rng = np.random.default_rng(self.seed)
        sample = (
            np.sort(rng.choice(n, CONSENSUS_SAMPLE, replace=False))
            if n > CONSENSUS_SAMPLE
            else np.arange(n)
        )
        dense = self.codes[sample].toarray().astype(np.float32)
        d = dense @ dense.T  # in place from here: this is the large one
        d *= -2
        d += 2
        np.sqrt(np.clip(d, 0, None, out=d), out=d)
        np.fill_diagonal(d, 0)
        return sample, d

    @functools.cached_property
    def principal(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(offset, axes, reduced): the first `embedding_size` principal components."""
        offset = self.x.mean(axis=0)
        _, _, vt = np.linalg.svd(self.x - offset, full_matrices=False)
        axes = vt[: self.x.shape[1] // self.members]
        return offset, axes, (self.x - offset) @ axes.T


def _gmm_log_prob(
    z: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> np.ndarray:
    """(n, k) log w_k + log N(z | mean_k, cov_k), by Cholesky factors."""
    out = np.empty((len(z), len(means)))
    for j, (mean, cov) in enumerate(zip(means, covariances, strict=True)):
        chol = np.linalg.cholesky(cov)
        sol = np.linalg.solve(chol, (z - mean).T)
        log_det = 2.0 * np.log(np.diag(chol)).sum()
        out[:, j] = np.log(weights[j]) - 0.5 * (
            (sol**2).sum(axis=0) + log_det + z.shape[1] * np.log(2 * np.pi)
        )
    return out


def _fit_clusters(
    space: _Space, kind: str, k: int, seed: int, n_init: int
) -> tuple[_Clusters, np.ndarray, Any]:
    """The clusters of one kind at one k, the fitted customers' labels and the sklearn
    model."""
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    if kind == "gmm":
        offset, axes, reduced = space.principal
        gm = GaussianMixture(k, covariance_type="full", n_init=2, reg_covar=1e-4, random_state=seed)
        gm.fit(reduced)
        clusters = _Clusters("gmm", gm.means_, gm.weights_, gm.covariances_, offset, axes)
        labels = _gmm_log_prob(reduced, gm.weights_, gm.means_, gm.covariances_).argmax(1)
        return clusters, labels, gm
    if kind == "consensus":
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(space.codes)
        clusters = _Clusters(
            "consensus", km.cluster_centers_, member_centers=space.member_centers, ks=space.ks
        )
        return clusters, clusters.predict_codes(space.codes), km
    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(space.x)
    clusters = _Clusters("kmeans", km.cluster_centers_.astype(np.float64))
    return clusters, clusters.predict(space.x), km


def _silhouette(x: np.ndarray, labels: np.ndarray, seed: int) -> float | None:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
        return None
    sample = SILHOUETTE_SAMPLE if len(x) > SILHOUETTE_SAMPLE else None
    return float(silhouette_score(x, labels, sample_size=sample, random_state=seed))


def _consensus_silhouette(space: _Space, labels: np.ndarray) -> float | None:
    """Silhouette of `labels` on the code distances (agreement of the members' clusterings)."""
    from sklearn.metrics import silhouette_score

    sample, d = space.code_distances
    mine = labels[sample]
    if len(np.unique(mine)) < 2 or len(np.unique(mine)) >= len(mine):
        return None
    return float(silhouette_score(d, mine, metric="precomputed"))


CRITERIA = {
    "consensus": ("max consensus silhouette", "consensus_silhouette", max),
    "kmeans": ("max silhouette", "silhouette", max),
    "gmm": ("min BIC", "bic", min),
}


def _search(
    space: _Space, kind: str, ks: Sequence[int], seed: int, n_init: int, describe: bool = True
) -> tuple[dict[str, Any], dict[int, tuple[_Clusters, np.ndarray]]]:
    """One clusterer at every candidate k: its scores, the k its criterion picks and every
    fit. `describe`: also the silhouette on the embedding where it is not the criterion."""
    criterion, key, best = CRITERIA[kind]
    scores, fits = [], {}
    for k in ks:
        clusters, labels, model = _fit_clusters(space, kind, k, seed, n_init)
        fits[k] = clusters, labels
        score: dict[str, Any] = {"k": k}
        if kind == "consensus":
            score["consensus_silhouette"] = _consensus_silhouette(space, labels)
        if kind == "gmm":
            score["bic"] = float(model.bic(space.principal[2]))
        if kind == "kmeans" or describe:
            score["silhouette"] = _silhouette(space.x, labels, seed)
        scores.append(score)
    ranked = [s for s in scores if s[key] is not None] or scores
    chosen = best(ranked, key=lambda s: -np.inf if s[key] is None else s[key])
    return {"k": chosen["k"], "criterion": criterion, "scores": scores}, fits


def _select_k(
    space: _Space, ks: Sequence[int], seed: int, n_init: int
) -> tuple[dict[str, Any], dict[tuple[str, int], tuple[_Clusters, np.ndarray]]]:
    """Every clusterer's scores at every candidate k and the k its criterion picks (consensus
    and k-means: the best silhouette, the mixture: the lowest BIC); also every fit, by
    (kind, k)."""
    selection, fits = {}, {}
    for kind in CLUSTERERS:
        selection[kind], by_k = _search(space, kind, ks, seed, n_init)
        fits.update({(kind, k): fit for k, fit in by_k.items()})
    return selection, fits


def _by_revenue(labels: np.ndarray, monetary: np.ndarray, k: int) -> np.ndarray:
    """Old label of each new label: segments ordered by revenue, largest first, so that the
    numbering is the same whatever order the clustering found them in."""
    revenue = np.bincount(labels, weights=monetary, minlength=k)
    return np.lexsort((np.arange(k), -revenue))


def _edge_notes(selection: dict[str, Any], k_range: tuple[int, int]) -> list[str]:
    """A k chosen at either end of the range may only be where the search stopped."""
    return [
        f"{kind}: {part['criterion']} chose k={part['k']}, an end of k_range {list(k_range)}; "
        "widen k_range to see whether the score turns"
        for kind, part in selection.items()
        if part["k"] in k_range
    ]


def _score_at(scores: list[dict[str, Any]], k: int, key: str) -> float | None:
    return next((s[key] for s in scores if s["k"] == k), None)


def _agreement(
    selection: dict[str, Any], fits: dict[tuple[str, int], tuple[_Clusters, np.ndarray]]
) -> float:
    """Adjusted Rand index of k-means and the mixture, each at its own chosen k."""
    from sklearn.metrics import adjusted_rand_score

    km = fits["kmeans", selection["kmeans"]["k"]][1]
    return float(adjusted_rand_score(km, fits["gmm", selection["gmm"]["k"]][1]))


def _consensus_ks(cfg: SegmenterConfig) -> range:
    """The k at which the consensus clusters every member: all of k_range."""
    return range(cfg.k_range[0], cfg.k_range[1] + 1)

"""ANN retrieval: HNSW against exact top-k on real learned vectors, filters, persistence."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import shopsense.ann as ann
from shopsense.ann import ANNIndex, exact_top_k, retrieve
from shopsense.eval.splits import Split
from shopsense.recommend import ALS


@pytest.fixture(scope="module")
def als(ml_split: Split) -> ALS:
    """ALS on MovieLens-100k: real learned item and user vectors (32 dims, 1,682 items)."""
    return ALS(factors=32, iterations=5).fit(ml_split.train)


@pytest.fixture(scope="module")
def vectors(als: ALS) -> np.ndarray:
    return als.item_embeddings()


@pytest.fixture(scope="module")
def users(als: ALS) -> np.ndarray:
    return np.arange(als.n_users)


@pytest.fixture(scope="module")
def queries(als: ALS, users: np.ndarray) -> np.ndarray:
    return als.user_queries(users)


@pytest.fixture(scope="module")
def hnsw(vectors: np.ndarray) -> ANNIndex:
    """The default parameters (M 16, ef_construction 200, ef_search 128)."""
    return ANNIndex(vectors)


@pytest.fixture(scope="module")
def exact(vectors: np.ndarray) -> ANNIndex:
    return ANNIndex(vectors, "exact")


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row's true top-k (ignoring -1 padding) that was found."""
    hits = [
        len(set(f[f >= 0]) & set(t[t >= 0])) / max((t >= 0).sum(), 1)
        for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits))


def genre_mask(als: ALS, items: pd.DataFrame, genre: str) -> np.ndarray:
    """A real catalogue filter: the model's items whose genres include `genre`."""
    ids = items.loc[items["category"].str.split("|").apply(lambda g: genre in g), "item_id"]
    return np.isin(als.item_ids_, ids.to_numpy())


# ---------------------------------------------------------------------- search
def test_hnsw_recall_against_exact_on_learned_vectors(hnsw, exact, queries):
    truth, _ = exact.search(queries, 10)
    found, _ = hnsw.search(queries, 10)
    assert recall(found, truth) >= 0.95


def test_hnsw_scores_are_true_inner_products_best_first(hnsw, vectors, queries):
    idx, scores = hnsw.search(queries[:50], 10)
    expected = np.einsum("nd,nkd->nk", queries[:50], vectors[idx])
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert (np.diff(scores, axis=1) <= 0).all()
    assert scores.dtype == np.float32 and idx.dtype == np.int64


def test_exact_backend_equals_brute_force(rng):
    vectors = rng.standard_normal((700, 24)).astype(np.float32)
    queries = rng.standard_normal((40, 24)).astype(np.float32)
    brute = queries @ vectors.T
    idx, scores = ANNIndex(vectors, "exact").search(queries, 15)
    np.testing.assert_array_equal(idx, np.argsort(-brute, axis=1)[:, :15])
    np.testing.assert_allclose(scores, -np.sort(-brute, axis=1)[:, :15], rtol=1e-5)


def test_exact_blocks_give_the_same_answer(rng, monkeypatch):
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    queries = rng.standard_normal((25, 8)).astype(np.float32)
    whole = exact_top_k(vectors, queries, 7)
    monkeypatch.setattr(ann, "EXACT_BLOCK_FLOATS", 1000)  # 3 queries per block
    blocked = exact_top_k(vectors, queries, 7)
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_allclose(whole[1], blocked[1], rtol=1e-6)  # BLAS rounds per block


def test_hnsw_rescoring_in_blocks_gives_the_same_answer(hnsw, queries, monkeypatch):
    whole = hnsw.search(queries, 10)
    monkeypatch.setattr(ann, "EXACT_BLOCK_FLOATS", 32 * 10 * 7)  # 7 queries per block
    blocked = hnsw.search(queries, 10)
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_array_equal(whole[1], blocked[1])


@pytest.mark.parametrize("backend", ["hnsw", "exact"])
def test_k_beyond_the_catalogue_is_padded(backend, rng):
    vectors = rng.standard_normal((5, 4)).astype(np.float32)
    idx, scores = ANNIndex(vectors, backend).search(rng.standard_normal((3, 4)), 8)
    assert idx.shape == (3, 8)
    assert sorted(idx[0, :5]) == [0, 1, 2, 3, 4]
    assert (idx[:, 5:] == -1).all() and np.isneginf(scores[:, 5:]).all()


def test_ef_search_can_change_after_the_build(vectors, queries, exact):
    index = ANNIndex(vectors, ef_search=1)
    truth, _ = exact.search(queries, 10)
    low = recall(index.search(queries, 10)[0], truth)
    index.ef_search = 400
    high = recall(index.search(queries, 10)[0], truth)
    assert high >= 0.98 and high > low + 0.05


# ---------------------------------------------------------------------- retrieve
def test_exact_retrieve_equals_the_model_recommendations(als, exact, users, queries):
    idx, scores = retrieve(exact, queries, 10, exclude=als.seen_[users])
    ref_idx, ref_scores = als.recommend_indices(users, 10)
    assert (idx == ref_idx).mean() > 0.999  # float32 rounding may swap near-ties
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-4, atol=1e-5)


def test_retrieve_never_returns_excluded_or_disallowed(als, hnsw, exact, users, queries, ml_items):
    seen = als.seen_[users]
    allowed = genre_mask(als, ml_items, "Comedy")
    assert 100 < allowed.sum() < als.n_items / 2
    idx, scores = retrieve(hnsw, queries, 10, exclude=seen, allowed=allowed)
    assert (idx >= 0).all() and np.isfinite(scores).all()  # plenty of eligible comedies
    assert allowed[idx].all()
    rows = np.repeat(np.arange(len(users)), 10)
    assert not np.asarray(seen[rows, idx.ravel()]).any()
    truth, _ = retrieve(exact, queries, 10, exclude=seen, allowed=allowed)
    assert recall(idx, truth) >= 0.95


def test_retrieve_with_seen_items_matches_exact(als, hnsw, exact, users, queries):
    seen = als.seen_[users]
    found, _ = retrieve(hnsw, queries, 10, exclude=seen)
    truth, _ = retrieve(exact, queries, 10, exclude=seen)
    assert recall(found, truth) >= 0.95
    heavy = np.argsort(-np.diff(seen.indptr))[:20]  # users who have hundreds of items
    assert (found[heavy] >= 0).all()


def test_very_selective_filter_is_answered_exactly(als, hnsw, exact, users, queries, rng):
    allowed = np.zeros(als.n_items, dtype=bool)
    allowed[rng.choice(als.n_items, 15, replace=False)] = True
    seen = als.seen_[users]
    idx, scores = retrieve(hnsw, queries, 10, exclude=seen, allowed=allowed)
    ref_idx, ref_scores = retrieve(exact, queries, 10, exclude=seen, allowed=allowed)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(scores, ref_scores)
    brute = queries @ als.item_embeddings().T  # an independent answer: mask, sort
    brute[:, ~allowed] = -np.inf
    brute[seen.nonzero()] = -np.inf
    expected = np.where(
        np.isfinite(-np.sort(-brute, axis=1)[:, :10]), np.argsort(-brute, axis=1)[:, :10], -1
    )
    assert (idx == expected).mean() > 0.999  # float32 rounding may swap near-ties
    eligible = 15 - np.asarray(seen[:, allowed].sum(axis=1)).ravel()
    np.testing.assert_array_equal((idx >= 0).sum(axis=1), np.minimum(10, eligible))
    assert allowed[idx[idx >= 0]].all()


def test_rows_with_too_few_survivors_fall_back_to_exact(
    als, hnsw, exact, users, queries, monkeypatch
):
    # Allow only the 400 items users like least: the ANN's candidates are nearly all
    # filtered out, so rows must be completed by exact scoring.
    allowed = np.zeros(als.n_items, dtype=bool)
    allowed[np.argsort(queries.mean(axis=0) @ als.item_embeddings().T)[:400]] = True
    seen = als.seen_[users]
    scored_exactly: list[int] = []

    def spy(vectors, q, k, **kw):
        scored_exactly.append(len(q))
        return exact_top_k(vectors, q, k, **kw)

    monkeypatch.setattr(ann, "exact_top_k", spy)
    idx, _ = retrieve(hnsw, queries, 10, exclude=seen, allowed=allowed, oversample=1.0)
    monkeypatch.undo()
    # Rows asking for more than 20% of the catalogue skip the ANN; the rest went through it.
    wanted = (10 + np.diff(seen.indptr)) * als.n_items / allowed.sum()
    skipped = int((wanted > ann.EXACT_ABOVE_FRACTION * als.n_items).sum())
    assert skipped < len(users) / 2
    assert len(scored_exactly) == 1 and scored_exactly[0] > skipped + 100
    truth, _ = retrieve(exact, queries, 10, exclude=seen, allowed=allowed)
    assert (idx >= 0).all() and allowed[idx].all()
    assert recall(idx, truth) >= 0.95


def test_retrieve_pads_when_fewer_than_k_are_eligible(hnsw, queries, als):
    allowed = np.zeros(als.n_items, dtype=bool)
    allowed[:3] = True
    exclude = sp.csr_matrix(([1.0], ([0], [0])), shape=(2, als.n_items))
    idx, scores = retrieve(hnsw, queries[:2], 5, exclude=exclude, allowed=allowed)
    assert sorted(idx[0, :2]) == [1, 2] and (idx[0, 2:] == -1).all()
    assert sorted(idx[1, :3]) == [0, 1, 2] and (idx[1, 3:] == -1).all()
    assert np.isneginf(scores[0, 2:]).all()


# ---------------------------------------------------------------------- persistence
@pytest.mark.parametrize("backend", ["hnsw", "exact"])
def test_save_load_gives_identical_results(backend, vectors, queries, tmp_path, als, users):
    index = ANNIndex(vectors, backend, M=12, ef_construction=50, ef_search=40)
    folder = index.save(tmp_path / "index")
    loaded = ANNIndex.load(folder)
    assert loaded.params() == index.params()
    for got, want in zip(loaded.search(queries, 10), index.search(queries, 10), strict=True):
        np.testing.assert_array_equal(got, want)
    seen = als.seen_[users]
    got = retrieve(loaded, queries, 10, exclude=seen)
    want = retrieve(index, queries, 10, exclude=seen)
    np.testing.assert_array_equal(got[0], want[0])
    assert [p.name for p in tmp_path.iterdir()] == ["index"]  # no temporary left behind


def test_save_replaces_an_index_but_not_other_folders(vectors, tmp_path):
    small = ANNIndex(vectors[:100], "exact")
    small.save(tmp_path / "index")
    ANNIndex(vectors, ef_construction=20).save(tmp_path / "index")
    assert len(ANNIndex.load(tmp_path / "index")) == len(vectors)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an ANN index"):
        small.save(tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"


def test_load_refuses_incomplete_folders(vectors, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"index\.json"):
        ANNIndex.load(tmp_path)
    ANNIndex(vectors[:50], ef_construction=20).save(tmp_path / "index")
    (tmp_path / "index" / ann.GRAPH_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="incomplete"):
        ANNIndex.load(tmp_path / "index")


# ---------------------------------------------------------------------- errors, logs
def test_bad_input_errors(vectors, queries, hnsw):
    bad = vectors.copy()
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*row 7"):
        ANNIndex(bad)
    with pytest.raises(ValueError, match="empty"):
        ANNIndex(np.zeros((0, 8), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        ANNIndex(vectors[0])
    with pytest.raises(ValueError, match="not a dot product"):
        ANNIndex(None)
    with pytest.raises(ValueError, match="backend"):
        ANNIndex(vectors, "annoy")
    with pytest.raises(ValueError, match="M >= 2"):
        ANNIndex(vectors, M=1)
    with pytest.raises(ValueError, match=r"shape \(n, 32\)"):
        hnsw.search(queries[:, :16], 10)
    with pytest.raises(ValueError, match="reshape"):
        hnsw.search(queries[0], 10)
    with pytest.raises(ValueError, match="k must"):
        hnsw.search(queries, 0)
    nan_query = queries[:2].copy()
    nan_query[1, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        retrieve(hnsw, nan_query, 10)
    with pytest.raises(ValueError, match="exclude has shape"):
        retrieve(hnsw, queries[:2], 10, exclude=sp.csr_matrix((3, len(vectors))))
    with pytest.raises(TypeError, match="sparse"):
        retrieve(hnsw, queries[:2], 10, exclude=np.zeros((2, len(vectors))))
    with pytest.raises(ValueError, match="boolean mask"):
        retrieve(hnsw, queries[:2], 10, allowed=np.arange(10))
    with pytest.raises(ValueError, match="ef_search"):
        hnsw.ef_search = 0


def test_build_is_logged_with_its_time(vectors, caplog):
    with caplog.at_level(logging.INFO, logger="shopsense.ann"):
        index = ANNIndex(vectors[:200], ef_construction=20)
    assert "built hnsw index: 200 items × 32 dims" in caplog.text
    assert index.build_seconds > 0


def test_progress_bar_on_request(vectors, capsys):
    ANNIndex(vectors[:50], ef_construction=20, progress=True)
    assert "hnsw build" in capsys.readouterr().err
    ANNIndex(vectors[:50], ef_construction=20)  # small: no bar by default
    assert "hnsw build" not in capsys.readouterr().err


def test_index_folder_holds_no_pickle(vectors, tmp_path):
    folder = ANNIndex(vectors[:50], ef_construction=20).save(tmp_path / "index")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [ann.PARAMS_FILE, ann.VECTORS_FILE, ann.GRAPH_FILE]
    )
    np.load(folder / ann.VECTORS_FILE, allow_pickle=False)  # raises if it needed pickle
    assert Path(folder / ann.PARAMS_FILE).read_text().startswith("{")

"""Sentiment models learn on real reviews (well above the majority class), survive odd
input, and give the same predictions after save -> load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopsense.registry import model_class
from shopsense.reviews.sentiment import SentimentClassifier, sentiment_metrics
from tests.reviews.conftest import halves

ODD = ["", "😍😍😍", "😡", "质量很好 but the size is wrong", "好" * 50_000, "   ", "!!!"]
SMALL_NET = {"embedding_size": 48, "hidden_size": 48, "max_len": 64, "epochs": 3}


def _fit_and_check(
    kind: str, frame: pd.DataFrame, train: int, floor: float, tmp_path, **params
) -> SentimentClassifier:
    fit, test = halves(frame, train)
    model = SentimentClassifier(kind, **params).fit(list(fit["text"]), fit["label"].to_numpy())
    p = model.predict_proba(list(test["text"]))
    m = sentiment_metrics(test["label"], (p >= 0.5).astype(int), test["category"])
    # balanced slices: the majority class is right half of the time
    assert m["majority_accuracy"] <= 0.56
    assert m["accuracy"] >= floor and m["macro_f1"] >= floor - 0.02, (kind, m)
    assert set(m["per_category"]) == set(test["category"])
    odd = model.predict_proba(ODD)
    assert odd.shape == (len(ODD),) and np.isfinite(odd).all() and odd.dtype == np.float32
    loaded = SentimentClassifier.load(model.save(tmp_path / kind))
    np.testing.assert_allclose(loaded.predict_proba(list(test["text"])), p, atol=1e-5)
    np.testing.assert_allclose(loaded.predict_proba(ODD), odd, atol=1e-5)
    return model


@pytest.mark.parametrize("language", ["en", "zh"])
def test_tfidf_learns_the_shops_own_reviews(shop_reviews, language, tmp_path) -> None:
    """The shop's 221 rated reviews per language: 70% to learn, 30% held out."""
    frame = shop_reviews[shop_reviews["language"] == language].reset_index(drop=True)
    fit, test = halves(frame, int(0.7 * len(frame)))
    model = SentimentClassifier("tfidf").fit(list(fit["text"]), fit["label"].to_numpy())
    p = model.predict_proba(list(test["text"]))
    m = sentiment_metrics(test["label"], (p >= 0.5).astype(int), test["category"])
    # positives are the majority (about 70%): it must beat saying "positive" to everyone
    assert m["accuracy"] >= m["majority_accuracy"] + 0.08 and m["macro_f1"] >= 0.65, m
    loaded = SentimentClassifier.load(model.save(tmp_path / language))
    np.testing.assert_allclose(loaded.predict_proba(list(test["text"])), p, atol=1e-6)


def test_tfidf_learns_chinese(zh_reviews, tmp_path) -> None:
    _fit_and_check("tfidf", zh_reviews, 3000, 0.85, tmp_path)


def test_tfidf_learns_english(en_reviews, tmp_path) -> None:
    _fit_and_check("tfidf", en_reviews, 3000, 0.80, tmp_path)


def test_textcnn_learns_chinese_on_the_trainer(zh_reviews, tmp_path) -> None:
    model = _fit_and_check("textcnn", zh_reviews, 3000, 0.78, tmp_path, **SMALL_NET)
    result = model.train_result_
    assert result is not None and result.epochs >= 1 and result.best_metric > 0.7


def test_bilstm_learns_english_on_the_trainer(en_reviews, tmp_path) -> None:
    _fit_and_check("bilstm", en_reviews, 2500, 0.72, tmp_path, **SMALL_NET)


def test_minilm_classifier_learns_english(en_reviews, tmp_path) -> None:
    short = en_reviews[en_reviews["text"].str.len() < 160].reset_index(drop=True)
    frame = pd.concat([short[short["label"] == c].head(250) for c in (0, 1)])
    _fit_and_check("minilm", frame.reset_index(drop=True), 350, 0.75, tmp_path)


def test_registered_and_clear_errors(tmp_path) -> None:
    assert model_class("sentiment_classifier") is SentimentClassifier
    with pytest.raises(RuntimeError, match="not fitted"):
        SentimentClassifier().predict(["x"])
    with pytest.raises(ValueError, match="unknown kind"):
        SentimentClassifier("bert").fit(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="both positive and negative"):
        SentimentClassifier().fit(["a", "b"], [1, 1])
    with pytest.raises(ValueError, match="0 \\(negative\\) or 1"):
        SentimentClassifier().fit(["a", "b"], [1, 5])
    with pytest.raises(TypeError, match="list of texts"):
        SentimentClassifier().fit("ab", [0, 1])
    with pytest.raises(FileNotFoundError, match="no saved model"):
        SentimentClassifier.load(tmp_path)

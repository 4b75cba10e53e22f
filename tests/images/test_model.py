"""The CNN learns real product photos, and a saved model gives the same logits."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.images.model import ImageClassifier, ResNetSmall
from shopsense.registry import model_class


def test_learns_categories_far_above_chance(fitted, test_set):
    accuracy = float((fitted.predict(test_set) == test_set.labels).mean())
    majority = max(np.mean(test_set.labels == c) for c in fitted.classes_)
    assert accuracy > 0.75 > majority + 0.5, accuracy
    assert fitted.train_result_.best_metric > 0.7  # the validation slice agrees


def test_probabilities_and_embeddings_are_well_formed(fitted, test_set):
    proba = fitted.predict_proba(test_set.images[:50])
    assert proba.shape == (50, 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    emb = fitted.embed(test_set)
    assert emb.shape == (len(test_set), 64) and np.allclose(np.linalg.norm(emb, axis=1), 1, 1e-4)


def test_save_load_gives_the_same_logits(fitted, test_set, tmp_path):
    fitted.save(tmp_path / "m")
    loaded = model_class("image_classifier").load(tmp_path / "m")
    assert loaded.classes_ == fitted.classes_
    np.testing.assert_array_equal(loaded.logits(test_set), fitted.logits(test_set))


def test_clear_errors(fitted, train_set):
    with pytest.raises(RuntimeError, match="not fitted"):
        ImageClassifier().predict(train_set)
    with pytest.raises(ValueError, match="uint8"):
        fitted.predict(np.zeros((2, 20, 20), dtype=np.uint8))
    one = train_set.subset(train_set.labels == train_set.labels[0])
    with pytest.raises(ValueError, match="at least 2 categories"):
        ImageClassifier(epochs=1).fit(one)
    with pytest.raises(ValueError, match="same length"):
        ResNetSmall((8, 16), (1,), 10, 0.0)

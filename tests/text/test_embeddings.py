"""SentenceEncoder: the bundled MiniLM embeds offline into unit-length float32 vectors."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from shopsense.text import embeddings
from shopsense.text.embeddings import DIMENSION, SentenceEncoder


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("the sentence encoder tried to reach the network")


@pytest.fixture(scope="session")
def encoder() -> SentenceEncoder:
    """The bundled model, loaded afresh with every socket connection refused."""
    enc = SentenceEncoder(device="cpu")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        mp.setattr(embeddings, "_MODELS", {})  # bypass models other tests loaded
        assert enc.model is not None
    return enc


def test_embeds_offline_into_unit_float32_vectors(encoder: SentenceEncoder) -> None:
    texts = ["red cotton t-shirt", "crimson cotton tee", "stainless steel saucepan"]
    v = encoder.encode(texts, progress=False)
    assert v.shape == (3, DIMENSION) == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    # close in meaning, close in space
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert v[0] @ v[1] > v[1] @ v[2] + 0.2


def test_rows_follow_the_input_and_batches_do_not_matter(encoder: SentenceEncoder) -> None:
    texts = ["blue ceramic mug", "wooden chopping board", "blue ceramic mug"]
    one = encoder.encode(texts, batch_size=1, progress=False)
    many = encoder.encode(texts, batch_size=64, progress=False)
    np.testing.assert_allclose(one, many, atol=1e-5)
    np.testing.assert_allclose(one[0], one[2], atol=1e-6)
    assert encoder.encode([], progress=False).shape == (0, 384)
    with pytest.raises(TypeError, match="list of texts"):
        encoder.encode("one string")

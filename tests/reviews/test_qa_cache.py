"""Passage embeddings are computed once and saved with the QA index: a warm question embeds
only itself, a restarted process reads the vectors back, a new review embeds only itself,
and the answers are the ones embedding every passage per request gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopsense.config import Settings
from shopsense.data.store import Store
from shopsense.reviews import qa_cache, workflows
from shopsense.reviews.qa import AnswerIndex
from shopsense.text.embeddings import SentenceEncoder
from tests import shop


class _Counting:
    """The real encoder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        self.inner, self.texts = SentenceEncoder(), 0
        self.model_path = None

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.encode(texts, batch_size=batch_size, progress=False)


@pytest.fixture()
def store(tmp_path) -> tuple[Settings, list[str]]:
    """The shop's reviews and questions of its three most discussed items."""
    questions, reviews = shop.questions(), shop.reviews()
    items = list(questions["item_id"].value_counts().index[:3])
    settings = Settings(store_path=tmp_path / "s.duckdb", models_dir=tmp_path / "m")
    with Store(settings.store_path) as st:
        kept = reviews[reviews["item_id"].isin(items)].drop(columns="label")
        st.write_frame("reviews", kept, source="shop")
        st.write_frame("questions", questions[questions["item_id"].isin(items)], source="shop")
    qa_cache._CACHED.clear()
    return settings, items


def test_passages_are_embedded_once_and_read_back_after_a_restart(store) -> None:
    settings, items = store
    enc = _Counting()
    index = qa_cache.passage_index(settings, encoder=enc)
    passages, vectors = index.for_item(items[0])
    first = enc.texts
    assert first == len(passages) > 0 and vectors.shape == (len(passages), 384)
    _, same = qa_cache.passage_index(settings, encoder=enc).for_item(items[0])
    assert enc.texts == first and np.array_equal(same, vectors)  # warm: nothing embedded
    qa_cache._CACHED.clear()  # a new process: vectors come from the saved index
    reread = qa_cache.passage_index(settings, encoder=enc)
    assert np.array_equal(reread.for_item(items[0])[1], vectors) and enc.texts == first
    assert reread.embed_all() == reread.passages.shape[0] - len(passages)


def test_a_new_review_embeds_only_itself(store) -> None:
    settings, items = store
    enc = _Counting()
    qa_cache.passage_index(settings, encoder=enc).embed_all()
    before = enc.texts
    new = (
        shop.reviews()
        .drop(columns="label")
        .iloc[:1]
        .assign(review_id="new-1", item_id=items[0], title=None, text="The lid cracked on day two.")
    )
    with Store(settings.store_path) as st:
        st.write_frame("reviews", new, source="shop")
    passages, _ = qa_cache.passage_index(settings, encoder=enc).for_item(items[0])
    assert enc.texts == before + 1 and "new-1" in set(passages["source_id"])


def test_answers_match_embedding_every_passage_per_request(store) -> None:
    settings, items = store
    question = "how long do they keep?"
    for item in items:
        got = workflows.ask(settings, question, item, k=3)
        passages, _ = qa_cache.passage_index(settings).for_item(item)
        fresh = AnswerIndex("embedding").build(passages).search([question], [item], k=3)
        assert list(got["source_id"]) == list(fresh["source_id"])
    with pytest.raises(KeyError, match="knows nothing"):
        workflows.ask(settings, question, "no-such-item")
    hybrid = workflows.ask(settings, question, items[0], k=3, method="hybrid")
    assert len(hybrid) == 3 and isinstance(hybrid, pd.DataFrame)

"""Reviews in the service: sentiment scores, a product's aspects, answers with sources."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shopsense.config import Settings
from shopsense.data.store import Store
from shopsense.reviews import workflows
from shopsense.serve.app import create_app
from tests import shop


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """The test shop's own reviews (English and Chinese) and questions."""
    root = tmp_path_factory.mktemp("serve-reviews")
    # one client asks everything here: the per-client cost limits are tested elsewhere
    settings = Settings(
        store_path=root / "s.duckdb", models_dir=root / "m", threads=1, rate_burst=1000
    )
    with Store(settings.store_path) as store:
        store.write_frame("reviews", shop.reviews().drop(columns="label"), source="shop")
        store.write_frame("questions", shop.questions(), source="shop")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        r = c.post("/v1/reviews/sentiment", json={"texts": ["nice"]})
        assert r.status_code == 503 and "reviews train" in r.json()["detail"]
        workflows.train(settings, language="en")
        yield c


def test_sentiment_scores_texts(client: TestClient) -> None:
    texts = ["Lovely and fresh, great value", "Awful, arrived rotten and mouldy"]
    r = client.post("/v1/reviews/sentiment", json={"texts": texts})
    assert r.status_code == 200, r.text
    scores = r.json()["scores"]
    assert scores[0]["sentiment"] == "positive" and scores[1]["sentiment"] == "negative"
    assert scores[0]["model"] == "sentiment-en/v0001" and scores[0]["language"] == "en"
    assert client.post("/v1/reviews/sentiment", json={"texts": []}).status_code == 422
    assert client.post("/v1/reviews/sentiment", json={"text": "x"}).status_code == 422


def test_a_language_without_a_model_is_refused_naming_the_models(client: TestClient) -> None:
    """Only an English model is trained: Chinese is refused, never scored by it."""
    r = client.post("/v1/reviews/sentiment", json={"texts": ["Great", "质量很好，很喜欢"]})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "text 1 is in language 'zh'" in detail and "en (sentiment-en)" in detail


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_empty_text_is_refused(client: TestClient, blank: str) -> None:
    r = client.post("/v1/reviews/sentiment", json={"texts": ["Great", blank]})
    assert r.status_code == 422 and "empty" in r.text


def test_item_aspects(client: TestClient) -> None:
    reviews = shop.reviews()
    item = reviews.loc[reviews["language"] == "en", "item_id"].value_counts().index[0]
    r = client.get(f"/v1/items/{item}/aspects")
    assert r.status_code == 200, r.text
    aspects = {a["aspect"]: a for a in r.json()["aspects"]}
    assert aspects and all(a["mentions"] >= 1 for a in aspects.values())
    ex = [e for a in aspects.values() for e in a["praised_in"] + a["complained_in"]]
    known = set(reviews.loc[reviews["item_id"] == item, "review_id"])
    assert ex and {e["review_id"] for e in ex} <= known
    assert client.get("/v1/items/no-such-item/aspects").status_code == 404


def test_answers_carry_sources_that_exist(client: TestClient) -> None:
    questions, reviews = shop.questions(), shop.reviews()
    item = questions["item_id"].value_counts().index[0]
    body = {"question": "how long do they keep?", "item_id": item, "k": 3}
    r = client.post("/v1/questions/answer", json=body)
    assert r.status_code == 200, r.text
    passages = r.json()["passages"]
    known = {
        "answer": set(questions.loc[questions["item_id"] == item, "question_id"]),
        "review": set(reviews.loc[reviews["item_id"] == item, "review_id"]),
    }
    assert len(passages) == 3
    assert all(p["source"]["id"] in known[p["source"]["type"]] for p in passages), passages
    bad = client.post("/v1/questions/answer", json=body | {"method": "magic"})
    assert bad.status_code == 422
    missing = client.post("/v1/questions/answer", json=body | {"item_id": "none"})
    assert missing.status_code == 404
    # the passage encoder reads English: a Chinese question is refused, not mis-answered
    chinese = client.post("/v1/questions/answer", json=body | {"question": "能放多久？"})
    assert chinese.status_code == 422 and "bm25" in chinese.json()["detail"]
    by_words = body | {"question": "能放多久？", "method": "bm25"}
    assert client.post("/v1/questions/answer", json=by_words).status_code == 200

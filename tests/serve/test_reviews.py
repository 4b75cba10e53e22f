"""Reviews in the service: sentiment scores, a product's aspects, answers with sources."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shopsense.config import Settings
from shopsense.data.store import Store
from shopsense.reviews import workflows
from shopsense.serve.app import create_app
from tests.reviews.conftest import en_reviews, qa_questions  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def client(tmp_path_factory, en_reviews, qa_questions):  # noqa: F811
    root = tmp_path_factory.mktemp("serve-reviews")
    settings = Settings(store_path=root / "s.duckdb", models_dir=root / "m", threads=1)
    with Store(settings.store_path) as store:
        store.write_frame("reviews", en_reviews.drop(columns="label"), source="slice")
        store.write_frame("questions", qa_questions, source="slice")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        r = c.post("/v1/reviews/sentiment", json={"texts": ["nice"]})
        assert r.status_code == 503 and "reviews train" in r.json()["detail"]
        workflows.train(settings, language="en")
        yield c


def test_sentiment_scores_texts(client: TestClient) -> None:
    r = client.post("/v1/reviews/sentiment", json={"texts": ["Love it, fits perfectly", "Awful"]})
    assert r.status_code == 200, r.text
    scores = r.json()["scores"]
    assert scores[0]["sentiment"] == "positive" and scores[1]["sentiment"] == "negative"
    assert scores[0]["model"] == "sentiment-en/v0001" and scores[0]["language"] == "en"
    assert client.post("/v1/reviews/sentiment", json={"texts": []}).status_code == 422
    assert client.post("/v1/reviews/sentiment", json={"text": "x"}).status_code == 422


def test_item_aspects(client: TestClient, en_reviews) -> None:  # noqa: F811
    item = en_reviews["item_id"].value_counts().index[0]
    r = client.get(f"/v1/items/{item}/aspects")
    assert r.status_code == 200, r.text
    aspects = {a["aspect"]: a for a in r.json()["aspects"]}
    assert "fit" in aspects and aspects["fit"]["mentions"] >= 1
    ex = aspects["fit"]["praised_in"] + aspects["fit"]["complained_in"]
    assert ex and all(e["review_id"].startswith("wc-") for e in ex)
    assert client.get("/v1/items/no-such-item/aspects").status_code == 404


def test_answers_carry_sources_that_exist(client: TestClient, qa_questions) -> None:  # noqa: F811
    item = qa_questions["item_id"].iloc[0]
    body = {"question": "how do I install it?", "item_id": item, "k": 3}
    r = client.post("/v1/questions/answer", json=body)
    assert r.status_code == 200, r.text
    passages = r.json()["passages"]
    known = set(qa_questions.loc[qa_questions["item_id"] == item, "question_id"])
    assert len(passages) == 3 and {p["source"]["id"] for p in passages} <= known
    assert all(p["source"]["type"] == "answer" for p in passages)
    bad = client.post("/v1/questions/answer", json=body | {"method": "magic"})
    assert bad.status_code == 422
    missing = client.post("/v1/questions/answer", json=body | {"item_id": "none"})
    assert missing.status_code == 404

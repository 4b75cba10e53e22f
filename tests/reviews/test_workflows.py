"""The review jobs end to end on a temporary store: load, train, score, aspects, reply, ask."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shopsense.config import Settings
from shopsense.data.sources import SourceData, conform
from shopsense.data.store import Store
from shopsense.registry import Registry
from shopsense.reviews import workflows


@pytest.fixture(scope="module")
def shop(tmp_path_factory, en_reviews, zh_reviews, qa_questions) -> Settings:
    """A store with 4,000 English and 4,000 Chinese reviews and 40 products' Q&A, and a
    TF-IDF model per language."""
    root = tmp_path_factory.mktemp("reviews-shop")
    settings = Settings(
        store_path=root / "shop.duckdb", models_dir=root / "models", reports_dir=root / "r"
    )
    with Store(settings.store_path) as store:
        for frame in (en_reviews, zh_reviews):
            store.write_frame("reviews", frame.drop(columns="label"), source="slice")
        store.write_frame("questions", qa_questions, source="slice")
        item = qa_questions["item_id"].iloc[0]
        desc = {"item_id": [item], "title": ["Filter"], "description": ["Fits most fridges."]}
        store.write_frame("items", conform("items", pd.DataFrame(desc)), source="slice")
    workflows.train(settings, language="en")
    workflows.train(settings, language="zh")
    return settings


def test_train_saves_a_version_per_language_with_test_metrics(shop: Settings) -> None:
    registry = Registry(shop.models_dir)
    for lang in ("en", "zh"):
        version = registry.active("reviews", f"sentiment-{lang}")
        assert version.metrics["accuracy"] > version.metrics["majority_accuracy"] + 0.25
    assert any(Path(shop.reports_dir).glob("sentiment-zh-*.json"))


def test_scores_route_each_text_to_its_language(shop: Settings) -> None:
    out = workflows.score(shop, ["质量很好，很喜欢", "质量太差了，退货", "Love it, fits well"])
    assert list(out["language"]) == ["zh", "zh", "en"]
    assert out["score"].iloc[0] > 0.5 > out["score"].iloc[1]
    assert out["model"].iloc[0].startswith("sentiment-zh/")
    assert out["model"].iloc[2].startswith("sentiment-en/")


def test_a_text_without_a_model_of_its_language_is_refused_not_scored(shop: Settings) -> None:
    texts = ["Love it", "", "   ", "Очень хорошее платье", "とても良い服です"]
    with pytest.raises(workflows.UnsupportedLanguage) as caught:
        workflows.score(shop, texts)
    err = caught.value
    assert err.problems == [(1, "empty"), (2, "empty"), (3, "und-Cyrl"), (4, "ja")]
    assert err.available == ["en", "zh"]
    assert "text 3 is in language 'und-Cyrl'" in str(err) and "sentiment-zh" in str(err)
    with pytest.raises(workflows.UnsupportedLanguage, match="'ja'"):
        workflows.sentiment_model(shop, "ja")


def test_a_version_is_loaded_once_and_a_new_one_replaces_it(shop: Settings) -> None:
    first, label = workflows.sentiment_model(shop, "en")
    again, _ = workflows.sentiment_model(shop, "en")
    assert again is first  # the service does not re-read the model per request
    registry = Registry(shop.models_dir)
    older = registry.active("reviews", "sentiment-en")
    newer = registry.save(first, task="reviews", name="sentiment-en")
    try:
        assert workflows.sentiment_model(shop, "en")[1] == label  # waits for activation
        registry.activate("reviews", "sentiment-en", newer.version)
        model, new_label = workflows.sentiment_model(shop, "en")
        assert new_label.endswith(newer.version) and new_label != label
        assert model is not first
    finally:
        registry.activate("reviews", "sentiment-en", older.version)


def test_aspects_reply_and_ask(shop: Settings, en_reviews) -> None:
    item = en_reviews["item_id"].value_counts().index[0]
    summary = workflows.item_aspects(shop, item)
    assert {"fit", "look"} <= set(summary["aspect"])
    assert summary["mentions"].sum() >= summary["praise"].sum() + summary["complaints"].sum()
    negative = en_reviews[en_reviews["label"] == 0].iloc[0]
    draft = workflows.reply(shop, review_id=negative["review_id"])
    assert draft.aspects and draft.quoted and draft.quoted.rstrip(".") in negative["text"]
    assert draft.quoted[:40] in draft.text
    with pytest.raises(KeyError):
        workflows.item_aspects(shop, "no-such-item")
    hits = workflows.ask(shop, "does this fit my fridge?", str(_first_qa_item(shop)), k=3)
    assert len(hits) == 3 and set(hits["source"]) <= {"answer", "review", "description"}
    with pytest.raises(KeyError, match="knows nothing"):
        workflows.ask(shop, "x", "no-such-item")


def _first_qa_item(settings: Settings) -> str:
    with Store(settings.store_path, read_only=True) as store:
        return store.query("SELECT min(item_id) AS i FROM questions")["i"].iloc[0]


def test_load_a_source_into_the_store(tmp_path, monkeypatch) -> None:
    frame = conform("reviews", pd.DataFrame({"review_id": ["1"], "item_id": ["i"], "text": ["ok"]}))
    fake = SourceData("tiny", {"reviews": frame})
    monkeypatch.setattr("shopsense.data.sources.SOURCES", {"tiny": lambda root: fake})
    reports = workflows.load(Settings(store_path=tmp_path / "s.duckdb"), "tiny")
    assert reports[0].rows_inserted == 1


def test_a_question_the_encoder_cannot_read_is_refused(shop: Settings) -> None:
    item = str(_first_qa_item(shop))
    with pytest.raises(workflows.QuestionLanguage, match=r"'zh'.*bm25"):
        workflows.ask(shop, "这个适合我的冰箱吗？", item)
    with pytest.raises(workflows.QuestionLanguage, match="'de'"):
        workflows.ask(shop, "Passt dieser Filter in meinen Kühlschrank?", item)
    assert len(workflows.ask(shop, "这个适合我的冰箱吗？", item, k=2, method="bm25")) == 2


def test_aspects_read_one_language_and_say_how_many_reviews_they_left_out(
    shop: Settings, en_reviews, tmp_path
) -> None:
    """An item with English reviews and a few German ones: the German ones are not scored
    by the English model, and the answer says they were left out."""
    import shutil

    settings = shop.model_copy(update={"store_path": tmp_path / "shop.duckdb"})
    shutil.copy(shop.store_path, settings.store_path)
    item = en_reviews["item_id"].value_counts().index[0]
    german = pd.DataFrame(
        {
            "review_id": ["de-1", "de-2"],
            "item_id": [item, item],
            "text": ["Die Passform ist schlecht.", "Das Aussehen ist wunderbar."],
            "language": ["de", "de"],
        }
    )
    with Store(settings.store_path) as store:
        store.write_frame("reviews", conform("reviews", german), source="german")
    summary = workflows.item_aspects(settings, item)
    assert summary.attrs == {"language": "en", "left_out": 2}
    examples = [e["review_id"] for col in ("praised_in", "complained_in") for x in summary[col]
                for e in x]  # fmt: skip
    assert not {"de-1", "de-2"} & set(examples)

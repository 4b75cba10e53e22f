"""Review jobs over the store and the registry, shared by the CLI, the service and the
benchmark: load a review corpus, train and save a sentiment model, score texts, summarise a
product's aspects, draft replies and answer questions with sources.

Sentiment models are saved per language as `reviews/sentiment-<language>`; scoring routes
each text to the model of its detected language and to no other: a text whose language has
no model is refused (`UnsupportedLanguage`), never scored by a model of another language.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shopsense.config import Settings
from shopsense.data.store import IngestReport, Store
from shopsense.data.texts import item_passages, labelled_reviews, quote, read_reviews, review_labels
from shopsense.persist import write_json
from shopsense.registry import ModelVersion, Registry
from shopsense.reviews.splits import SPLIT_SEED, split_reviews
from shopsense.reviews.tokenize import detect_language
from shopsense.workflows import open_store

TASK = "reviews"
LANGUAGES = ("en", "zh")


def model_name(language: str) -> str:
    return f"sentiment-{language}"


# ----------------------------------------------------------------------------- data
def load(settings: Settings, source: str, root: Path | str | None = None) -> list[IngestReport]:
    """Load a public review / Q&A data set into the store (rows already there are replaced)."""
    from shopsense.data.sources import load_source

    data = load_source(source, root)
    with Store(settings.store_path) as store:
        return [
            store.write_frame(table, frame, source=data.name)
            for table, frame in data.tables.items()
        ]


def _reviews(settings: Settings, where: str | None = None) -> pd.DataFrame:
    with open_store(settings) as store:
        return read_reviews(store, where=where)


# ----------------------------------------------------------------------------- train
@dataclass(frozen=True)
class TrainRun:
    version: ModelVersion
    metrics: dict[str, Any]
    report_path: Path


def train(
    settings: Settings,
    *,
    language: str | None = None,
    kind: str = "tfidf",
    params: dict[str, Any] | None = None,
) -> TrainRun:
    """Fit a sentiment model on the store's reviews of `language` (default: the most
    common), on the published split; save it as reviews/sentiment-<language> with its test
    metrics, and write a report."""
    from shopsense.reviews.sentiment import SentimentClassifier, sentiment_metrics

    reviews = _reviews(settings)
    if reviews.empty:
        raise ValueError("the store holds no reviews; run `shopsense reviews load SOURCE` first")
    language = language or str(reviews["language"].mode().iloc[0])
    corpus = labelled_reviews(reviews[reviews["language"] == language].reset_index(drop=True))
    texts, y, cats = corpus.texts, corpus.labels, corpus.categories
    if len(corpus) < 50 or len(np.unique(y)) < 2:
        raise ValueError(f"too few labelled {language} reviews to train ({len(corpus)})")
    split = split_reviews(y, cats)
    model = SentimentClassifier(kind=kind, **(params or {}))
    model.fit(texts[split.train], y[split.train], texts[split.val], y[split.val])
    metrics = sentiment_metrics(y[split.test], model.predict(texts[split.test]), cats[split.test])
    flat = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    version = Registry(settings.models_dir).save(
        model,
        task=TASK,
        name=model_name(language),
        metrics=flat,
        data={"language": language, "reviews": len(corpus), "split_seed": SPLIT_SEED}
        | {f"{k}_rows": v for k, v in split.sizes().items()},
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(settings.reports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sentiment-{language}-{stamp}.json"
    write_json(
        path,
        {"model": f"{version.name}/{version.version}", "kind": kind, "metrics": metrics}
        | {"split": split.sizes(), "split_seed": SPLIT_SEED},
    )
    return TrainRun(version, metrics, path)


# ----------------------------------------------------------------------------- use
_LOADED: dict[str, Any] = {}  # version folder -> model (a saved version never changes)
_LOADED_MAX = 4
_LOCK = threading.Lock()


class UnsupportedLanguage(ValueError):
    """Texts whose language has no trained sentiment model (or that are empty).

    `problems` lists (position, detected language) per refused text; `available` the
    languages that do have a model."""

    def __init__(self, problems: list[tuple[int, str]], available: list[str]) -> None:
        self.problems, self.available = problems, available
        parts = []
        for pos, lang in problems:
            what = "is empty" if lang == EMPTY else f"is in {_language_name(lang)}"
            parts.append(f"text {pos} {what}")
        have = ", ".join(f"{x} ({model_name(x)})" for x in available) or "none"
        super().__init__(
            "; ".join(parts) + f": no sentiment model for it. Models exist for: {have}"
        )


EMPTY = "empty"


class QuestionLanguage(ValueError):
    """A question the chosen answer method cannot read (empty, or not English for the
    embedding encoder)."""


def _language_name(code: str) -> str:
    if code == "und":
        return "no language that can be told (no letters)"
    return f"language {code!r}"


def available_languages(settings: Settings) -> list[str]:
    """Languages with a sentiment model that can serve, sorted (asking records nothing)."""
    registry = Registry(settings.models_dir)
    out = []
    for name in sorted({v.name for v in registry.versions(TASK)}):
        if not name.startswith("sentiment-"):
            continue
        try:  # an active.json naming a deleted version: that language cannot serve
            registry.would_serve(TASK, name, auto_activate=settings.auto_activate)
        except FileNotFoundError:
            continue
        out.append(name.removeprefix("sentiment-"))
    return out


def sentiment_model(settings: Settings, language: str) -> tuple[Any, str]:
    """The serving sentiment model of `language` (`Registry.serving`: a version trained
    later serves once activated) and its label; FileNotFoundError when no sentiment model
    exists at all, `UnsupportedLanguage` when only other languages have one.

    Loaded once per version folder and kept (a few at most): the service scores texts per
    request, and reading a TF-IDF vocabulary again each time would cost more than scoring.
    """
    registry = Registry(settings.models_dir)
    try:
        version = registry.serving(TASK, model_name(language), auto_activate=settings.auto_activate)
    except FileNotFoundError:
        available = available_languages(settings)
        if not available:
            raise FileNotFoundError(
                "no sentiment model yet; run `shopsense reviews train` after "
                "`shopsense reviews load`"
            ) from None
        raise UnsupportedLanguage([(0, language)], available) from None
    key = str(Path(version.path).resolve())
    with _LOCK:
        model = _LOADED.get(key)
        if model is None:
            model = registry.load(TASK, version.name, version.version)
            while len(_LOADED) >= _LOADED_MAX:
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[key] = model
    return model, f"{version.name}/{version.version}"


def score(settings: Settings, texts: list[str]) -> pd.DataFrame:
    """P(positive) of each text by the model of its language: text, language, score,
    sentiment ("positive"/"negative"), model.

    All or nothing: if any text is empty or in a language without a model, nothing is
    scored and `UnsupportedLanguage` names every such text (FileNotFoundError when no
    sentiment model exists at all)."""
    languages = [detect_language(t) if (t or "").strip() else EMPTY for t in texts]
    available = available_languages(settings)
    if not available:
        raise FileNotFoundError(
            "no sentiment model yet; run `shopsense reviews train` after `shopsense reviews load`"
        )
    refused = [(i, x) for i, x in enumerate(languages) if x not in available]
    if refused:
        raise UnsupportedLanguage(refused, available)
    out = pd.DataFrame({"text": texts, "language": languages, "score": np.nan, "model": ""})
    for lang in sorted(set(languages)):
        model, label = sentiment_model(settings, lang)
        rows = [i for i, x in enumerate(languages) if x == lang]
        out.loc[rows, "score"] = model.predict_proba([texts[i] for i in rows])
        out.loc[rows, "model"] = label
    out["sentiment"] = np.where(out["score"] >= 0.5, "positive", "negative")
    return out[["text", "language", "score", "sentiment", "model"]]


def item_aspects(settings: Settings, item_id: str, *, examples: int = 2) -> pd.DataFrame:
    """What customers praise and complain about for one item (see `AspectExtractor`)."""
    from shopsense.reviews.aspects import AspectExtractor

    reviews = _reviews(settings, where=f"item_id = '{quote(item_id)}'")
    if reviews.empty:
        raise KeyError(f"no reviews of item {item_id!r} in the store")
    languages = reviews["language"].fillna("en").astype(str)
    language = str(languages.mode().iloc[0])
    try:
        model, _ = sentiment_model(settings, language)
    except (FileNotFoundError, UnsupportedLanguage):
        model = None  # the reviews' own ratings mark praise and complaints
    # Aspect phrases are read in the item's main language, by its model: reviews in other
    # languages are left out (never scored by a model of another language), and counted.
    kept = reviews[languages == language]
    extractor = AspectExtractor(sentiment=model)
    frame = extractor.summarize(
        list(kept["text"]),
        review_ids=list(kept["review_id"]),
        labels=list(review_labels(kept)),
        examples=examples,
    )
    frame.attrs |= {"language": language, "left_out": int(len(reviews) - len(kept))}
    return frame


def reply(settings: Settings, *, review_id: str | None = None, text: str | None = None):
    """A drafted reply to a stored review (by id) or to a text: an apology naming the
    complaint for a negative review, a thank-you for any other (see `replies.is_negative`)."""
    from shopsense.reviews.replies import draft_reply

    label: float | None = None
    if review_id is not None:
        found = _reviews(settings, where=f"review_id = '{quote(review_id)}'")
        if found.empty:
            raise KeyError(f"no review {review_id!r} in the store")
        text = str(found["text"].iloc[0])
        label = float(review_labels(found).iloc[0]) if review_labels(found).notna().all() else None
    if not text or not text.strip():
        raise ValueError("give a review id or a review text")
    language = detect_language(text)
    try:
        model, _ = sentiment_model(settings, language)
    except (FileNotFoundError, UnsupportedLanguage) as e:
        if label is None:  # nothing to tell a negative review from a happy one
            raise ValueError(f"no reply drafted: {e}") from None
        model = None
    return draft_reply(text, review_id=review_id, sentiment=model, label=label)


def ask(
    settings: Settings,
    question: str,
    item_id: str,
    *,
    k: int = 5,
    method: str = "embedding",
    versions: tuple[int, ...] | None = None,
) -> pd.DataFrame:
    """The best passages about `item_id` for `question`: past answers, reviews and the
    description, each with its source type and id. Passage embeddings come from the saved
    QA index (`qa_cache`: each passage embedded once), so a question embeds only itself.
    `versions`: the data versions of `qa_cache.TABLES`, when the caller knows them."""
    from shopsense.reviews.qa import AnswerIndex
    from shopsense.reviews.qa_cache import passage_index, shared_encoder

    language = detect_language(question) if question.strip() else EMPTY
    if method != "bm25" and language != "en":  # embedding and hybrid read its vector
        what = "is empty" if language == EMPTY else f"is in {_language_name(language)}"
        raise QuestionLanguage(
            f"the question {what}: the passage encoder (all-MiniLM-L6-v2) reads English "
            "only; ask in English, or with method=bm25, which matches words in any language"
        )
    encoder = shared_encoder()
    if method == "bm25":  # no embeddings needed: read the item's passages only
        with open_store(settings) as store:
            passages, vectors = item_passages(store, item_id), None
    else:
        index = passage_index(settings, encoder=encoder, versions=versions)
        passages, vectors = index.for_item(item_id)
    index = AnswerIndex(method=method, encoder=encoder).build(passages, vectors=vectors)
    return index.search([question], [item_id], k=k).drop(columns="question")


def index_passages(settings: Settings) -> dict[str, int]:
    """Embed the store's passages now (what the first question about each item would
    otherwise wait for): passages, and how many of them were embedded now."""
    from shopsense.reviews.qa_cache import passage_index

    index = passage_index(settings)
    return {"passages": len(index.passages), "embedded": index.embed_all()}

"""Reviews and customer questions: one table of sentiment accuracy and answer retrieval.

- Sentiment, on the published split (`shopsense.reviews.splits`: stratified by category x
  label, seed 20240601, 70/10/20): online_shopping_10_cats (Chinese, positive/negative) and
  women's clothing reviews (English, recommended or not; the model reads "title. text").
  Models: the majority class, TF-IDF + logistic regression, TextCNN, BiLSTM (both on the
  shared trainer, early stopping on the validation part) and, for English, logistic
  regression on MiniLM sentence embeddings. Test accuracy, macro-F1, per-category accuracy,
  train time and scoring throughput (texts/s, one process).
- Aspects: per-aspect precision/recall of aspect detection on the 150 hand-labelled
  clothing-review sentences in tests/reviews/data/aspects_en.csv.
- Answers: amazon-qa-appliances; a seeded 20% of questions are held out and must find their
  own answer among all answers of the same product ("item") and of the whole corpus
  ("corpus"); MRR@10 and Recall@5 for BM25, MiniLM embeddings and their RRF hybrid.

Run:  .venv/bin/python benchmarks/reviews.py --threads 1        (~40 min on one core)
      .venv/bin/python benchmarks/reviews.py --quick            (smoke run, ~3 min)
Writes benchmarks/results/reviews.json (flat records) and reviews.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from provenance import header, provenance, stamp

from shopsense.data.sources import load_source
from shopsense.data.texts import labelled_reviews
from shopsense.reviews.aspects import ASPECTS, clauses, find_aspects
from shopsense.reviews.qa import evaluate_answers
from shopsense.reviews.sentiment import SentimentClassifier, sentiment_metrics
from shopsense.reviews.splits import SPLIT_SEED, split_reviews

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ASPECT_SAMPLE = ROOT / "tests" / "reviews" / "data" / "aspects_en.csv"
DATASETS = {
    "online_shopping_10_cats": ("online-shopping-10-cats", ("tfidf", "textcnn", "bilstm")),
    "womens_clothing": (
        "womens-ecommerce-clothing-reviews",
        ("tfidf", "textcnn", "bilstm", "minilm"),
    ),
}


def sentiment_rows(quick: bool, threads: int) -> list[dict[str, Any]]:
    rows = []
    for dataset, (source, kinds) in DATASETS.items():
        reviews = load_source(source).tables["reviews"]
        corpus = labelled_reviews(reviews)
        texts, y, cats = corpus.texts, corpus.labels, corpus.categories
        split = split_reviews(y, cats)
        train, val, test = split.train, split.val, split.test
        if quick:  # every n-th row of each part: the same split, smaller
            train, val, test = train[::15], val[::15], test[::15]
        majority = int(np.bincount(y[train]).argmax())
        base = sentiment_metrics(y[test], np.full(len(test), majority), cats[test])
        rows.append(_record(dataset, "majority", base, len(train), len(test), 0.0, 0.0))
        for kind in kinds:
            if quick and kind == "minilm":
                train_m, test_m = train[::3], test[::3]
            else:
                train_m, test_m = train, test
            params = {"threads": threads} | ({"epochs": 2} if quick else {})
            model = SentimentClassifier(kind, **params)
            began = time.perf_counter()
            model.fit(texts[train_m], y[train_m], texts[val], y[val])
            train_s = time.perf_counter() - began
            began = time.perf_counter()
            predicted = model.predict(list(texts[test_m]))
            score_s = time.perf_counter() - began
            m = sentiment_metrics(y[test_m], predicted, cats[test_m])
            epochs = model.train_result_.epochs if model.train_result_ else None
            rows.append(
                _record(dataset, kind, m, len(train_m), len(test_m), train_s, score_s)
                | {"epochs": epochs}
            )
            print(f"{dataset:24s} {kind:8s} acc {m['accuracy']:.4f} f1 {m['macro_f1']:.4f} "
                  f"train {train_s:.0f}s", flush=True)  # fmt: skip
    return rows


def _record(
    dataset: str, model: str, m: dict[str, Any], n_train: int, n_test: int, train_s: float,
    score_s: float,
) -> dict[str, Any]:  # fmt: skip
    per_cat = {f"acc[{c}]": round(v["accuracy"], 4) for c, v in m["per_category"].items()}
    return {
        "task": "sentiment",
        "dataset": dataset,
        "model": model,
        "accuracy": round(m["accuracy"], 4),
        "macro_f1": round(m["macro_f1"], 4),
        "train_rows": n_train,
        "test_rows": n_test,
        "train_s": round(train_s, 1),
        "texts_per_s": round(n_test / score_s, 1) if score_s > 0 else None,
        "per_category": per_cat,
    }


def aspect_rows() -> list[dict[str, Any]]:
    sample = pd.read_csv(ASPECT_SAMPLE, keep_default_na=False)
    gold = [{x.split(":")[0] for x in a.split(";") if a} for a in sample["aspects"]]
    pred = [{a for c in clauses(s) for a in find_aspects(c)} for s in sample["sentence"]]
    rows = []
    for aspect in ASPECTS:
        tp = sum(aspect in g and aspect in p for g, p in zip(gold, pred, strict=True))
        fp = sum(aspect not in g and aspect in p for g, p in zip(gold, pred, strict=True))
        fn = sum(aspect in g and aspect not in p for g, p in zip(gold, pred, strict=True))
        rows.append(
            {
                "task": "aspects",
                "dataset": "womens_clothing_150_sentences",
                "model": aspect,
                "support": tp + fn,
                "precision": round(tp / (tp + fp), 3) if tp + fp else None,
                "recall": round(tp / (tp + fn), 3) if tp + fn else None,
            }
        )
    return rows


def qa_rows(quick: bool) -> list[dict[str, Any]]:
    questions = load_source("amazon-qa-appliances").tables["questions"]
    if quick:
        questions = questions[
            questions["item_id"].isin(sorted(questions["item_id"].unique())[:150])
        ]
    began = time.perf_counter()
    table = evaluate_answers(questions, progress=not quick)
    seconds = time.perf_counter() - began
    return [
        {
            "task": "answers",
            "dataset": f"amazon_qa_appliances[{r.scope}]",
            "model": r.method,
            "mrr_at_10": round(r.mrr_at_10, 4),
            "recall_at_5": round(r.recall_at_5, 4),
            "recall_at_1": round(r.recall_at_1, 4),
            "questions": r.questions,
            "candidates": len(questions),
            "total_s": round(seconds, 1),
        }
        for r in table.itertuples()
    ]


def _table(frame: pd.DataFrame) -> str:
    """A Markdown table (numbers as printed by Python, empty for missing)."""

    def cell(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]], head: str) -> str:
    out = [head]
    for task in ("sentiment", "aspects", "answers"):
        part = pd.DataFrame([r for r in rows if r["task"] == task]).drop(columns="task")
        if task == "sentiment":
            cats = part.pop("per_category")
            out += [f"\n## {task}\n", _table(part)]
            for (ds, model), per in zip(zip(part["dataset"], part["model"], strict=True), cats,
                                        strict=True):  # fmt: skip
                if model != "majority":
                    cells = ", ".join(f"{k[4:-1]} {v:.3f}" for k, v in per.items())
                    out.append(f"\n- {ds} / {model} per category: {cells}")
        else:
            out += [f"\n## {task}\n", _table(part)]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every 15th row of each part")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=RESULTS / "reviews.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    rows = sentiment_rows(args.quick, args.threads) + aspect_rows() + qa_rows(args.quick)
    total = time.perf_counter() - began
    meta = provenance("reviews")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(stamp(rows, meta), indent=2, ensure_ascii=False))
    head = (
        "# Reviews and customer questions\n\n"
        f"Published split (seed {SPLIT_SEED}, stratified by category x label, 70/10/20)"
        f"{'; QUICK: every 15th row of each part' if args.quick else ''}. "
        f"{args.threads} thread(s); total {total:.0f} s. {header(meta)}"
    )
    md = markdown(rows, head)
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()

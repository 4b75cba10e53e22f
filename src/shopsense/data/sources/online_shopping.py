"""online_shopping_10_cats: 62,774 Chinese e-commerce reviews labelled positive/negative.

File: `<root>/online-shopping-10-cats/online_shopping_10_cats.zip` (one CSV with the columns
`cat`, `label`, `review`). No licence (authors unknown): research use only, never ship it.

Table: `reviews`. The corpus has no product ids, so a review's `item_id` is its category
(平板, 水果, ...); `rating` is the polarity (1 positive, 0 negative).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopsense.data.sources import SourceData, conform, require_files, resolve_root

DATASET = "online-shopping-10-cats"
FILE = "online_shopping_10_cats.zip"


def load_online_shopping(root: Path | str | None = None) -> SourceData:
    """Map the corpus into `reviews` (language zh); empty reviews are left out."""
    (path,) = require_files(resolve_root(root) / DATASET, [FILE], DATASET)
    raw = pd.read_csv(path, dtype={"cat": str, "review": str}, encoding="utf-8-sig")
    missing = {"cat", "label", "review"} - set(raw.columns)
    if missing:
        raise ValueError(f"{path}: columns {sorted(missing)} are missing")
    text = raw["review"].fillna("").str.replace("\ufeff", "", regex=False).str.strip()
    labels = pd.to_numeric(raw["label"], errors="coerce")
    bad_label = ~labels.isin([0, 1])
    keep = (text != "") & ~bad_label
    rows = raw.index[keep]
    frame = pd.DataFrame(
        {
            # the 1-based line of the record in the CSV (after the header): stable and unique
            "review_id": [f"osc-{i + 1}" for i in rows],
            "item_id": raw.loc[keep, "cat"].to_numpy(),
            "rating": labels[keep].astype(float).to_numpy(),
            "text": text[keep].to_numpy(),
            "language": "zh",
            "category": raw.loc[keep, "cat"].to_numpy(),
        }
    )
    reviews = conform("reviews", frame)
    reviews["recommended"] = pd.array([pd.NA] * len(reviews), dtype="boolean")
    dropped_empty = int(((text == "") & ~bad_label).sum())
    notes = (
        f"reviews: {len(reviews):,} Chinese reviews in {reviews['category'].nunique()} "
        f"categories; {int((reviews['rating'] == 1).sum()):,} positive, "
        f"{int((reviews['rating'] == 0).sum()):,} negative",
        "rating = polarity (1 positive, 0 negative), not stars; item_id = category (the corpus "
        "has no product ids); review_id = osc-<1-based record number>",
        f"left out: {dropped_empty} empty review(s), {int(bad_label.sum())} row(s) whose label "
        "is not 0 or 1",
        "recommended is unknown (NA) for every review",
        "licence: none (authors unknown) - research use only, do not redistribute",
    )
    return SourceData(name=DATASET, tables={"reviews": reviews}, notes=notes)

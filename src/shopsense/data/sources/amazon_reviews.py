"""Amazon "All Beauty" 5-core reviews (Ni, Li & McAuley, EMNLP 2019): 5,269 English
reviews with stars, reviewer, product and day.

File: `<root>/amazon-all-beauty-5core/All_Beauty_5.json.gz` (JSON Lines: overall, asin,
reviewerID, reviewText, summary, unixReviewTime, ...). Research use only: never ship it.

Table: `reviews`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopsense.data.sources import SourceData, conform, require_files, resolve_root

DATASET = "amazon-all-beauty-5core"
FILE = "All_Beauty_5.json.gz"


def load_amazon_reviews(root: Path | str | None = None) -> SourceData:
    """Map the reviews (language en); a review with neither text nor summary is left out."""
    (path,) = require_files(resolve_root(root) / DATASET, [FILE], DATASET)
    raw = pd.read_json(path, lines=True, dtype={"asin": str, "reviewerID": str})
    missing = {"overall", "asin", "reviewerID", "reviewText", "unixReviewTime"} - set(raw)
    if missing:
        raise ValueError(f"{path}: fields {sorted(missing)} are missing")
    summary = raw.get("summary", pd.Series("", index=raw.index)).fillna("").astype(str).str.strip()
    body = raw["reviewText"].fillna("").astype(str).str.strip()
    rating = pd.to_numeric(raw["overall"], errors="coerce")
    keep = ((body != "") | (summary != "")) & rating.between(1, 5)
    text = body.where(body != "", summary)
    frame = pd.DataFrame(
        {
            # reviewer + product + day is not unique in this file: the record number is
            "review_id": [f"ab-{i + 1}" for i in raw.index[keep]],
            "item_id": raw.loc[keep, "asin"].to_numpy(),
            "user_id": raw.loc[keep, "reviewerID"].to_numpy(),
            "rating": rating[keep].to_numpy(),
            "title": summary[keep].where(summary[keep] != "", None).to_numpy(),
            "text": text[keep].to_numpy(),
            "time": pd.to_datetime(raw.loc[keep, "unixReviewTime"], unit="s").to_numpy(),
            "language": "en",
            "category": "All Beauty",
        }
    )
    reviews = conform("reviews", frame)
    reviews["recommended"] = pd.array([pd.NA] * len(reviews), dtype="boolean")
    notes = (
        f"reviews: {len(reviews):,} English reviews of {reviews['item_id'].nunique()} "
        f"products by {reviews['user_id'].nunique()} reviewers",
        f"left out: {int((~keep).sum())} reviews with neither text nor summary",
        "review_id = ab-<1-based record number>; time = review day (UTC midnight); "
        "recommended is unknown (NA)",
        "licence: research use (UCSD), cite Ni, Li & McAuley 2019 - do not redistribute",
    )
    return SourceData(name=DATASET, tables={"reviews": reviews}, notes=notes)

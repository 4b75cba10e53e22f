"""Women's E-Commerce Clothing Reviews: 23,486 English reviews with stars and a
"recommended" flag (Kaggle, nicapotato; listed as CC0).

File: `<root>/womens-ecommerce-clothing-reviews/womens_clothing_ecommerce_reviews.csv.gz`
with the columns Clothing ID, Age, Title, Review Text, Rating, Recommended IND, Positive
Feedback Count, Division Name, Department Name, Class Name.

Tables: `reviews` (item_id = Clothing ID, category = Class Name) and `items` (one per
Clothing ID, category = "Department / Class", the most frequent pair of its reviews).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopsense.data.sources import SourceData, conform, mode_per_group, require_files, resolve_root

DATASET = "womens-ecommerce-clothing-reviews"
FILE = "womens_clothing_ecommerce_reviews.csv.gz"
COLUMNS = ("Clothing ID", "Title", "Review Text", "Rating", "Recommended IND", "Class Name")


def load_womens_clothing(root: Path | str | None = None) -> SourceData:
    """Map the reviews (language en); a review with neither title nor text is left out."""
    (path,) = require_files(resolve_root(root) / DATASET, [FILE], DATASET)
    raw = pd.read_csv(path, dtype={"Clothing ID": str, "Title": str, "Review Text": str})
    missing = set(COLUMNS) - set(raw.columns)
    if missing:
        raise ValueError(f"{path}: columns {sorted(missing)} are missing")
    title = raw["Title"].fillna("").str.strip()
    body = raw["Review Text"].fillna("").str.strip()
    rating = pd.to_numeric(raw["Rating"], errors="coerce")
    keep = ((title != "") | (body != "")) & rating.between(1, 5)
    # a review without a body keeps its title as the text (the title is what was said)
    text = body.where(body != "", title)
    frame = pd.DataFrame(
        {
            "review_id": [f"wc-{i + 1}" for i in raw.index[keep]],
            "item_id": raw.loc[keep, "Clothing ID"].to_numpy(),
            "rating": rating[keep].to_numpy(),
            "title": title[keep].where(title[keep] != "", None).to_numpy(),
            "text": text[keep].to_numpy(),
            "language": "en",
            "recommended": raw.loc[keep, "Recommended IND"].astype(int).eq(1).to_numpy(),
            "category": raw.loc[keep, "Class Name"].to_numpy(),
        }
    )
    reviews = conform("reviews", frame)
    kept = raw[keep].assign(
        group=raw["Department Name"].fillna("?") + " / " + raw["Class Name"].fillna("?")
    )
    groups = mode_per_group(kept, "Clothing ID", "group")
    items = conform(
        "items",
        pd.DataFrame({"item_id": groups.index.to_numpy(), "category": groups.to_numpy()}),
    )
    notes = (
        f"reviews: {len(reviews):,} English reviews of {reviews['item_id'].nunique():,} "
        f"products; {int(reviews['recommended'].sum()):,} recommended",
        f"left out: {int((~keep).sum()):,} reviews with neither title nor text (or no valid "
        "rating); a review without body text keeps its title as text",
        "review_id = wc-<1-based record number>; item_id = Clothing ID; category = Class Name; "
        "no reviewer ids or dates in the file",
        f"items: {len(items):,} products without titles; category = 'Department / Class'",
        "licence: CC0 (as listed on Kaggle)",
    )
    return SourceData(name=DATASET, tables={"reviews": reviews, "items": items}, notes=notes)

"""A small shop written for the tests in its own dialect (ids `SKU-…`, ISO timestamps with
time-zone offsets, reviews and questions in English and Chinese): files in `files/`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FILES = Path(__file__).resolve().parent / "files"


def _utc(values: pd.Series) -> pd.Series:
    """ISO timestamps with offsets as naive UTC (the instant, not the local wall time)."""
    return pd.to_datetime(values, utc=True).dt.tz_localize(None)


def reviews() -> pd.DataFrame:
    """The shop's 520 reviews (260 English, 260 Chinese) in the schema's columns, with a
    sentiment `label` (1: 4-5 stars, 0: 1-2 stars, NaN: 3 stars)."""
    raw = pd.read_csv(FILES / "reviews.csv", dtype=str, keep_default_na=False)
    stars = raw["stars"].astype(int)
    return pd.DataFrame(
        {
            "review_id": raw["review_ref"],
            "item_id": raw["sku"],
            "user_id": raw["customer"],
            "rating": stars.astype(float),
            "title": raw["headline"].replace("", None),
            "text": raw["body"],
            "time": _utc(raw["posted_at"]),
            "language": raw["lang"],
            "label": np.where(stars >= 4, 1.0, np.where(stars <= 2, 0.0, np.nan)),
        }
    )


def questions() -> pd.DataFrame:
    """The shop's 80 customer questions (40 English, 40 Chinese) in the schema's columns."""
    raw = pd.read_csv(FILES / "questions.csv", dtype=str, keep_default_na=False)
    return pd.DataFrame(
        {
            "question_id": raw["qid"],
            "item_id": raw["sku"],
            "question": raw["asked"],
            "answer": raw["reply"].replace("", None),
            "time": _utc(raw["asked_at"]),
            "language": raw["lang"],
        }
    )

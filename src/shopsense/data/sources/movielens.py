"""MovieLens 100K: 100,000 star ratings with Unix timestamps, users and movie genres.

Files: `<root>/movielens-100k/u.data.gz` (TAB: user item rating timestamp), `u.item`
(latin-1, '|'-separated, 19 genre flags), `u.genre` (genre name|index), `u.user`
(user|age|gender|occupation|zip). The licence forbids redistribution: never ship these files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shopsense.data.schema import EventType
from shopsense.data.sources import SourceData, conform, require_files, resolve_root

DATASET = "movielens-100k"
FILES = ("u.data.gz", "u.item", "u.genre", "u.user")


def load_movielens(root: Path | str | None = None) -> SourceData:
    """Map ml-100k into events (ratings), items (title, genres) and users (demographics)."""
    folder = resolve_root(root) / DATASET
    data_path, item_path, genre_path, user_path = require_files(folder, FILES, DATASET)

    ratings = pd.read_csv(
        data_path,
        sep="\t",
        header=None,
        names=["user", "item", "rating", "ts"],
        dtype={"user": str, "item": str, "rating": "float64", "ts": "int64"},
    )
    events = conform(
        "events",
        pd.DataFrame(
            {
                "user_id": ratings["user"],
                "item_id": ratings["item"],
                "event_type": EventType.RATING.value,
                "value": ratings["rating"],
                "timestamp": pd.to_datetime(ratings["ts"], unit="s"),
                "session_id": None,
            }
        ),
    )

    genres = pd.read_csv(
        genre_path, sep="|", header=None, names=["name", "index"], encoding="latin-1"
    ).dropna()
    genre_names = genres.sort_values("index")["name"].tolist()
    base = ["item", "title", "release", "video_release", "url"]
    movies = pd.read_csv(
        item_path,
        sep="|",
        header=None,
        names=base + genre_names,
        encoding="latin-1",
        dtype={"item": str, "title": str},
        keep_default_na=False,
    )
    flags = movies[genre_names].astype(int).to_numpy().astype(bool)
    names = np.array(genre_names, dtype=object)
    category = ["|".join(names[row]) or None for row in flags]
    items = conform(
        "items",
        pd.DataFrame(
            {
                "item_id": movies["item"],
                "title": movies["title"].str.strip().replace("", None),
                "category": category,
            }
        ),
    )

    people = pd.read_csv(
        user_path,
        sep="|",
        header=None,
        names=["user", "age", "gender", "occupation", "zip"],
        dtype={"user": str, "age": "Int64", "gender": str, "occupation": str, "zip": str},
        encoding="latin-1",
    )
    users = conform(
        "users",
        pd.DataFrame(
            {
                "user_id": people["user"],
                "age": people["age"],
                "gender": people["gender"],
                "occupation": people["occupation"],
            }
        ),
    )

    notes = (
        f"events: {len(events):,} ratings (event_type 'rating', value = 1-5 stars) by "
        f"{events['user_id'].nunique():,} users on {events['item_id'].nunique():,} movies; "
        "timestamp = the Unix seconds as naive UTC",
        f"items: {len(items):,} movies, title as given (with year), category = '|'-joined genre "
        "names from u.genre; release dates and IMDb URLs dropped; brand, price and description "
        "None",
        f"users: {len(users):,} with age, gender (M/F) and occupation; zip code dropped, "
        "country unknown",
        "licence: research use only, no redistribution: never ship or commit these files",
    )
    return SourceData(
        name=DATASET,
        tables={"events": events, "items": items, "users": users},
        notes=notes,
    )

"""Amazon Beauty 5-core as ordered per-user item sequences (the SASRec / S3-Rec benchmark).

Files: `<root>/amazon-beauty-seq/Beauty.txt.gz` (one line per user: `user item1 item2 ...`,
in time order, no timestamps) and `Beauty_item2attributes.json.gz` (item -> attribute ids).
Research use only: never ship these files.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from shopsense.data.schema import EventType
from shopsense.data.sources import SourceData, conform, require_files, resolve_root

DATASET = "amazon-beauty-seq"
SEQUENCES = "Beauty.txt.gz"
ATTRIBUTES = "Beauty_item2attributes.json.gz"
EPOCH = pd.Timestamp("1970-01-01")


def load_amazon_beauty(root: Path | str | None = None) -> SourceData:
    """Map the Beauty sequences into events (purchases), items (attribute tokens) and users."""
    folder = resolve_root(root) / DATASET
    seq_path, attr_path = require_files(folder, [SEQUENCES, ATTRIBUTES], DATASET)

    with gzip.open(seq_path, "rt", encoding="utf-8") as fh:
        lines = pd.Series(fh.read().splitlines())
    lines = lines[lines.str.strip() != ""]
    parts = lines.str.strip().str.split(" ", n=1, expand=True)
    users = parts[0].reset_index(drop=True)
    seqs = parts[1].fillna("").str.split().reset_index(drop=True)
    exploded = seqs.explode().dropna()
    position = exploded.groupby(level=0).cumcount() + 1  # 1-based position in the sequence
    events = conform(
        "events",
        pd.DataFrame(
            {
                "user_id": users.loc[exploded.index].to_numpy(),
                "item_id": exploded.to_numpy(),
                "event_type": EventType.PURCHASE.value,
                "value": 1.0,
                "timestamp": EPOCH + pd.to_timedelta(position.to_numpy(), unit="s"),
                "session_id": None,
            }
        ),
    )

    with gzip.open(attr_path, "rt", encoding="utf-8") as fh:
        attributes: dict[str, list[int]] = json.load(fh)
    item_ids = sorted(set(attributes) | set(events["item_id"].unique()), key=_numeric_first)
    category = [" ".join(f"attr_{a}" for a in attributes.get(i, [])) or None for i in item_ids]
    items = conform(
        "items", pd.DataFrame({"item_id": item_ids, "title": None, "category": category})
    )
    users_frame = conform("users", pd.DataFrame({"user_id": users.unique()}))

    notes = (
        f"events: {len(events):,} purchases (value 1.0) by {len(users_frame):,} users on "
        f"{events['item_id'].nunique():,} items",
        "the file gives only the ORDER of each user's items, no times: timestamp = 1970-01-01 "
        "+ (1-based position in the user's sequence) seconds. It is an ordinal encoding, not "
        "a time: per-user order is right, but temporal splits and comparisons across users "
        "are meaningless for this set (use leave-last-out per user)",
        f"items: {len(items):,} items without titles; category = the item's attribute ids as "
        "space-joined tokens ('attr_12 attr_301'; brand and category names are not in the "
        "upstream file), so content-based TF-IDF can use them",
        "users: ids only (nothing else is known); ids are the original integer ids as strings",
    )
    return SourceData(
        name=DATASET,
        tables={"events": events, "items": items, "users": users_frame},
        notes=notes,
    )


def _numeric_first(item_id: str) -> tuple[int, str]:
    return (int(item_id), item_id) if item_id.isdigit() else (1 << 62, item_id)

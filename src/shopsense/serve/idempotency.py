"""Idempotent event batches: a client that retries a POST /v1/events with the same
`Idempotency-Key` stores its events once.

Events are deduplicated by their whole row, timestamp included; an event sent without a
timestamp is stamped with the time it arrives, so a retry would be a new row. The first
request with a key records the stamp it used (in the store, so a retry after a restart
finds it) before its events are written; a retry reuses that stamp, its rows equal the
stored ones and are skipped. A crash between the two steps is harmless: the retry writes
the rows with the recorded stamp. A key sent again with a different batch is refused.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass
from datetime import datetime

from shopsense.data.store import Store

_DDL = (
    "CREATE TABLE IF NOT EXISTS _event_batches (key VARCHAR PRIMARY KEY, "
    "body_sha256 VARCHAR NOT NULL, stamped_at TIMESTAMP NOT NULL, "
    "received_at TIMESTAMP NOT NULL)"
)


#: open stores whose connection has made the batches table already
_READY: weakref.WeakSet[Store] = weakref.WeakSet()


class KeyReused(ValueError):
    """An idempotency key came again with a different batch."""


@dataclass(frozen=True)
class Stamp:
    """The time that stamps a batch's events without a timestamp, and whether the batch
    was seen before."""

    at: datetime
    replay: bool


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def stamp(store: Store, key: str, body_sha256: str, now: datetime) -> Stamp:
    """The stamp of batch `key`: recorded now on first sight, the recorded one on a retry."""
    con = store.connection
    if store not in _READY:  # once per connection: a group commit stamps many batches
        con.execute(_DDL).fetchall()  # fetch all: DuckDB refuses new work on unfinished results
        _READY.add(store)
    rows = con.execute(
        "SELECT body_sha256, stamped_at FROM _event_batches WHERE key = ?", [key]
    ).fetchall()
    row = rows[0] if rows else None
    if row is not None:
        if row[0] != body_sha256:
            raise KeyReused(
                f"Idempotency-Key {key!r} was used for a different batch of events; "
                "use a new key for a new batch"
            )
        return Stamp(row[1], True)
    con.execute(
        "INSERT INTO _event_batches VALUES (?, ?, ?, ?)", [key, body_sha256, now, now]
    ).fetchall()
    return Stamp(now, False)

"""Named evaluation protocols: a split takes a view and returns a typed `Split`.

All three parts of a split share the view's vocabulary, so a model fitted on `train`
scores items whose indices match `validation` and `test`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shopsense.data.views import Interactions


@dataclass(frozen=True)
class Split:
    """Train / validation / test parts of one view, and how they were made."""

    protocol: str
    train: Interactions
    validation: Interactions
    test: Interactions
    description: str = ""

    def train_and_validation(self) -> Interactions:
        """Train plus validation: what a model is refitted on before the final test."""
        return self.train.concat(self.validation)

    def summary(self) -> dict[str, int | str]:
        return {
            "protocol": self.protocol,
            "train_events": self.train.n_events,
            "validation_events": self.validation.n_events,
            "test_events": self.test.n_events,
            "test_users": len(self.test.active_users),
            "users": self.train.n_users,
            "items": self.train.n_items,
        }


def leave_last_out(data: Interactions, *, min_events: int = 3) -> Split:
    """Each user's last event is test and the one before it validation.

    Users with fewer than `min_events` events stay wholly in train (they still teach the
    model, but there is nothing left to hold out for them).
    """
    if min_events < 3:
        raise ValueError("leave_last_out needs min_events >= 3 (train, validation, test)")
    p = data.sequence_indptr
    counts = np.diff(p)
    position = np.arange(data.n_events) - p[data.user_idx]  # 0-based position within user
    from_end = counts[data.user_idx] - position  # 1 = last event
    eligible = counts[data.user_idx] >= min_events
    test = eligible & (from_end == 1)
    validation = eligible & (from_end == 2)
    train = ~(test | validation)
    return _from_masks(
        "leave_last_out",
        data,
        (train, validation, test),
        f"last event of each user with >= {min_events} events is test, the one before validation",
    )


def hold_out_last(data: Interactions, *, min_events: int = 2) -> tuple[Interactions, Interactions]:
    """(everything else, each user's last event): the validation set a neural model stops
    early on when it is trained for production on all the data there is.

    Users with fewer than `min_events` events keep all of them for training.
    """
    p = data.sequence_indptr
    counts = np.diff(p)[data.user_idx]
    last = (np.arange(data.n_events) == p[data.user_idx + 1] - 1) & (counts >= min_events)
    return data.with_events(~last), data.with_events(last)


def temporal(
    data: Interactions,
    *,
    test_start: np.datetime64 | str | None = None,
    validation_start: np.datetime64 | str | None = None,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.1,
) -> Split:
    """Global time cut-offs: events before `validation_start` train, then validation, then test.

    Without explicit cut-offs they are the time quantiles that leave `test_fraction` and
    `validation_fraction` of events after them. Held-out events of users or items never
    seen in train are dropped: collaborative models cannot score them (cold start is a
    separate question).
    """
    ts = data.timestamps
    if test_start is None:
        t_test = np.quantile(ts, 1.0 - test_fraction, method="lower")
    else:
        t_test = np.datetime64(test_start, "ns").astype(np.int64)
    if validation_start is None:
        t_val = np.quantile(ts, 1.0 - test_fraction - validation_fraction, method="lower")
    else:
        t_val = np.datetime64(validation_start, "ns").astype(np.int64)
    if t_val > t_test:
        raise ValueError("validation_start must not be after test_start")
    train = ts < t_val
    seen_users = np.zeros(data.n_users, bool)
    seen_users[data.user_idx[train]] = True
    seen_items = np.zeros(data.n_items, bool)
    seen_items[data.item_idx[train]] = True
    warm = seen_users[data.user_idx] & seen_items[data.item_idx]
    validation = (ts >= t_val) & (ts < t_test) & warm
    test = (ts >= t_test) & warm
    fmt = lambda t: str(np.datetime64(int(t), "ns").astype("datetime64[s]"))  # noqa: E731
    return _from_masks(
        "temporal",
        data,
        (train, validation, test),
        f"train < {fmt(t_val)} <= validation < {fmt(t_test)} <= test (warm users and items)",
    )


def random_split(
    data: Interactions,
    *,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.1,
    random_state: int = 0,
) -> Split:
    """Events drawn at random into test and validation, the rest train."""
    if not 0 < test_fraction < 1 or not 0 <= validation_fraction < 1 - test_fraction:
        raise ValueError("need 0 < test_fraction < 1 and 0 <= validation_fraction < 1 - test")
    rng = np.random.default_rng(random_state)
    r = rng.random(data.n_events)
    test = r < test_fraction
    validation = (r >= test_fraction) & (r < test_fraction + validation_fraction)
    train = ~(test | validation)
    return _from_masks(
        "random",
        data,
        (train, validation, test),
        f"random {test_fraction:.0%} test, {validation_fraction:.0%} validation "
        f"(seed {random_state})",
    )


def _from_masks(
    protocol: str,
    data: Interactions,
    masks: tuple[np.ndarray, np.ndarray, np.ndarray],
    description: str,
) -> Split:
    """A split whose parts are the events selected by three boolean masks."""
    train, validation, test = (data.with_events(m) for m in masks)
    return Split(protocol, train, validation, test, description)


PROTOCOLS = {"leave_last_out": leave_last_out, "temporal": temporal, "random": random_split}


def make_split(data: Interactions, protocol: str, **options: object) -> Split:
    """Split by protocol name (`leave_last_out`, `temporal`, `random`)."""
    try:
        fn = PROTOCOLS[protocol]
    except KeyError:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {list(PROTOCOLS)}") from None
    return fn(data, **options)  # type: ignore[operator]

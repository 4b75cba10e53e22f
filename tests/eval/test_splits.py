import numpy as np
import pandas as pd
import pytest

from shopsense.data.views import Interactions
from shopsense.eval.splits import (
    hold_out_last,
    leave_last_out,
    make_split,
    random_split,
    temporal,
)


def _view():
    frame = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "b", "b", "c", "c", "c"],
            "item_id": ["x", "y", "z", "w", "x", "y", "z", "x", "y"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04",
                 "2024-01-01", "2024-01-05", "2024-01-09", "2024-01-02", "2024-01-03"]
            ),
        }
    )  # fmt: skip
    return Interactions.from_frame(frame)


def _pairs(view):
    return sorted(zip(view.user_ids[view.user_idx], view.item_ids[view.item_idx], strict=True))


def test_leave_last_out_holds_out_the_latest_events():
    split = leave_last_out(_view())
    assert _pairs(split.test) == [("a", "w"), ("c", "z")]  # c's last by time is z (01-09)
    assert _pairs(split.validation) == [("a", "z"), ("c", "y")]
    assert ("b", "y") in _pairs(split.train)  # b has only 2 events: all train
    assert split.train.n_events + split.validation.n_events + split.test.n_events == 9


def test_leave_last_out_on_real_data(ml_split, ml_interactions):
    assert len(ml_split.test.active_users) == ml_interactions.n_users  # all have >= 20
    assert ml_split.test.n_events == ml_split.validation.n_events == ml_interactions.n_users
    # each user's test event is no earlier than anything they have in train
    last_train = np.full(ml_interactions.n_users, np.iinfo(np.int64).min)
    np.maximum.at(last_train, ml_split.train.user_idx, ml_split.train.timestamps)
    assert np.all(ml_split.test.timestamps >= last_train[ml_split.test.user_idx])
    assert ml_split.train_and_validation().n_events == ml_split.train.n_events + 943


def test_temporal_cutoffs_and_warm_start():
    split = temporal(_view(), validation_start="2024-01-03", test_start="2024-01-05")
    assert _pairs(split.train) == [("a", "x"), ("a", "y"), ("b", "x"), ("c", "x")]
    # (a, z) and (a, w) fall in validation but items z, w never appear in train: dropped
    assert _pairs(split.validation) == [("c", "y")]
    assert _pairs(split.test) == [("b", "y")]  # (c, z) dropped: z never in train
    with pytest.raises(ValueError):
        temporal(_view(), validation_start="2024-01-06", test_start="2024-01-05")


def test_temporal_quantiles(ml_interactions):
    split = temporal(ml_interactions, test_fraction=0.2, validation_fraction=0.1)
    assert split.train.timestamps.max() < split.validation.timestamps.min()
    assert split.validation.timestamps.max() < split.test.timestamps.min()
    assert 0.6 < split.train.n_events / ml_interactions.n_events < 0.8


def test_random_split_is_reproducible_and_disjoint(ml_interactions):
    a = random_split(ml_interactions, random_state=3)
    b = make_split(ml_interactions, "random", random_state=3)
    np.testing.assert_array_equal(a.test.item_idx, b.test.item_idx)
    total = a.train.n_events + a.validation.n_events + a.test.n_events
    assert total == ml_interactions.n_events
    assert abs(a.test.n_events / total - 0.2) < 0.01
    with pytest.raises(ValueError, match="unknown protocol"):
        make_split(ml_interactions, "nope")


def test_hold_out_last_keeps_single_event_users_whole():
    view = _view().with_events(np.arange(9) != 5)  # b keeps one event
    rest, last = hold_out_last(view)
    assert _pairs(last) == [("a", "w"), ("c", "z")]
    assert ("b", "x") in _pairs(rest) and rest.n_events + last.n_events == 8

import numpy as np
import pandas as pd
import pytest

from shopsense.data.views import Interactions


def _frame():
    return pd.DataFrame(
        {
            "user_id": ["u2", "u1", "u1", "u1", "u2"],
            "item_id": ["b", "a", "c", "a", "a"],
            "value": [5.0, 1.0, 2.0, 3.0, None],
            "timestamp": pd.to_datetime(
                ["2024-01-03", "2024-01-02", "2024-01-01", "2024-01-05", "2024-01-01"]
            ),
        }
    )


def test_vocabulary_and_time_order():
    view = Interactions.from_frame(_frame())
    assert list(view.user_ids) == ["u1", "u2"] and list(view.item_ids) == ["a", "b", "c"]
    # u1 in time order: c (01-01), a (01-02), a (01-05); u2: a (01-01), b (01-03)
    assert [list(view.item_ids[s]) for s in view.sequences()] == [["c", "a", "a"], ["a", "b"]]
    assert list(view.sequence(1)) == [0, 1]


def test_csr_sums_repeats_and_binary_does_not():
    view = Interactions.from_frame(_frame(), weight_col="value")
    assert view.csr[0, 0] == pytest.approx(4.0)  # u1-a: 1 + 3
    assert view.csr[1, 0] == pytest.approx(1.0)  # missing value counts as 1
    assert view.binary[0, 0] == 1.0
    assert view.csr.dtype == np.float32
    np.testing.assert_array_equal(view.item_popularity(), [2, 1, 1])


def test_keep_first_drops_repeat_pairs():
    view = Interactions.from_frame(_frame(), keep="first")
    assert view.n_events == 4
    assert [list(view.item_ids[s]) for s in view.sequences()] == [["c", "a"], ["a", "b"]]


def test_fixed_vocabulary_drops_unknown_ids():
    view = Interactions.from_frame(_frame(), item_ids=["a", "b"], user_ids=["u2"])
    assert view.n_events == 2 and view.csr.shape == (1, 2)


def test_id_lookup_errors():
    view = Interactions.from_frame(_frame())
    np.testing.assert_array_equal(view.users_to_index(["u2", "u1"]), [1, 0])
    assert list(view.items_to_index(["zz"], strict=False)) == [-1]
    with pytest.raises(KeyError, match="zz"):
        view.items_to_index(["zz"])
    with pytest.raises(TypeError):
        view.users_to_index("u1")
    with pytest.raises(KeyError, match="no column"):
        Interactions.from_frame(_frame().drop(columns="item_id"))


def test_with_events_and_concat_keep_the_vocabulary():
    view = Interactions.from_frame(_frame())
    mask = np.arange(view.n_events) % 2 == 0
    a, b = view.with_events(mask), view.with_events(~mask)
    both = a.concat(b)
    np.testing.assert_array_equal(both.item_idx, view.item_idx)
    np.testing.assert_array_equal(both.user_idx, view.user_idx)


def test_real_data(ml_interactions):
    assert (ml_interactions.n_users, ml_interactions.n_items) == (943, 1682)
    assert ml_interactions.csr.nnz == 100_000
    lengths = np.diff(ml_interactions.sequence_indptr)
    assert lengths.min() == 20 and lengths.sum() == 100_000

import pytest

from shopsense.recommend.sasrec import SASRec
from tests.contracts import check_contract, check_learns


def test_sasrec_learns_and_keeps_the_contract(ml_split, tmp_path):
    make = lambda: SASRec(epochs=6, hidden=48, dropout=0.2, learning_rate=5e-3)  # noqa: E731
    model, _, _ = check_learns(make, ml_split, margin=1.3)
    check_contract(model, ml_split, tmp_path)


def test_hidden_must_split_into_heads(ml_split):
    with pytest.raises(ValueError, match="heads"):
        SASRec(hidden=30, heads=4, epochs=1).fit(ml_split.train)

import pytest

from shopsense.recommend.gru4rec import GRU4Rec
from tests.contracts import check_contract, check_learns


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gru4rec_learns_and_keeps_the_contract(ml_split, tmp_path, cell):
    make = lambda: GRU4Rec(epochs=6, cell=cell, dropout=0.1, learning_rate=5e-3)  # noqa: E731
    model, _, _ = check_learns(make, ml_split, margin=1.3)
    check_contract(model, ml_split, tmp_path)


def test_unknown_cell_is_rejected(ml_split):
    with pytest.raises(ValueError, match="cell"):
        GRU4Rec(cell="rnn", epochs=1).fit(ml_split.train)

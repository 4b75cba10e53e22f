import pytest

from shopsense.workflows import make_model, parse_params


def test_parse_params_uses_the_config_types():
    assert parse_params("ease", ["l2=250", "binary=false"]) == {"l2": 250.0, "binary": False}
    assert parse_params("itemknn", ["neighbors=20", "weighting=bm25"]) == {
        "neighbors": 20,
        "weighting": "bm25",
    }


@pytest.mark.parametrize(
    ("name", "pairs", "message"),
    [
        ("ease", ["l2"], "NAME=VALUE"),
        ("ease", ["lambda=3"], "NAME=VALUE"),
        ("itemknn", ["neighbors=1.5"], "not a valid int"),
        ("ease", ["binary=maybe"], "not a valid bool"),
        ("nope", [], "choose from"),
    ],
)
def test_parse_params_errors(name, pairs, message):
    with pytest.raises(ValueError, match=message):
        parse_params(name, pairs)


def test_make_model():
    assert make_model("ease", {"l2": 3.0}).config.l2 == 3.0
    with pytest.raises(ValueError, match="takes"):
        make_model("ease", {"alpha": 1})

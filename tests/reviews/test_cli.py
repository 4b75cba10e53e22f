"""`shopsense reviews ...` on a temporary store."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shopsense.cli import app
from shopsense.data.store import Store

runner = CliRunner()


@pytest.fixture(scope="module")
def opts(tmp_path_factory, zh_reviews, qa_questions) -> list[str]:
    root = tmp_path_factory.mktemp("cli")
    with Store(root / "s.duckdb") as store:
        store.write_frame("reviews", zh_reviews.drop(columns="label"), source="slice")
        store.write_frame("questions", qa_questions, source="slice")
    return ["--store", str(root / "s.duckdb")]


def test_train_score_aspects_reply_and_ask(opts, tmp_path_factory, qa_questions) -> None:
    models = ["--models-dir", str(tmp_path_factory.mktemp("models"))]
    r = runner.invoke(app, ["reviews", "sentiment", "好", *opts, *models])
    assert r.exit_code == 1 and "no sentiment model" in r.output
    r = runner.invoke(app, ["reviews", "train", "--param", "inverse_l2=3", *opts, *models])
    assert r.exit_code == 0, r.output
    assert "sentiment-zh/v0001" in r.output and "accuracy" in r.output
    r = runner.invoke(app, ["reviews", "sentiment", "质量很好", "质量很差，退货", *opts, *models])
    assert r.exit_code == 0 and "positive" in r.output and "negative" in r.output
    r = runner.invoke(app, ["reviews", "aspects", "--item", "衣服", *opts, *models])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["reviews", "reply", "--text", "快递太慢了", *opts, *models])
    assert r.exit_code == 0 and "delivery" in r.output
    item = qa_questions["item_id"].iloc[0]
    r = runner.invoke(app, ["reviews", "ask", "is it easy to install?", "--item", item, *opts])
    assert r.exit_code == 0 and "answer" in r.output
    r = runner.invoke(app, ["reviews", "ask", "x", "--item", "nothing", *opts])
    assert r.exit_code == 1 and "knows nothing" in r.output


def test_load_reports_unknown_sources(opts) -> None:
    r = runner.invoke(app, ["reviews", "load", "no-such-set", *opts])
    assert r.exit_code == 1 and "unknown data source" in r.output

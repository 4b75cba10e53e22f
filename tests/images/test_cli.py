"""`shopsense images ...` end to end on a small shop."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shopsense.cli import app
from tests.images.shop import build_shop, sample, write_pngs

runner = CliRunner()


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return build_shop(tmp_path_factory.mktemp("clishop"), n=800)


def _run(shop, *args):
    env = {
        "SHOPSENSE_STORE_PATH": str(shop.store_path),
        "SHOPSENSE_MODELS_DIR": str(shop.models_dir),
        "SHOPSENSE_REPORTS_DIR": str(shop.reports_dir),
    }
    return runner.invoke(app, ["images", *args], env=env)


def test_classify_similar_check(shop, tmp_path):
    files = write_pngs(tmp_path / "p", sample("test", 100, seed=1), per_class=1)
    r = _run(shop, "classify", str(files[0]), str(tmp_path / "p/Bag/broken.png"))
    assert r.exit_code == 0, r.output
    assert "skipped" in r.output and "broken.png" in r.output and "classifier/v0001" in r.output
    r = _run(shop, "similar", "--item", "fm-train-00000", "--k", "3")
    assert r.exit_code == 0, r.output
    r = _run(shop, "similar", "--item", "no-such-item")
    assert r.exit_code == 1 and "no photo" in r.output
    r = _run(shop, "check", "--min-confidence", "0.95")
    assert r.exit_code == 0 and "items flagged" in r.output


def test_train_without_a_store_fails_clearly(tmp_path):
    r = runner.invoke(app, ["images", "train", "--store", str(tmp_path / "none.duckdb")])
    assert r.exit_code == 1 and "no store" in r.output

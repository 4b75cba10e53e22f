"""`shopsense pricing ...` end to end on a real store and the retail-price panel."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shopsense.cli import app
from shopsense.data.sources import load_sample
from shopsense.data.store import Store

runner = CliRunner()


def flat(output: str) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(output.split())


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("pricing-cli")
    data = load_sample()
    with Store(root / "shop.duckdb") as store:
        for table, frame in data.tables.items():
            store.write_frame(table, frame, source=data.name)
    return {
        "SHOPSENSE_STORE_PATH": str(root / "shop.duckdb"),
        "SHOPSENSE_MODELS_DIR": str(root / "models"),
        "SHOPSENSE_REPORTS_DIR": str(root / "reports"),
    }


def test_elasticity_then_suggest(env):
    r = runner.invoke(app, ["pricing", "elasticity", "--top", "60", "--boot", "100"], env=env)
    assert r.exit_code == 0, r.output
    assert "60 products" in flat(r.output) and "flagged" in r.output
    r = runner.invoke(app, ["pricing", "suggest", "--top", "60", "--show", "3"], env=env)
    assert r.exit_code == 0, r.output
    assert "elasticity" in r.output and "units/week" in r.output
    assert "60 products priced" in flat(r.output)
    titles = load_sample().tables["items"]["title"].dropna()
    shown = {f"({' '.join(str(t).split())})" for t in titles}
    assert any(t in flat(r.output) for t in shown)  # each product's title beside its id


def test_suggest_on_a_file_for_named_items(env, retail_csv):
    args = ["pricing", "suggest", "bed1", "garden5", "--file", str(retail_csv)]
    r = runner.invoke(app, [*args, "--max-change", "0.05"], env=env)
    assert r.exit_code == 0, r.output
    assert "bed1" in r.output and "units/month" in r.output


def test_bad_rules_and_files_fail_clearly(env, tmp_path):
    r = runner.invoke(app, ["pricing", "suggest", "--min-ratio", "1.5"], env=env)
    assert r.exit_code == 1 and "min_ratio" in flat(r.output)
    bad = tmp_path / "p.csv"
    bad.write_text("item_id,period,price,units\na,2020-01-01,-2,1\n")
    r = runner.invoke(app, ["pricing", "elasticity", "--file", str(bad)], env=env)
    assert r.exit_code == 1 and "line 2, field 'price'" in flat(r.output)


def test_simulate_and_forecast(env, retail_csv):
    r = runner.invoke(
        app,
        ["pricing", "simulate", "--file", str(retail_csv), "--seeds", "3", "--horizon", "6"],
        env=env,
    )
    assert r.exit_code == 0, r.output
    assert "thompson sampling" in r.output and "learning curves" in flat(r.output)
    r = runner.invoke(app, ["pricing", "forecast", "--top", "10", "--horizon", "7"], env=env)
    assert r.exit_code == 0, r.output
    assert "units in the next 7 days" in flat(r.output)

"""The CLI end to end on the bundled sample, in a temporary folder."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shopsense.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A store loaded with the bundled sample, plus a models folder."""
    folder = tmp_path_factory.mktemp("shop")
    env = {
        "SHOPSENSE_STORE_PATH": str(folder / "shop.duckdb"),
        "SHOPSENSE_MODELS_DIR": str(folder / "models"),
        "SHOPSENSE_REPORTS_DIR": str(folder / "reports"),
    }
    result = runner.invoke(app, ["data", "load", "sample"], env=env)
    assert result.exit_code == 0, result.output
    return folder, env


def test_load_again_adds_nothing(shop):
    _, env = shop
    result = runner.invoke(app, ["data", "load", "sample"], env=env)
    assert result.exit_code == 0, result.output
    assert "events: 0 inserted" in result.output


def test_stats_as_json(shop):
    _, env = shop
    result = runner.invoke(app, ["data", "stats", "--json"], env=env)
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert "events" in json.dumps(stats)


def test_train_recommend_similar_models(shop):
    folder, env = shop
    result = runner.invoke(app, ["train", "--model", "itemknn", "--param", "neighbors=50"], env=env)
    assert result.exit_code == 0, result.output
    assert (folder / "models" / "recommend" / "itemknn" / "v0001" / "arrays.npz").exists()

    result = runner.invoke(app, ["recommend", "12348", "--k", "5"], env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "because you bought" in result.output

    result = runner.invoke(app, ["recommend", "no-such-customer"], env=env, terminal_width=200)
    assert result.exit_code == 0 and "cold start" in result.output

    result = runner.invoke(app, ["similar", "22423", "--k", "3"], env=env, terminal_width=200)
    assert result.exit_code == 0, result.output

    result = runner.invoke(app, ["explain", "12348", "21212"], env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "because you bought" in result.output and "contribution" in result.output

    result = runner.invoke(app, ["models"], env=env, terminal_width=200)
    assert "itemknn" in result.output and "v0001" in result.output


def test_evaluate_writes_a_report(shop):
    folder, env = shop
    result = runner.invoke(
        app, ["evaluate", "--model", "popular", "--model", "itemknn", "--k", "10"], env=env
    )
    assert result.exit_code == 0, result.output
    reports = list((folder / "reports").glob("evaluate-leave_last_out-*.json"))
    assert len(reports) == 1
    payload = json.loads(reports[0].read_text())
    by = {(r["model"], r["stage"]): r["metrics"]["ndcg@10"] for r in payload["reports"]}
    assert by["itemknn", "test"] > by["popular", "test"]


def test_clear_errors(shop, tmp_path):
    _, env = shop
    bad = runner.invoke(app, ["train", "--model", "nope"], env=env)
    assert bad.exit_code == 1 and "choose from" in bad.output
    bad = runner.invoke(app, ["train", "--model", "ease", "--param", "l2=abc"], env=env)
    assert bad.exit_code == 1 and "not a valid float" in bad.output
    bad = runner.invoke(app, ["ingest", "events", str(tmp_path / "missing.csv")], env=env)
    assert bad.exit_code == 1


def test_ingest_rejects_a_bad_file_and_keeps_the_store(shop, tmp_path):
    _, env = shop
    before = json.loads(runner.invoke(app, ["data", "stats", "--json"], env=env).output)
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,event_type,value,timestamp\n"
        "u1,i1,view,1,2024-01-01 10:00:00\n"
        "u1,i2,purchase,1,not-a-time\n"
    )
    result = runner.invoke(app, ["ingest", "events", str(path)], env=env)
    assert result.exit_code == 1
    assert "events.csv" in result.output and "3" in result.output and "timestamp" in result.output
    after = json.loads(runner.invoke(app, ["data", "stats", "--json"], env=env).output)
    assert after == before


def test_train_a_neural_model_with_checkpoints(shop):
    folder, env = shop
    args = ["train", "-m", "gru4rec", "-p", "epochs=2", "-p", "hidden=16"]
    ckpt = ["--checkpoint-dir", str(folder / "ckpt")]
    result = runner.invoke(app, args + ckpt, env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "best validation NDCG@10" in result.output
    assert (folder / "ckpt" / "checkpoint.pt").exists()
    assert (folder / "models" / "recommend" / "gru4rec" / "v0001" / "weights.safetensors").exists()

    result = runner.invoke(app, [*args, *ckpt, "--resume"], env=env, terminal_width=200)
    assert result.exit_code == 0, result.output  # the finished run is not trained again

    args = ["recommend", "12348", "-m", "gru4rec"]
    result = runner.invoke(app, args, env=env, terminal_width=200)
    assert result.exit_code == 0 and "gru4rec" in result.output

    result = runner.invoke(app, ["train", "-m", "itemknn", "--resume"], env=env)
    assert result.exit_code != 0 and "neural models" in result.output


def test_evaluate_a_neural_model(shop):
    folder, env = shop
    env = {**env, "SHOPSENSE_REPORTS_DIR": str(folder / "reports-neural")}
    args = ["evaluate", "-m", "popular", "-m", "sasrec", "-p", "sasrec.epochs=3"]
    result = runner.invoke(app, args, env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    (report,) = (folder / "reports-neural").glob("*.json")
    stages = {(r["model"], r["stage"]) for r in json.loads(report.read_text())["reports"]}
    assert stages == {(m, s) for m in ("popular", "sasrec") for s in ("validation", "test")}

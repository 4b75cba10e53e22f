"""The CLI end to end on the bundled sample, in a temporary folder."""

from __future__ import annotations

import json

import pandas as pd
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


def test_a_trained_sequence_model_is_exported_beside_its_weights(shop):
    folder, env = shop
    args = ["train", "-m", "gru4rec", "-p", "epochs=1", "-p", "hidden=16"]
    result = runner.invoke(app, args, env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    saved = sorted((folder / "models" / "recommend" / "gru4rec").glob("v*"))[-1]
    report = json.loads((saved / "export.json").read_text())
    assert report["precisions"]["fp32"]["passed"] and (saved / "query.onnx").is_file()
    listing = runner.invoke(app, ["models", "--task", "recommend"], env=env, terminal_width=250)
    assert "fp32+int8" in listing.output

    plain = runner.invoke(app, args, env={**env, "SHOPSENSE_ONNX": "off"}, terminal_width=200)
    assert plain.exit_code == 0, plain.output
    unexported = sorted((folder / "models" / "recommend" / "gru4rec").glob("v*"))[-1]
    assert unexported != saved and not (unexported / "query.onnx").exists()
    export = ["export", "gru4rec", unexported.name, "--no-int8"]
    result = runner.invoke(app, export, env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "fp32" in result.output and (unexported / "query.onnx").is_file()
    assert not (unexported / "query.int8.onnx").exists()

    assert runner.invoke(app, ["train", "-m", "popular"], env=env).exit_code == 0
    refused = runner.invoke(app, ["export", "popular"], env=env, terminal_width=200)
    assert refused.exit_code == 1 and "no exported form" in refused.output


def test_evaluate_a_neural_model(shop):
    folder, env = shop
    env = {**env, "SHOPSENSE_REPORTS_DIR": str(folder / "reports-neural")}
    args = ["evaluate", "-m", "popular", "-m", "sasrec", "-p", "sasrec.epochs=3"]
    result = runner.invoke(app, args, env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    (report,) = (folder / "reports-neural").glob("*.json")
    stages = {(r["model"], r["stage"]) for r in json.loads(report.read_text())["reports"]}
    assert stages == {(m, s) for m in ("popular", "sasrec") for s in ("validation", "test")}


def test_activate_and_rollback(shop):
    folder, env = shop
    for l2 in ("100", "300"):
        result = runner.invoke(app, ["train", "-m", "ease", "--param", f"l2={l2}"], env=env)
        assert result.exit_code == 0, result.output
    versions = sorted(p.name for p in (folder / "models" / "recommend" / "ease").glob("v*"))
    first, last = versions[0], versions[-1]
    result = runner.invoke(app, ["activate", "ease", first], env=env)
    assert result.exit_code == 0 and f"ease/{first} is now active" in result.output
    listing = runner.invoke(app, ["models"], env=env, terminal_width=200).output
    assert any(first in line and "*" in line for line in listing.splitlines())
    result = runner.invoke(app, ["rollback", "ease"], env=env)
    assert result.exit_code == 0 and f"ease/{last} is now active" in result.output
    result = runner.invoke(app, ["rollback", "ease"], env=env)
    assert result.exit_code == 1 and "no earlier active version" in result.output
    result = runner.invoke(app, ["activate", "ease", "v0999"], env=env)
    assert result.exit_code == 1 and "has no version v0999" in result.output


def test_serve_answers_over_http(shop):
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    _, env = shop
    assert runner.invoke(app, ["train", "-m", "itemknn"], env=env).exit_code == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shopsense.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env, "SHOPSENSE_API_KEYS": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read())
            time.sleep(0.1)
        r = httpx.get(f"{url}/v1/users/12348/recommendations", params={"k": 3})
        assert r.status_code == 200 and len(r.json()["items"]) == 3
        event = {"events": [{"user_id": "a", "item_id": "22423", "event_type": "view"}]}
        assert httpx.post(f"{url}/v1/events", json=event).status_code == 403  # read-only
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert "read-only" in out


def test_segments_saves_a_version_and_a_report(shop):
    folder, env = shop
    result = runner.invoke(app, ["segments", "--method", "rfm"], env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "champions" in result.output and "saved segments v0001" in result.output
    assert (folder / "models" / "behavior" / "segments" / "v0001" / "model.json").exists()
    reports = list((folder / "reports").glob("segments-*/report.json"))
    assert len(reports) == 1 and (reports[0].parent / "segments.png").exists()
    result = runner.invoke(app, ["segments", "--cutoff", "1999-01-01"], env=env)
    assert result.exit_code == 1 and "error" in result.output


@pytest.mark.parametrize("target", ["churn", "value"])
def test_predict_saves_a_model_and_every_customers_prediction(shop, target):
    folder, env = shop
    result = runner.invoke(app, ["predict", target, "--top", "5"], env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    name = {"churn": "churn", "value": "customer_value"}[target]
    assert (folder / "models" / "behavior" / name / "v0001" / "model.json").exists()
    (csv,) = (folder / "reports").glob(f"predict-{target}-*.csv")
    frame = pd.read_csv(csv)
    assert len(frame) > 500 and frame.iloc[:, 1].is_monotonic_decreasing


def test_predict_unknown_target_is_a_clear_error(shop):
    _, env = shop
    result = runner.invoke(app, ["predict", "happiness"], env=env)
    assert result.exit_code == 1 and "next-purchase, churn, value" in result.output


def test_anomalies_flags_orders_with_reasons(shop):
    folder, env = shop
    result = runner.invoke(app, ["anomalies", "--top", "5"], env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "typical" in result.output and "saved isolation_forest v0001" in result.output
    (csv,) = (folder / "reports").glob("anomalies-isolation_forest-*.csv")
    scores = pd.read_csv(csv)
    assert len(scores) > 1000 and scores["score"].is_monotonic_decreasing
    result = runner.invoke(app, ["anomalies", "--detector", "magic"], env=env)
    assert result.exit_code == 1 and "isolation_forest" in result.output


def test_ingest_with_mapping_options_and_quality(tmp_path):
    """A file in the shop's own words, mapped with options alone; the report follows."""
    clicks = tmp_path / "clicks.csv"
    clicks.write_text(
        "visitor,product,happened\nv1,p1,2024-06-01T10:00:00+02:00\nv1,p2,2024-06-01T08:05:00Z\n"
    )
    env = {"SHOPSENSE_STORE_PATH": str(tmp_path / "s.duckdb"), "COLUMNS": "150"}
    args = [
        "ingest",
        "events",
        str(clicks),
        "--column",
        "user_id=visitor",
        "--column",
        "item_id=product",
        "--column",
        "timestamp=happened",
        "--set",
        "event_type=view",
        "--time-zone",
        "Europe/Paris",
    ]
    dry = runner.invoke(app, [*args, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "dry run, nothing written" in dry.output and not (tmp_path / "s.duckdb").exists()
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0 and "inserted 2" in result.output, result.output
    assert "data quality" in result.output
    quality = runner.invoke(app, ["data", "quality", "--json"], env=env)
    assert json.loads(quality.output)[0]["table"] == "events"
    bad = runner.invoke(app, [*args[:3], "--column", "user_id"], env=env)
    assert bad.exit_code == 1 and "--column takes name=value" in bad.output
    wrong_zone = runner.invoke(app, [*args[:-1], "Mars/Base"], env=env)
    assert wrong_zone.exit_code == 1 and "unknown time zone" in wrong_zone.output


HEAVY = ("torch", "sklearn", "scipy", "pandas")


def _imported_after(statement: str) -> list[str]:
    """Heavy libraries present in `sys.modules` after `statement` in a fresh interpreter."""
    import subprocess
    import sys

    code = f"import sys; {statement}; print('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[-1].split()[1:]


def test_help_imports_no_heavy_library():
    # `shopsense --help` must stay instant: libraries load inside the commands that use them
    assert _imported_after("import shopsense.cli") == []
    for group in ("pricing", "images", "reviews", "data"):
        run = (
            "from shopsense.cli import app\n"
            f"try: app([{group!r}, '--help'])\n"
            "except SystemExit: pass"
        )
        assert _imported_after(f"exec({run!r})") == [], group

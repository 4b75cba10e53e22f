"""Shared CLI helpers: tables keep ids whole and round per column; errors exit with 1."""

import io
import time

import pandas as pd
import pytest
import typer
from rich.console import Console

from shopsense import cli_common


@pytest.fixture()
def captured(monkeypatch):
    console = Console(width=80, record=True, force_terminal=False)
    monkeypatch.setattr(cli_common, "console", console)
    return console


def test_print_frame_rounds_per_column_and_keeps_ids(captured):
    frame = pd.DataFrame({"item": ["85123A"], "price": [2.5551], "elasticity": [-1.23456]})
    cli_common.print_frame(frame, title="t", decimals={"elasticity": 2})
    text = captured.export_text()
    assert "85123A" in text
    assert "2.56" in text and "2.5551" not in text
    assert "-1.23" in text and "-1.2346" not in text


def test_fail_returns_exit_with_status_one():
    exit_ = cli_common.fail("bad price in row 3")
    assert isinstance(exit_, typer.Exit)
    assert exit_.exit_code == 1


def test_settings_override_store(tmp_path):
    s = cli_common.settings(store=tmp_path / "x.duckdb", models_dir=tmp_path / "m")
    assert s.store_path == tmp_path / "x.duckdb"
    assert s.models_dir == tmp_path / "m"


def _lines(console: Console) -> list[str]:
    return [line for line in console.export_text().splitlines() if line.strip()]


def test_a_table_wider_than_80_columns_is_split_into_tables_that_fit(captured):
    """An evaluation table (model, 8 metrics, a time) at 80 columns: every header and value
    whole, no line past the edge, the model's name beside each part's values."""
    metrics = ["users", "hr@10", "ndcg@10", "recall@10", "recall@20", "mrr@10", "coverage@10"]
    frame = pd.DataFrame(
        [
            {"model": name, **dict.fromkeys(metrics, 0.123456), "users": 1051, "fit_s": 12.34}
            for name in ("itemknn", "popular")
        ]
    )
    cli_common.print_frame(frame, title="validation (k=10)")
    lines = _lines(captured)
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    for header in [*metrics, "fit_s"]:
        assert f" {header} " in text, header
    assert text.count("itemknn") == text.count("popular") == 2  # one per part
    assert "validation (k=10) (1/2)" in text and "validation (k=10) (2/2)" in text
    assert text.count("0.1235") == 2 * 6 and "12.3" in text


def test_a_table_that_fits_stays_one_table(captured):
    cli_common.print_frame(pd.DataFrame({"model": ["ease"], "ndcg@10": [0.05]}), title="t")
    text = captured.export_text()
    assert "t (1/" not in text and "0.0500" in text


def test_free_text_folds_inside_80_columns(captured):
    params = '{"neighbors": 50, "shrink": 10.0, "similarity": "cosine", "binary": true}'
    frame = pd.DataFrame([{"name": "itemknn", "version": "v0001", "params": params}])
    cli_common.print_frame(frame)
    lines = _lines(captured)
    assert max(len(line) for line in lines) <= 80
    assert '"similarity":' in "\n".join(lines) and "itemknn" in lines[3]


def test_working_draws_progress_on_stderr_and_nothing_on_stdout(captured, monkeypatch):
    stderr = io.StringIO()
    monkeypatch.setattr(cli_common, "err", Console(file=stderr, force_terminal=True, width=80))
    with cli_common.working("training ease on the store's events"):
        time.sleep(0.3)
    assert "training ease on the store's events" in stderr.getvalue()
    assert "0:00:0" in stderr.getvalue()  # the time spent
    assert captured.export_text() == ""

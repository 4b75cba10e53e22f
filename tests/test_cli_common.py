"""Shared CLI helpers: tables keep ids whole and round per column; errors exit with 1."""

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

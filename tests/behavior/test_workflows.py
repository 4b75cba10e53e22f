"""Behaviour jobs over a real store: the customer view from the store, segments saved and
reported."""

from __future__ import annotations

import json

import pytest

from shopsense.behavior import workflows
from shopsense.config import Settings
from tests.conftest import sample_shop


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return sample_shop(tmp_path_factory.mktemp("behaviour"))


def test_customer_history_reads_the_store(settings):
    history = workflows.customer_history(settings, cutoff="2011-09-01")
    assert str(history.cutoff.date()) == "2011-09-01"
    assert history.lines["time"].max() < history.cutoff
    assert len(history.customers) > 500


def test_segment_saves_a_version_and_writes_its_report(settings):
    run = workflows.segment(settings, method="rfm")
    assert run.version.task == "behavior" and run.version.meta["data"]["customers"] > 500
    report = json.loads((run.report_dir / "report.json").read_text())
    assert sum(p["customers"] for p in report["profiles"]) == run.version.meta["data"]["customers"]
    assert (run.report_dir / "segments.png").stat().st_size > 10_000


def test_no_store_is_a_clear_error(settings, tmp_path):
    missing = settings.model_copy(update={"store_path": tmp_path / "none.duckdb"})
    with pytest.raises(FileNotFoundError, match="no store"):
        workflows.customer_history(missing)

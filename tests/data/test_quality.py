"""Every ingest is checked: odd rows are counted with examples, and drift against the
previous ingest of the same table is reported; the reports are kept in the store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopsense.data.quality import QualityReport, item_summary, quality_report
from shopsense.data.store import Store

ITEMS = "item_id,title,price,kind\ni1,Mug,4.5,product\ni2,Lamp,0,product\nPOST,Postage,0,shipping\n"


def _lines(prices: list[float], item: str = "i1") -> pd.DataFrame:
    n = len(prices)
    return pd.DataFrame(
        {
            "invoice_id": [f"o{i}" for i in range(n)],
            "item_id": [item] * n,
            "quantity": [1] * n,
            "unit_price": prices,
            "time": pd.date_range("2024-01-01", periods=n, freq="h"),
            "customer_id": ["c1"] * n,
        }
    )


def _checks(report: QualityReport) -> dict[str, int]:
    return {f.check: f.rows for f in report.findings}


def test_prices_outliers_unknown_ids_and_repeats():
    lines = pd.concat([_lines([10.0] * 30 + [10.5, 9.5, 1000.0, 0.0]), _lines([3.0], "x9")])
    lines = pd.concat([lines, lines.tail(1)], ignore_index=True)  # a repeated row
    report = quality_report(
        lines,
        "order_lines",
        source="lines.csv",
        known_items={"i1"},
        known_users={"c1"},
        product_items={"i1", "x9"},
    )
    checks = _checks(report)
    assert checks["zero or negative prices"] == 1
    assert checks["extreme unit_price"] == 1  # 1000 against a usual 10; 10.5 and 9.5 are not
    assert checks["unknown items"] == 2 and checks["repeated rows"] == 1
    assert "unknown customers" not in checks
    finding = next(f for f in report.findings if f.check == "unknown items")
    assert finding.examples == ["x9"]
    assert QualityReport.from_dict(report.to_dict()) == report


def test_a_clean_file_has_no_findings_and_non_products_may_be_free():
    lines = _lines([10.0, 10.0, 11.0, 0.0]).assign(line_type=["sale"] * 3 + ["adjustment"])
    report = quality_report(lines, "order_lines", source="ok.csv", product_items={"i1"})
    assert report.clean and report.lines()[-1].strip() == "no data-quality findings"


def test_drift_against_the_previous_ingest():
    before = item_summary(pd.concat([_lines([10.0] * 4), _lines([5.0] * 4, "gone")]), "order_lines")
    now = pd.concat([_lines([13.0] * 4), _lines([2.0] * 4, "new")])
    report = quality_report(now, "order_lines", source="week2.csv", previous=before)
    assert report.drift["new_examples"] == ["new"] and report.drift["vanished_examples"] == ["gone"]
    assert report.drift["price_examples"] == ["i1 10 -> 13"]
    checks = _checks(report)
    assert (
        checks["new items"] == 1 and checks["vanished items"] == 1 and checks["price shifts"] == 1
    )


def test_the_store_keeps_a_report_per_ingest(tmp_path: Path):
    (tmp_path / "items.csv").write_text(ITEMS)
    (tmp_path / "a.csv").write_text(_lines([10.0] * 5).to_csv(index=False))
    (tmp_path / "b.csv").write_text(_lines([20.0] * 5).to_csv(index=False))
    with Store(tmp_path / "s.duckdb") as store:
        items = store.ingest("items", tmp_path / "items.csv").quality
        assert _checks(items) == {"zero or negative prices": 1}  # the lamp, not the postage
        store.ingest("order_lines", tmp_path / "a.csv")
        second = store.ingest("order_lines", tmp_path / "b.csv").quality
        assert second.drift["price_examples"] == ["i1 10 -> 20"]
        assert [r.table for r in store.quality_reports()] == ["order_lines", "items"]
        assert len(store.quality_reports("order_lines", latest=False)) == 2
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        assert store.quality_reports("order_lines")[0].source.endswith("b.csv")


def test_small_code_writes_can_skip_the_report(tmp_path: Path):
    """The service writes events per request: no report, no ingest-log row for those."""
    with Store(tmp_path / "s.duckdb") as store:
        report = store.write_frame("order_lines", _lines([1.0]), source="api", quality=False)
        assert report.quality is None and report.rows_inserted == 1
        assert store.quality_reports() == []


def test_times_no_shop_lived_through_are_flagged_by_row():
    """A file may hold 1677 or 2262 (the ends of pandas' range) or a year typed as 2204:
    stored, such times stretch the charts; the report names them."""
    lines = _lines([10.0] * 4)
    lines["time"] = pd.to_datetime(["2024-01-01", "1677-09-22", "2204-05-01", "2024-01-02"])
    report = quality_report(lines, "order_lines", source="lines.csv", product_items={"i1"})
    finding = next(f for f in report.findings if f.check == "implausible times")
    assert finding.rows == 2 and "time before 1990-01-01" in finding.detail
    assert [e[:4] for e in finding.examples] == ["1677", "2204"]

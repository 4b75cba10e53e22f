"""Confusion matrix, per-class accuracy and the plot."""

from __future__ import annotations

from shopsense.images.evaluate import classification_report, plot_confusion


def test_report_counts_and_plot(tmp_path):
    truth = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", "a"]
    r = classification_report(truth, pred, ["a", "b", "c"])
    assert r["accuracy"] == 0.6
    assert r["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert r["per_class_accuracy"] == {"a": 0.5, "b": 1.0, "c": 0.0}
    path = plot_confusion(r, tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""Store -> fit -> registry -> report, and the jobs over a trained version."""

from __future__ import annotations

import json

import pytest

from shopsense.images import workflows
from shopsense.registry import Registry
from tests.images.shop import build_shop, sample, write_pngs


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return build_shop(tmp_path_factory.mktemp("imgshop"))


def test_train_saves_a_version_and_a_report(shop):
    version = Registry(shop.models_dir).get("images", "classifier")
    assert version.meta["model"] == "image_classifier" and version.metrics["accuracy"] > 0.5
    report_dir = next(shop.reports_dir.glob("images-classifier-*"))
    report = json.loads((report_dir / "report.json").read_text())
    assert len(report["confusion"]) == 10 and set(report["per_class_accuracy"]) == set(
        report["classes"]
    )
    assert (report_dir / "confusion.png").stat().st_size > 1000
    assert report["search_precision_at_10"] > 0.3


def test_classify_similar_and_check(shop, tmp_path):
    files = write_pngs(tmp_path / "photos", sample("test", 300, seed=5), per_class=2)
    frame, problems, _ = workflows.classify(shop, [*files, tmp_path / "photos/Bag/broken.png"])
    assert len(frame) == len(files) and len(problems) == 1 and "broken.png" in problems[0].path
    listed = [p.parent.name.replace("-", "/") for p in files]
    assert (frame["category"].to_numpy() == listed).mean() > 0.5  # white-background photos
    similar, _ = workflows.similar(shop, item_id="fm-train-00000", k=5)
    assert len(similar) == 5 and "fm-train-00000" not in set(similar["item_id"])
    run = workflows.check(shop, min_confidence=0.9)
    assert run.checked == 1500 and run.path.exists()
    assert len(run.flags) < 0.3 * run.checked


def test_load_folder_adds_photos_and_reports_broken_files(shop, tmp_path):
    write_pngs(tmp_path / "new", sample("test", 100, seed=2), per_class=1)
    settings = shop.model_copy(update={"store_path": tmp_path / "s.duckdb"})
    report, problems = workflows.load_folder(settings, tmp_path / "new")
    assert report.rows_inserted == 10 and len(problems) == 1
    assert "broken.png" in problems[0].path


def test_a_version_saved_without_an_export_exports_on_the_store_s_photos(shop, tmp_path):
    from typer.testing import CliRunner

    from shopsense.cli import app

    plain = shop.model_copy(update={"onnx": "off"})
    tiny = {"widths": [8, 16, 16], "epochs": 1, "batch_size": 128, "threads": 1}
    run = workflows.train(plain, name="plain", params=tiny, search=False)
    assert not (run.version.path / "model.onnx").exists()
    env = {
        "SHOPSENSE_STORE_PATH": str(shop.store_path),
        "SHOPSENSE_MODELS_DIR": str(shop.models_dir),
    }
    result = CliRunner().invoke(app, ["export", "plain", "--task", "images"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads((run.version.path / "export.json").read_text())
    assert report["checked_images"] == 512 and report["precisions"]["fp32"]["passed"]
    model, _ = workflows.load_model(shop, "plain")
    assert model.runtime_ is not None
    listed = Registry(shop.models_dir).get("images", "plain").meta["export"]
    assert listed == report

"""A shop's RGB photos of mixed sizes: folder -> store -> train -> classify -> look-alikes ->
catalogue check, through the same jobs and CLI as grayscale photos."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from shopsense.cli import app
from shopsense.config import Settings
from shopsense.images import workflows
from tests.images.grocery import SIDE, TINY_RGB, photo_folder


@pytest.fixture(scope="module")
def rgb_shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("rgbshop")
    settings = Settings(
        store_path=root / "shop.duckdb",
        models_dir=root / "models",
        reports_dir=root / "reports",
        threads=1,
    )
    folder = photo_folder(root / "photos", "train")
    report, problems = workflows.load_folder(settings, folder)
    assert report.rows_inserted == 384 and not problems
    run = workflows.train(settings, params={**TINY_RGB, "image_size": SIDE}, test_size=0.2)
    return settings, run


def test_training_reads_the_photos_as_rgb(rgb_shop):
    settings, run = rgb_shop
    model, _ = workflows.load_model(settings)
    assert (model.input_format.channels, model.input_format.size) == (3, SIDE)
    assert run.report["accuracy"] > 0.2 and run.report["search_precision_at_10"] > 0.15


def test_classify_similar_and_check_on_photos_of_any_size(rgb_shop, tmp_path):
    settings, _ = rgb_shop
    files = sorted(photo_folder(tmp_path / "q", "test", per_class=2).rglob("*.jpg"))
    frame, problems, _ = workflows.classify(settings, files)
    assert len(frame) == 48 and not problems
    truth = np.array([f.parent.name for f in files])
    assert (frame["category"].to_numpy() == truth).mean() > 0.2  # chance: 1/24
    item = "Granny-Smith/Granny-Smith_001"
    found, _ = workflows.similar(settings, item_id=item, k=5)
    assert len(found) == 5 and item not in set(found["item_id"])
    found, _ = workflows.similar(settings, file=files[0], k=3)
    assert len(found) == 3
    run = workflows.check(settings, min_confidence=0.9)
    assert run.checked == 384 and len(run.flags) < 0.3 * run.checked


def test_cli_loads_a_folder_of_rgb_photos(tmp_path):
    folder = photo_folder(tmp_path / "p", "test", per_class=1)
    env = {"SHOPSENSE_STORE_PATH": str(tmp_path / "s.duckdb")}
    r = CliRunner().invoke(app, ["images", "load", str(folder)], env=env)
    assert r.exit_code == 0, r.output
    assert "24" in r.output

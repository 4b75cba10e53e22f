"""Loading a saved classic recommender imports no torch: a process that only loads and
scores EASE, item-kNN, ALS or most-popular models starts faster and uses less memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shopsense.eval.splits import Split
from shopsense.recommend import ALS, EASE, ItemKNN, MostPopular
from shopsense.registry import Registry

LOAD_AND_SCORE = """
import sys
import numpy as np
from shopsense.registry import Registry
model = Registry(sys.argv[1]).load("recommend", sys.argv[2])
scores = model.score(np.arange(5))
np.save(sys.argv[3], scores)
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""


@pytest.fixture(scope="module")
def saved(ml_split: Split, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("models")
    registry = Registry(root)
    models = {
        "ease": EASE(l2=200.0),
        "itemknn": ItemKNN(neighbors=20),
        "als": ALS(factors=8, iterations=2),
        "popular": MostPopular(),
    }
    for model in models.values():
        registry.save(model.fit(ml_split.train))
    return root, models


@pytest.mark.parametrize("name", ["ease", "itemknn", "als", "popular"])
def test_a_classic_model_loads_and_scores_without_torch(
    saved: tuple[Path, dict], name: str, tmp_path: Path
) -> None:
    root, models = saved
    out = tmp_path / "scores.npy"
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_SCORE, str(root), name, str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"loading {name} imported {done.stdout.strip()}"
    # the same model: scores agree to float32 rounding (BLAS may sum in another order
    # with another thread count in the fresh process)
    np.testing.assert_allclose(np.load(out), models[name].score(np.arange(5)), rtol=1e-5, atol=1e-6)


def test_the_model_table_still_names_every_recommender() -> None:
    from shopsense.recommend import MODELS

    assert {"popular", "itemknn", "userknn", "content", "als", "bpr", "ease"} <= set(MODELS)
    assert {"neumf", "multvae", "multdae", "gru4rec", "sasrec"} <= set(MODELS)
    assert all(cls.name == name for name, cls in MODELS.items())

"""The shared neural base: validation-driven training, kill-and-resume, persistence."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from shopsense.data.views import Interactions
from shopsense.eval.evaluate import evaluate
from shopsense.recommend.gru4rec import GRU4Rec
from shopsense.recommend.neural import WEIGHTS_FILE, training_summary

SMALL = {"hidden": 32, "max_length": 20, "dropout": 0.1, "threads": 1, "learning_rate": 5e-3}


def _save_view(view: Interactions, path) -> None:
    np.savez(
        path,
        user_ids=view.user_ids,
        item_ids=view.item_ids,
        user_idx=view.user_idx,
        item_idx=view.item_idx,
        weights=view.weights,
        timestamps=view.timestamps,
    )


KILLED_RUN = """
import os, signal, sys
import numpy as np
from shopsense.data.views import Interactions
from shopsense.recommend.gru4rec import GRU4Rec

def view(path):
    with np.load(path) as a:
        return Interactions(*(a[k] for k in
            ("user_ids", "item_ids", "user_idx", "item_idx", "weights", "timestamps")))

def die(log):
    if log.epoch == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no flush: a real kill

GRU4Rec(epochs=4, patience=0, **{params}).fit(
    view(sys.argv[1]), validation=view(sys.argv[2]), checkpoint_dir=sys.argv[3],
    on_epoch_end=die)
"""


def test_a_killed_run_resumes_to_the_same_model(ml_split, tmp_path):
    train, validation = tmp_path / "train.npz", tmp_path / "validation.npz"
    _save_view(ml_split.train, train)
    _save_view(ml_split.validation, validation)
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(KILLED_RUN).replace("{params}", repr(SMALL)))
    ckpt = tmp_path / "ckpt"
    done = subprocess.run([sys.executable, str(script), str(train), str(validation), str(ckpt)])
    assert done.returncode == -9, "the training process should have been killed"
    assert (ckpt / "checkpoint.pt").exists()

    resumed = GRU4Rec(epochs=4, patience=0, **SMALL).fit(
        ml_split.train, validation=ml_split.validation, checkpoint_dir=ckpt, resume=True
    )
    whole = GRU4Rec(epochs=4, patience=0, **SMALL).fit(
        ml_split.train, validation=ml_split.validation
    )
    assert resumed.training_.resumed_from == 2 and resumed.training_.epochs == 4
    users = ml_split.validation.active_users
    np.testing.assert_array_equal(resumed.score(users), whole.score(users))
    assert [h.metric for h in resumed.training_.history] == [
        h.metric for h in whole.training_.history
    ]


def test_validation_picks_the_best_epoch(ml_split):
    model = GRU4Rec(epochs=6, patience=2, **SMALL).fit(
        ml_split.train, validation=ml_split.validation
    )
    summary = training_summary(model)
    best = max(h["metric"] for h in summary["history"])
    assert summary["best_metric"] == pytest.approx(best)
    # the model ends with the best epoch's weights, not the last epoch's
    now = evaluate(model, ml_split.validation, k=10, metrics=["ndcg"]).metrics["ndcg@10"]
    assert now == pytest.approx(best, rel=1e-6)


def test_validation_on_a_capped_user_sample(ml_split):
    model = GRU4Rec(epochs=1, validation_users=100, **SMALL)
    model.fit(ml_split.train, validation=ml_split.validation)
    assert model.training_.history[0].metric is not None


def test_weights_are_safetensors_and_load_identically(ml_split, tmp_path):
    model = GRU4Rec(epochs=1, **SMALL).fit(ml_split.train)
    folder = model.save(tmp_path / "m")
    weights = load_file(folder / WEIGHTS_FILE)
    for name, value in model.module_.state_dict().items():
        torch.testing.assert_close(weights[name], value, rtol=0, atol=0)
    users = ml_split.train.active_users[:30]
    np.testing.assert_array_equal(GRU4Rec.load(folder).score(users), model.score(users))


def test_validation_on_another_vocabulary_is_refused(ml_split, ml_events):
    other = Interactions.from_frame(ml_events.head(500))
    with pytest.raises(ValueError, match="vocabulary"):
        GRU4Rec(epochs=1, **SMALL).fit(ml_split.train, validation=other)

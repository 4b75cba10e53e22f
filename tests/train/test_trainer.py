import numpy as np
import pytest
import torch

from shopsense.train.trainer import Trainer, TrainerConfig, seed_everything, select_device


class ScriptedTask:
    """A least-squares fit whose validation scores follow a script."""

    def __init__(self, scores: list[float]) -> None:
        seed_everything(0)
        self.module = torch.nn.Linear(3, 1)
        self.scores = list(scores)
        self.x = torch.randn(64, 3)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5]])
        self.weights_at_validation: list[torch.Tensor] = []

    def batches(self, rng):
        order = torch.from_numpy(rng.permutation(64))
        for s in range(0, 64, 16):
            yield order[s : s + 16]

    def loss(self, rows):
        return torch.nn.functional.mse_loss(self.module(self.x[rows]), self.y[rows])

    def validate(self):
        self.weights_at_validation.append(self.module.weight.detach().clone())
        return self.scores.pop(0) if self.scores else 0.0


def test_early_stopping_stops_and_restores_the_best_epoch():
    task = ScriptedTask([0.1, 0.3, 0.2, 0.25, 0.1, 0.4])
    result = Trainer(TrainerConfig(epochs=20, patience=3)).fit(task)
    assert result.epochs == 5 and result.stopped_early
    assert result.best_epoch == 2 and result.best_metric == pytest.approx(0.3)
    torch.testing.assert_close(task.module.weight, task.weights_at_validation[1])


def test_without_patience_it_runs_every_epoch():
    task = ScriptedTask([0.5, 0.1, 0.1, 0.1])
    result = Trainer(TrainerConfig(epochs=4, patience=0)).fit(task)
    assert result.epochs == 4 and not result.stopped_early and result.best_epoch == 1


def test_training_lowers_the_loss():
    task = ScriptedTask([])
    result = Trainer(TrainerConfig(epochs=30, patience=0, learning_rate=0.05)).fit(task)
    assert result.history[-1].loss < 0.05 * result.history[0].loss


def test_same_seed_same_weights_other_seed_other_weights():
    def run(seed: int) -> torch.Tensor:
        task = ScriptedTask([])
        Trainer(TrainerConfig(epochs=3, patience=0, random_state=seed)).fit(task)
        return task.module.weight.detach()

    torch.testing.assert_close(run(1), run(1), rtol=0, atol=0)
    assert not torch.equal(run(1), run(2))


def test_learning_rate_schedules():
    task = ScriptedTask([])
    result = Trainer(TrainerConfig(epochs=4, patience=0, schedule="linear")).fit(task)
    assert [h.learning_rate for h in result.history] == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])


def test_resume_continues_where_the_checkpoint_left_off(tmp_path):
    config = TrainerConfig(epochs=6, patience=0)
    whole = ScriptedTask([])
    Trainer(config).fit(whole)

    class Killed(Exception):
        pass

    def kill_after_three(log):
        if log.epoch == 3:
            raise Killed

    first = ScriptedTask([])
    with pytest.raises(Killed):
        Trainer(config, checkpoint_dir=tmp_path, on_epoch_end=kill_after_three).fit(first)
    second = ScriptedTask([])
    result = Trainer(config, checkpoint_dir=tmp_path, resume=True).fit(second)
    assert result.resumed_from == 3 and result.epochs == 6
    torch.testing.assert_close(second.module.weight, whole.module.weight, rtol=0, atol=0)


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    Trainer(TrainerConfig(epochs=2), checkpoint_dir=tmp_path).fit(ScriptedTask([]))
    changed = TrainerConfig(epochs=2, learning_rate=0.1)
    other = Trainer(changed, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="learning_rate"):
        other.fit(ScriptedTask([]))


def test_a_finished_checkpoint_is_not_trained_again(tmp_path):
    Trainer(TrainerConfig(epochs=2), checkpoint_dir=tmp_path).fit(ScriptedTask([0.1, 0.2]))
    result = Trainer(TrainerConfig(epochs=2), checkpoint_dir=tmp_path, resume=True).fit(
        ScriptedTask([])
    )
    assert result.resumed_from == 2 and result.best_epoch == 2


def test_diverging_loss_is_a_clear_error():
    task = ScriptedTask([])
    task.y[0] = float("nan")
    with pytest.raises(FloatingPointError, match="learning_rate"):
        Trainer(TrainerConfig(epochs=1)).fit(task)


@pytest.mark.parametrize(
    "bad", [{"epochs": -1}, {"learning_rate": 0}, {"optimizer": "lbfgs"}, {"schedule": "step"}]
)
def test_bad_settings_are_rejected(bad):
    with pytest.raises(ValueError):
        Trainer(TrainerConfig(**bad))


def test_resume_needs_a_folder():
    with pytest.raises(ValueError, match="checkpoint_dir"):
        Trainer(TrainerConfig(), resume=True)


def test_device_selection_prefers_cuda_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    assert select_device("cpu").type == "cpu"


def test_epoch_generators_differ_by_epoch_and_repeat_by_seed():
    a = seed_everything(3, 1).integers(0, 1_000_000, 5)
    b = seed_everything(3, 2).integers(0, 1_000_000, 5)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, seed_everything(3, 1).integers(0, 1_000_000, 5))

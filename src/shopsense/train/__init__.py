"""Training: the one loop every PyTorch model runs on."""

from shopsense.train.trainer import Trainer, TrainerConfig, TrainResult, select_device

__all__ = ["TrainResult", "Trainer", "TrainerConfig", "select_device"]

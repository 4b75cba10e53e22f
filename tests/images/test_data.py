"""Model preprocessing of photos: normalisation, channel statistics and batch augmentation."""

from __future__ import annotations

import numpy as np
import torch

from shopsense.images.data import augment, channel_stats, channels_first, normalise


def test_augment_shifts_and_flips_without_changing_content():
    x = torch.zeros(64, 1, 8, 8)
    x[:, 0, 3:5, 1:3] = 1.0  # a block left of centre
    g = torch.Generator().manual_seed(0)
    out = augment(x, g, padding=2, flip=True)
    assert out.shape == x.shape
    assert torch.all(out.sum(dim=(1, 2, 3)) <= 4) and torch.any(out.sum(dim=(1, 2, 3)) == 4)
    moved = (out != x).flatten(1).any(dim=1).float().mean()
    assert 0.5 < moved <= 1.0
    same = augment(x, g, padding=0, flip=False)
    assert torch.equal(same, x)


def test_normalised_training_photos_have_zero_mean_unit_std(train_set):
    mean, std = channel_stats(train_set.images)
    x = normalise(train_set.images, mean, std)
    assert x.shape == (len(train_set), 1, train_set.size, train_set.size)
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-3


def test_channels_first_moves_rgb_channels_ahead():
    rgb = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    out = channels_first(rgb)
    assert out.shape == (2, 3, 4, 4) and out[1, 2, 3, 0] == rgb[1, 3, 0, 2]
    assert channels_first(rgb[..., 0]).shape == (2, 1, 4, 4)

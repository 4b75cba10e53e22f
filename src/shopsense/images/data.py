"""Model preprocessing of photos: channels-first layout, normalisation, per-channel
statistics and batch augmentation.

The photos themselves (decoded pixels, item ids, categories, splits) are the photo view,
`shopsense.data.images.ImageSet`; this module holds what a network does to them before it
reads them. Augmentation runs on whole batches as tensor indexing (no per-image Python
loop): it must keep up with a small CNN on two CPU cores.
"""

from __future__ import annotations

import numpy as np
import torch


def channels_first(images: np.ndarray) -> np.ndarray:
    """(n, s, s) or (n, s, s, c) pixels as (n, c, s, s), the layout networks read."""
    return images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)


def normalise(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(n, s, s[, c]) uint8 -> (n, c, s, s) float32 scaled to [0, 1], minus the per-channel
    mean, over the per-channel std (both measured on the training images)."""
    x = channels_first(np.asarray(images)).astype(np.float32) / np.float32(255.0)
    mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    return (x - mean) / std


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of (n, s, s[, c]) uint8 images scaled to [0, 1], float32,
    computed in chunks (no float copy of the whole set)."""
    c = 1 if images.ndim == 3 else images.shape[3]
    flat = images.reshape(len(images), -1, c)
    total = np.zeros(c, dtype=np.float64)
    squares = np.zeros(c, dtype=np.float64)
    for s in range(0, len(flat), 1024):
        chunk = flat[s : s + 1024].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 1))
        squares += np.square(chunk).sum(axis=(0, 1))
    n = max(1, flat.shape[0] * flat.shape[1])
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean**2, 0.0)) + 1e-6
    return mean.astype(np.float32), std.astype(np.float32)


# ------------------------------------------------------------------------- augmentation
def augment(
    batch: torch.Tensor, generator: torch.Generator | None, *, padding: int, flip: bool
) -> torch.Tensor:
    """Random shifts (crop of a zero-padded image) and horizontal flips of a (b, c, h, w)
    float batch, vectorised by gathering pixel indices."""
    b, _, h, w = batch.shape
    out = batch
    if padding > 0:
        padded = torch.nn.functional.pad(batch, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None]  # (b, h, 1)
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :]  # (b, 1, w)
        # advanced indices around a slice: the result is (b, h, w, c)
        out = padded[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if flip:
        mirror = torch.rand(b, generator=generator) < 0.5
        out = torch.where(mirror[:, None, None, None], out.flip(3), out)
    return out

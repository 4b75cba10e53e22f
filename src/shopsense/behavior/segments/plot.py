"""The segments plot: customers on the embedding's first two principal components."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shopsense.persist import atomic_write


def plot_segments(
    embedding: np.ndarray,
    labels: np.ndarray,
    names: Sequence[str],
    path: str | Path,
    title: str = "customer segments",
) -> Path:
    """Scatter of the first two principal components, one colour and legend entry (name and
    size) per segment; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=0).fit_transform(np.asarray(embedding, dtype=float))
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    colours = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for label in np.unique(labels):
        mine = labels == label
        ax.scatter(
            xy[mine, 0],
            xy[mine, 1],
            s=8,
            alpha=0.6,
            color=colours(int(label) % colours.N),
            label=f"{names[label]} ({int(mine.sum()):,})",
        )
    ax.set(title=title, xlabel="PC 1", ylabel="PC 2")
    ax.legend(loc="best", fontsize=8, markerscale=2, frameon=False)
    fig.tight_layout()
    path = Path(path)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return path

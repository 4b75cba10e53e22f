"""Classification quality: accuracy, per-class accuracy, confusion matrix and its plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score


def classification_report(
    truth: np.ndarray, predicted: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    """accuracy, macro_f1, per-class accuracy (recall) and the confusion matrix (rows:
    listed category, columns: predicted, in `classes` order)."""
    truth, predicted = np.asarray(truth).astype(str), np.asarray(predicted).astype(str)
    matrix = confusion_matrix(truth, predicted, labels=classes)
    support = matrix.sum(axis=1)
    per_class = np.divide(np.diag(matrix), support, out=np.zeros(len(classes)), where=support > 0)
    return {
        "accuracy": float((truth == predicted).mean()) if len(truth) else 0.0,
        "macro_f1": float(f1_score(truth, predicted, labels=classes, average="macro")),
        "n": len(truth),
        "classes": list(classes),
        "per_class_accuracy": {c: float(a) for c, a in zip(classes, per_class, strict=True)},
        "confusion": matrix.tolist(),
    }


def plot_confusion(report: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """The confusion matrix as a PNG (row-normalised colours, counts in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shopsense.persist import atomic_write

    matrix = np.asarray(report["confusion"], dtype=float)
    classes = report["classes"]
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(classes), 0.8 + 0.7 * len(classes)))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if matrix[i, j]:
                color = "white" if share[i, j] > 0.5 else "black"
                ax.text(
                    j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=7, color=color
                )
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("listed")
    ax.set_title(title or f"accuracy {report['accuracy']:.4f}")
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path

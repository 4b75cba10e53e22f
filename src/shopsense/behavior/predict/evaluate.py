"""Evaluation: scores of predicted probabilities, aligning truth and predictions, calibration."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from shopsense.persist import atomic_write


def probability_scores(
    y_true: np.ndarray | pd.Series, p: np.ndarray | pd.Series
) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), Brier score and log loss of probabilities,
    with the observed and mean predicted rate (their gap is calibration-in-the-large)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    y, p = np.asarray(y_true, dtype=float), np.asarray(p, dtype=float)
    if len(y) != len(p) or len(y) == 0:
        raise ValueError(f"need as many probabilities as labels (got {len(p)} and {len(y)})")
    if len(np.unique(y)) < 2:
        raise ValueError("ROC-AUC needs both outcomes among the labels")
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7))),
        "observed_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
    }


def aligned(truth: pd.Series, predicted: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Truth and predictions for the same customers, in one order; a customer missing from
    either side is an error (it means the two came from different cut-offs)."""
    if not truth.index.equals(predicted.index):
        if set(truth.index) != set(predicted.index):
            raise ValueError("truth and predictions cover different customers")
        predicted = predicted.reindex(truth.index)
    return truth.to_numpy(np.float64), predicted.to_numpy(np.float64)


def calibration_table(y_true: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Customers in `n_bins` equal-count bins of predicted probability: mean predicted,
    observed rate and count per bin (a reliability diagram as numbers)."""
    y, p = np.asarray(y_true, float), np.asarray(p, float)
    bins = pd.qcut(pd.Series(p).rank(method="first"), n_bins, labels=False)
    frame = pd.DataFrame({"bin": bins, "predicted": p, "observed": y})
    return frame.groupby("bin").agg(
        predicted=("predicted", "mean"), observed=("observed", "mean"), n=("observed", "size")
    )


def calibration_plot(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    *,
    n_bins: int = 10,
    title: str = "",
) -> Path:
    """Reliability diagram (observed rate against mean predicted probability, equal-count
    bins) of each model's (y_true, p), written as a PNG without a display (Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.calibration import calibration_curve

    fig = Figure(figsize=(5, 5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for label, (y, p) in curves.items():
        observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
        ax.plot(predicted, observed, marker="o", markersize=3, label=label)
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title=title)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path

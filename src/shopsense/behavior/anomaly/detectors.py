"""Every detector by name, and loading any saved one."""

from __future__ import annotations

import json
from pathlib import Path

from shopsense.behavior.anomaly.autoencoder import SequenceAutoencoder
from shopsense.behavior.anomaly.base import CONFIG_FILE, AnomalyDetector
from shopsense.behavior.anomaly.isolation_forest import IsolationForestDetector

DETECTORS: dict[str, type[AnomalyDetector]] = {
    IsolationForestDetector.name: IsolationForestDetector,
    SequenceAutoencoder.name: SequenceAutoencoder,
}


def load_detector(path: str | Path) -> AnomalyDetector:
    """Any saved detector, by the "model" field of its model.json."""
    meta = json.loads((Path(path) / CONFIG_FILE).read_text())
    try:
        cls = DETECTORS[meta.get("model")]
    except KeyError:
        raise ValueError(
            f"{path} holds a {meta.get('model')!r} model; detectors are {list(DETECTORS)}"
        ) from None
    return cls.load(path)

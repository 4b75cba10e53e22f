"""Image jobs over the store and the registry, shared by the CLI, the service and the
benchmark: read the photos, fit, save a version under `images/<name>`, write a report.

I/O lives here; the model, the search index and the check never open a file they were not
given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shopsense.config import Settings
from shopsense.data.images import ImageSet
from shopsense.images.io import ImageFormat, ImageProblem, decode, scan_folder
from shopsense.persist import atomic_write, write_json
from shopsense.registry import ModelVersion, Registry
from shopsense.workflows import open_store

TASK = "images"
DEFAULT_NAME = "classifier"


def image_set(
    settings: Settings, *, size: int | None = None, channels: int | None = None
) -> ImageSet:
    """Every photo of the store, decoded (unreadable ones listed in `problems`). Channels
    and side default to what the photos are: grayscale at 28 px, else RGB at `RGB_SIZE`."""
    with open_store(settings) as store:
        return ImageSet.from_store(store, size=size, channels=channels)


def load_folder(
    settings: Settings, folder: str | Path, *, labels: str = "folders"
) -> tuple[Any, list[ImageProblem]]:
    """Scan a folder of PNG/JPEG photos into the `images` table (bad files are reported,
    the rest load). Returns the store's ingest report and the problems."""
    from shopsense.data.store import Store

    frame, problems = scan_folder(
        folder, labels=labels, relative_to=Path(settings.store_path).resolve().parent
    )
    if frame.empty:
        raise ValueError(f"no readable PNG/JPEG image under {folder} ({len(problems)} failed)")
    with Store(settings.store_path) as store:
        report = store.write_frame("images", frame, source=str(folder))
    return report, problems


@dataclass(frozen=True)
class TrainRun:
    """What `train` produced: the saved version, its test report and where it was written."""

    version: ModelVersion
    report: dict[str, Any]
    report_dir: Path
    problems: tuple[ImageProblem, ...]


def train(
    settings: Settings,
    *,
    name: str = DEFAULT_NAME,
    params: dict[str, Any] | None = None,
    test_size: float = 0.1,
    search: bool = True,
) -> TrainRun:
    """Fit a classifier on the store's labelled photos (a stratified `test_size` held out
    for the report), index every photo for visual search, save the next version of
    images/<name>, and write report.json + confusion.png (+ problems.csv)."""
    from shopsense.images.evaluate import classification_report, plot_confusion
    from shopsense.images.model import ImageClassifier
    from shopsense.images.search import VisualSearch

    params = dict(params or {})
    params.setdefault("threads", settings.threads)
    view = image_set(settings, size=params.get("image_size"))
    train_view, test_view = view.split(test_size, random_state=params.get("random_state", 0))
    model = ImageClassifier(**params).fit(train_view)
    report = classification_report(test_view.labels, model.predict(test_view), model.classes_)
    if search:
        model.search_ = VisualSearch.build(model, view)
        report["search_precision_at_10"] = model.search_.precision_at_k(10, sample=2000)
    result = model.train_result_
    report["train"] = result.to_dict() if result else None
    version = Registry(settings.models_dir).save(
        model,
        task=TASK,
        name=name,
        metrics={k: report[k] for k in ("accuracy", "macro_f1") if k in report}
        | ({"search_precision_at_10": report["search_precision_at_10"]} if search else {}),
        data={
            "images": len(view),
            "train": len(train_view),
            "test": len(test_view),
            "unreadable": len(view.problems),
        },
        export=settings.onnx != "off",
    )
    folder = _report_dir(settings, f"images-{name}")
    write_json(folder / "report.json", {"model": f"{name}/{version.version}", **report})
    plot_confusion(report, folder / "confusion.png", title=f"{name}/{version.version}")
    if view.problems:
        _write_csv(folder / "problems.csv", problems_frame(view.problems))
    return TrainRun(version, report, folder, view.problems)


def load_model(settings: Settings, name: str | None = None) -> tuple[Any, ModelVersion]:
    """The active version of images/<name> (default: the most recently trained name)."""
    registry = Registry(settings.models_dir)
    if name is None:
        found = registry.versions(TASK)
        if not found:
            raise FileNotFoundError(
                f"no image model under {settings.models_dir}; train one (`shopsense images train`)"
            )
        name = max(found, key=lambda v: v.meta.get("created_at", "")).name
    version = registry.active(TASK, name)
    return registry.load(TASK, version.name, version.version), version


def export(
    settings: Settings, name: str, version: str | None = None, *, int8: bool = True
) -> dict[str, Any]:
    """Export a saved classifier to ONNX, checked (and int8-calibrated) on a seeded sample of
    the store's own photos: for versions saved without an export."""
    from shopsense.images.export import CHECK_IMAGES

    registry = Registry(settings.models_dir)
    v = registry.get(TASK, name, version)
    model = registry.load(TASK, v.name, v.version, onnx="off")
    view = image_set(settings, size=model.image_size_, channels=model.channels_)
    if len(view) == 0:
        raise ValueError("the store holds no photos to check the export on; load some first")
    rows = np.random.default_rng(0).permutation(len(view))[:CHECK_IMAGES]
    return registry.export(TASK, v.name, v.version, int8=int8, images=view.images[np.sort(rows)])


def read_photos(
    files: list[str | Path], fmt: ImageFormat
) -> tuple[np.ndarray, list[str], list[ImageProblem]]:
    """Photos from files as input of a model reading `fmt`; unreadable files become
    problems."""
    images, kept, problems = fmt.reader().read_many(
        [str(f) for f in files], fmt.size, channels=fmt.channels
    )
    return images, [str(files[i]) for i in kept], problems


def photo_from_bytes(data: bytes, fmt: ImageFormat, *, name: str = "upload") -> np.ndarray:
    """An uploaded photo of any size or mode (RGBA, palette, ...) as one input of a model
    reading `fmt`; ImageError if it is not an image."""
    return fmt.convert(decode(data, name=name))


def classify_images(model: Any, images: np.ndarray, top: int = 3) -> list[dict[str, Any]]:
    """Per image: the predicted category, its probability and the `top` candidates."""
    proba = model.predict_proba(images)
    order = np.argsort(-proba, axis=1)[:, :top]
    out = []
    for p, idx in zip(proba, order, strict=True):
        out.append(
            {
                "category": model.classes_[idx[0]],
                "confidence": float(p[idx[0]]),
                "top": [{"category": model.classes_[j], "probability": float(p[j])} for j in idx],
            }
        )
    return out


def classify(
    settings: Settings, files: list[str | Path], *, name: str | None = None, top: int = 3
) -> tuple[pd.DataFrame, list[ImageProblem], ModelVersion]:
    """Predicted categories of photo files (unreadable files reported, not fatal)."""
    model, version = load_model(settings, name)
    images, kept, problems = read_photos(files, model.input_format)
    rows = classify_images(model, images, top) if len(images) else []
    frame = pd.DataFrame(
        {
            "file": kept,
            "category": [r["category"] for r in rows],
            "confidence": [r["confidence"] for r in rows],
            "runner_up": [r["top"][1]["category"] if len(r["top"]) > 1 else None for r in rows],
        }
    )
    return frame, problems, version


def similar(
    settings: Settings,
    *,
    item_id: str | None = None,
    file: str | Path | None = None,
    k: int = 10,
    name: str | None = None,
) -> tuple[pd.DataFrame, ModelVersion]:
    """The k catalogue photos most like an item's photo or a photo file."""
    if (item_id is None) == (file is None):
        raise ValueError("give exactly one of an item id or an image file")
    model, version = load_model(settings, name)
    if model.search_ is None:
        raise ValueError(f"{version.path} has no visual search index; train with search on")
    if item_id is not None:
        return model.search_.similar_items(item_id, k), version
    image = model.input_format.convert(decode(Path(file)))
    return model.search_.similar_to(model.embed(image[None])[0], k), version


@dataclass(frozen=True)
class CheckRun:
    """What `check` produced: the flagged items (most confident first) and their CSV."""

    flags: pd.DataFrame
    checked: int
    path: Path
    version: ModelVersion


def check(settings: Settings, *, name: str | None = None, min_confidence: float = 0.9) -> CheckRun:
    """Classify every labelled photo of the store and flag confident disagreements with
    the listed category; the flags go to reports/catalogue-check-<stamp>.csv."""
    from shopsense.images.catalogue import check_catalogue

    model, version = load_model(settings, name)
    fmt = model.input_format
    view = image_set(settings, size=fmt.size, channels=fmt.channels)
    flags = check_catalogue(model, view, min_confidence=min_confidence)
    folder = Path(settings.reports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"catalogue-check-{stamp}.csv"
    _write_csv(path, flags)
    return CheckRun(flags, int(view.labelled.sum()), path, version)


def problems_frame(problems: tuple[ImageProblem, ...] | list[ImageProblem]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"row": p.row, "item_id": p.item_id, "path": p.path, "reason": p.reason}
            for p in problems
        ],
        columns=["row", "item_id", "path", "reason"],
    )


def _report_dir(settings: Settings, prefix: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(settings.reports_dir) / f"{prefix}-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))

"""A small residual CNN that tells a product's category from its photo.

Network: a ResNet (He et al. 2016, "Deep Residual Learning for Image Recognition") cut
down for small photos: a 3×3 stem (stride 2 above 32 px, so a 64 px RGB photo costs about
what a 28 px one does), one stage of basic blocks per width (each after the first halving
the resolution), global average pooling and a linear head. The pooled features,
L2-normalised, are the image embedding visual search uses.

What the network reads is learned from the training images and saved with it: the side,
1 or 3 channels, the per-channel mean/std, and whether the photos were light on a dark
background (then, and only then, a grayscale photo on white is inverted before scoring).

Training (the shared `Trainer`): AdamW with a cosine learning rate and a stratified
validation slice that picks the best epoch; random shifts (zero-padded crops) and
horizontal flips are available but off by default. The defaults were chosen on a
validation split carved from the Fashion-MNIST training images, never on its test set
(`benchmarks/images.py`; every candidate's validation accuracy is in
benchmarks/results/images_selection.md): without shifts and flips the network learnt
faster than with them, more than a changed learning rate or a second block at 14x14 did.
Epochs are the time budget, not a searched setting: 16 at about 47 s each on two CPU
cores (see docs/images.md).

>>> model = ImageClassifier(epochs=16).fit(train)          # doctest: +SKIP
>>> model.predict(test)                                   # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from shopsense.data.images import IMAGE_SIZE, ImageSet
from shopsense.estimator import Estimator, register
from shopsense.images.data import augment, channel_stats, channels_first, normalise
from shopsense.images.io import ImageFormat, light_border_share
from shopsense.persist import atomic_write, read_model_json
from shopsense.train.trainer import (
    Trainer,
    TrainerConfig,
    TrainResult,
    select_device,
    torch_threads,
)

CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
SEARCH_DIR = "search"
#: Images scored per forward pass at inference: bounds memory, keeps batch speed.
PREDICT_BATCH = 512
CALIBRATION_IMAGES = 512


@dataclass
class ImageClassifierConfig(TrainerConfig):
    """Network, augmentation and training settings (the trainer fields are shared)."""

    widths: tuple[int, ...] = (32, 64, 128)
    """Channels of each stage; every stage after the first halves the resolution."""
    blocks: tuple[int, ...] = (1, 1, 1)
    """Residual blocks per stage."""
    dropout: float = 0.1
    """Dropout before the linear head."""
    crop_padding: int | None = 0
    """Random shifts of up to this many pixels (0: none, the default chosen on validation;
    None: 1/14 of the side, 2 px at 28 px)."""
    flip: bool = False
    """Random horizontal flips (off by default: chosen on validation)."""
    label_smoothing: float = 0.0
    """Cross-entropy label smoothing (0 keeps probabilities honest for the catalogue check)."""
    validation_fraction: float = 0.05
    """Stratified share of the training images held out to choose the best epoch."""
    image_size: int | None = None
    """Side of the square input; None: the training images' side."""
    stem_stride: int | None = None
    """Stride of the stem convolution; None: 1 up to 32 px, 2 above."""
    channels_last: bool = True
    """NHWC memory layout: faster convolutions on CPU (oneDNN)."""
    epochs: int = 16
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 0.05
    optimizer: str = "adamw"
    schedule: str = "cosine"
    patience: int = 0
    threads: int = 1


# =============================================================================== network
class _Block(nn.Module):
    """Basic residual block: two 3×3 conv-BN layers, a 1×1 projection when the shape
    changes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNetSmall(nn.Module):
    """Stem, residual stages, global average pooling, dropout, linear head."""

    def __init__(
        self,
        widths: tuple[int, ...],
        blocks: tuple[int, ...],
        n_classes: int,
        dropout: float,
        channels: int = 1,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        if len(widths) != len(blocks) or not widths or min(blocks) < 1 or min(widths) < 1:
            raise ValueError("widths and blocks need the same length, with entries >= 1")
        self.stem = nn.Sequential(
            nn.Conv2d(channels, widths[0], 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        c = widths[0]
        for stage, (w, n) in enumerate(zip(widths, blocks, strict=True)):
            for b in range(n):
                layers.append(_Block(c, w, 2 if stage > 0 and b == 0 else 1))
                c = w
        self.stages = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (b, widths[-1]): the embedding before normalisation."""
        return self.stages(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


class LogitsAndEmbedding(nn.Module):
    """The network with two outputs, logits and the unit-length embedding: what is exported
    to ONNX so one inference serves both classification and search."""

    def __init__(self, net: ResNetSmall) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.net.features(x)
        return self.net.head(f), F.normalize(f, dim=1)


# ============================================================================= training
class _ImageTask:
    """Shuffled, augmented mini-batches of the training images; validation accuracy."""

    def __init__(
        self,
        module: ResNetSmall,
        images: torch.Tensor,
        targets: torch.Tensor,
        val: tuple[torch.Tensor, torch.Tensor] | None,
        cfg: ImageClassifierConfig,
        norm: tuple[np.ndarray, np.ndarray],
        device: torch.device,
    ) -> None:
        self.module, self.images, self.targets, self.val = module, images, targets, val
        self.cfg, self.device = cfg, device
        self.mean = torch.from_numpy(norm[0]).reshape(1, -1, 1, 1)
        self.std = torch.from_numpy(norm[1]).reshape(1, -1, 1, 1)
        side = images.shape[-1]
        pad = cfg.crop_padding
        self.padding = max(1, round(side / 14)) if pad is None else pad

    def batches(self, rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.from_numpy(rng.permutation(len(self.images)))
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        bs = self.cfg.batch_size
        for start in range(0, len(order), bs):
            pick = order[start : start + bs]
            x = self.images[pick].float().div_(255.0)
            x = augment(x, gen, padding=self.padding, flip=self.cfg.flip)
            yield self._ready(x), self.targets[pick].to(self.device)

    def _ready(self, x: torch.Tensor) -> torch.Tensor:
        x = ((x - self.mean) / self.std).to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.module(x), y, label_smoothing=self.cfg.label_smoothing)

    def validate(self) -> float | None:
        if self.val is None:
            return None
        images, targets = self.val
        correct = 0
        for s in range(0, len(images), PREDICT_BATCH):
            x = self._ready(images[s : s + PREDICT_BATCH].float().div_(255.0))
            pred = self.module(x).argmax(dim=1).cpu()
            correct += int((pred == targets[s : s + PREDICT_BATCH]).sum())
        return correct / len(images)


# ============================================================================ estimator
Images = ImageSet | np.ndarray
#: A light border on at most this share of the training photos makes a model
#: "light on dark" (Fashion-MNIST: 0%; shop photos on white: most of them).
LIGHT_ON_DARK_SHARE = 0.25


@register("image_classifier")
class ImageClassifier(Estimator):
    """Category of a product photo; scikit-like: `fit(view)` returns self, learned
    attributes end in `_`. Also embeds photos for visual search.

    Learned from the training images: `image_size_`, `channels_`, per-channel `mean_` /
    `std_` and `light_on_dark_`; `input_format` tells readers how to turn a photo into
    what this model reads."""

    name = "image_classifier"
    fitted_attribute = "network_"
    exportable = True
    #: ONNX Runtime in place of the torch network (set by `load` / `use_runtime`), or None
    runtime_: Any = None
    #: a seeded sample of training photos kept after fit (not saved): checks an export and
    #: calibrates its int8 file
    calibration_images_: np.ndarray | None = None

    def __init__(self, **params: Any) -> None:
        self.config = ImageClassifierConfig(**params)
        self.config.widths = tuple(int(w) for w in self.config.widths)
        self.config.blocks = tuple(int(b) for b in self.config.blocks)
        self.search_ = None

    def get_params(self) -> dict[str, Any]:
        params = asdict(self.config)
        params["widths"], params["blocks"] = list(params["widths"]), list(params["blocks"])
        return params

    # ------------------------------------------------------------------------- fit
    def fit(
        self,
        view: ImageSet,
        *,
        validation: ImageSet | None = None,
        checkpoint_dir: str | Path | None = None,
    ) -> Self:
        """Learn the categories of `view`'s labelled images. The best epoch is chosen on
        `validation` when given (e.g. a data set's published validation split), else on a
        stratified `validation_fraction` of `view`."""
        cfg = self.config
        if cfg.image_size is not None and view.size != cfg.image_size:
            raise ValueError(f"images are {view.size}px; this model reads {cfg.image_size}px")
        if not 0 <= cfg.validation_fraction < 0.5:
            raise ValueError("validation_fraction must be in [0, 0.5)")
        labelled = view.subset(view.labelled)
        classes, targets = np.unique(labelled.labels.astype(str), return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"need images of at least 2 categories; got {list(classes)}")
        self.classes_ = [str(c) for c in classes]
        self.image_size_, self.channels_ = view.size, view.channels
        self.stem_stride_ = cfg.stem_stride or (1 if view.size <= 32 else 2)
        if validation is None:
            train_rows, val_rows = _validation_split(
                targets, cfg.validation_fraction, cfg.random_state
            )
        else:
            train_rows, val_rows = np.arange(len(targets)), np.arange(0)
        train_images = labelled.images[train_rows]
        self.runtime_ = None  # new weights: an exported file no longer matches them
        keep = np.random.default_rng(cfg.random_state).permutation(len(train_rows))
        self.calibration_images_ = train_images[np.sort(keep[:CALIBRATION_IMAGES])].copy()
        self.mean_, self.std_ = channel_stats(train_images)
        self.light_on_dark_ = bool(
            self.channels_ == 1 and light_border_share(train_images) <= LIGHT_ON_DARK_SHARE
        )
        del train_images
        device = select_device(cfg.device)
        torch.manual_seed(cfg.random_state)
        net = ResNetSmall(
            cfg.widths, cfg.blocks, len(classes), cfg.dropout, self.channels_, self.stem_stride_
        ).to(device)
        if cfg.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.network_ = net

        def tensor(images: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(channels_first(images)))

        y = torch.from_numpy(targets.astype(np.int64))
        val = (tensor(labelled.images[val_rows]), y[val_rows]) if len(val_rows) else None
        if validation is not None:
            val = self._validation(validation, tensor)
        task = _ImageTask(
            net,
            tensor(labelled.images[train_rows]),
            y[train_rows],
            val,
            cfg,
            (self.mean_, self.std_),
            device,
        )
        with torch_threads(cfg.threads):
            trainer = Trainer(cfg, checkpoint_dir=checkpoint_dir, desc="image classifier")
            self.train_result_: TrainResult | None = trainer.fit(task)
        self.network_ = net.cpu().eval()
        self.n_train_ = len(train_rows)
        self.n_validation_ = len(val[1]) if val is not None else 0
        return self

    def _validation(self, view: ImageSet, tensor: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
        """An explicit validation set as tensors; its categories must be known ones."""
        if (view.size, view.channels) != (self.image_size_, self.channels_):
            raise ValueError(
                f"validation images are {view.size}px x {view.channels} channels; the "
                f"training images are {self.image_size_}px x {self.channels_}"
            )
        labelled = view.subset(view.labelled)
        if len(labelled) == 0:
            return None
        col = {c: i for i, c in enumerate(self.classes_)}
        unknown = sorted(set(labelled.labels.astype(str)) - set(col))
        if unknown:
            raise ValueError(f"validation categories not in the training images: {unknown[:5]}")
        y = torch.tensor([col[str(v)] for v in labelled.labels], dtype=torch.int64)
        return tensor(labelled.images), y

    # --------------------------------------------------------------------- inference
    @property
    def input_format(self) -> ImageFormat:
        """How a photo becomes this model's input (side, channels, inversion)."""
        self._check_fitted()
        invert = "auto" if self.light_on_dark_ else "never"
        return ImageFormat(self.image_size_, self.channels_, invert)

    def _batches(self, images: Images) -> Iterable[torch.Tensor]:
        arr = images.images if isinstance(images, ImageSet) else np.asarray(images)
        shape = self.input_format.shape
        if arr.ndim == len(shape):
            arr = arr[None]
        if arr.shape[1:] != shape or arr.dtype != np.uint8:
            want = ", ".join(str(d) for d in ("n", *shape))
            raise ValueError(f"images must be ({want}) uint8; got {arr.dtype} {arr.shape}")
        for start in range(0, len(arr), PREDICT_BATCH):
            yield self.preprocess(arr[start : start + PREDICT_BATCH])

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        """(n, s, s[, c]) uint8 -> the normalised (n, c, s, s) float32 tensor the network
        reads, with the training images' per-channel mean and std."""
        self._check_fitted()
        x = torch.from_numpy(normalise(np.asarray(images, dtype=np.uint8), self.mean_, self.std_))
        return x.contiguous(memory_format=torch.channels_last) if self.config.channels_last else x

    def _run(self, images: Images, what: str) -> np.ndarray:
        self._check_fitted()
        if self.runtime_ is not None:
            which = 0 if what == "logits" else 1
            parts = [
                self.runtime_.run(x.contiguous().numpy())[which] for x in self._batches(images)
            ]
            if parts:
                return np.concatenate(parts)
        out = []
        with torch.no_grad(), torch_threads(self.config.threads):
            for x in self._batches(images):
                if what == "logits":
                    out.append(self.network_(x))
                else:
                    out.append(F.normalize(self.network_.features(x), dim=1))
        width = len(self.classes_) if what == "logits" else self.config.widths[-1]
        return torch.cat(out).numpy() if out else np.zeros((0, width), dtype=np.float32)

    def logits(self, images: Images) -> np.ndarray:
        """(n, n_classes) float32 raw scores."""
        return self._run(images, "logits")

    def predict_proba(self, images: Images) -> np.ndarray:
        """(n, n_classes) float32 probabilities, columns in `classes_` order."""
        logits = self.logits(images)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def predict(self, images: Images) -> np.ndarray:
        """(n,) predicted category names."""
        self._check_fitted()
        return np.asarray(self.classes_, dtype=object)[self.logits(images).argmax(axis=1)]

    def embed(self, images: Images) -> np.ndarray:
        """(n, widths[-1]) float32 unit-length embeddings (cosine = inner product)."""
        return self._run(images, "embedding")

    def export(
        self, path: str | Path, *, int8: bool = True, images: Images | None = None
    ) -> dict[str, Any]:
        """Write the network as ONNX (fp32, and int8 calibrated on real photos) into the
        saved model's folder `path`, checked against torch on `images` (default: the
        training photos kept after fit); returns the check (`shopsense.images.export`)."""
        from shopsense.images.export import export_checked

        return export_checked(self, path, int8=int8, images=images)

    def use_runtime(self, path: str | Path, precision: str = "fp32") -> bool:
        """Classify and embed with the exported file in `path` for `precision` ("off":
        torch); returns whether an exported network is now in use."""
        from shopsense.compress.checked import chosen_file
        from shopsense.images.export import OnnxClassifier

        chosen = chosen_file(path, precision)
        threads = self.config.threads or torch.get_num_threads()
        self.runtime_ = None if chosen is None else OnnxClassifier(chosen[0], self, threads=threads)
        return self.runtime_ is not None

    def export_module(self) -> LogitsAndEmbedding:
        """The network as one module with (logits, embedding) outputs, for ONNX export."""
        self._check_fitted()
        return LogitsAndEmbedding(self.network_).eval()

    @property
    def n_parameters(self) -> int:
        self._check_fitted()
        return sum(p.numel() for p in self.network_.parameters())

    # -------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """model.json (config, classes, input format, normalisation) +
        weights.safetensors, atomically; an attached visual-search index goes to `search/`."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in self.network_.state_dict().items()}
        atomic_write(path / WEIGHTS_FILE, lambda tmp: save_file(state, tmp))
        meta = {
            "model": self.name,
            "config": self.get_params(),
            "classes": self.classes_,
            "image_size": self.image_size_,
            "channels": self.channels_,
            "stem_stride": self.stem_stride_,
            "mean": [float(v) for v in self.mean_],
            "std": [float(v) for v in self.std_],
            "light_on_dark": self.light_on_dark_,
            "n_train": getattr(self, "n_train_", None),
            "n_validation": getattr(self, "n_validation_", None),
            "train": self.train_result_.to_dict() if self.train_result_ else None,
        }
        text = json.dumps(meta, indent=2)
        atomic_write(path / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
        if self.search_ is not None:
            self.search_.save(path / SEARCH_DIR)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by `save`: the same logits as the saved model. Folders
        saved before models knew their input (no channels, one scalar mean/std) load as
        the 28 px grayscale, light-on-dark models they were."""
        path = Path(path)
        meta = read_model_json(path, cls.name, CONFIG_FILE)
        model = cls(**meta["config"])
        cfg = model.config
        model.classes_ = list(meta["classes"])
        model.image_size_ = int(meta.get("image_size") or cfg.image_size or IMAGE_SIZE)
        model.channels_ = int(meta.get("channels", 1))
        model.stem_stride_ = int(meta.get("stem_stride") or cfg.stem_stride or 1)
        model.mean_ = np.atleast_1d(np.asarray(meta["mean"], dtype=np.float32))
        model.std_ = np.atleast_1d(np.asarray(meta["std"], dtype=np.float32))
        if len(model.mean_) != model.channels_ or len(model.std_) != model.channels_:
            raise ValueError(
                f"{path / CONFIG_FILE}: mean/std have {len(model.mean_)}/{len(model.std_)} "
                f"values for {model.channels_} channel(s)"
            )
        model.light_on_dark_ = bool(meta.get("light_on_dark", model.channels_ == 1))
        model.n_train_, model.n_validation_ = meta.get("n_train"), meta.get("n_validation")
        model.train_result_ = None
        net = ResNetSmall(
            cfg.widths,
            cfg.blocks,
            len(model.classes_),
            cfg.dropout,
            model.channels_,
            model.stem_stride_,
        )
        net.load_state_dict(load_file(path / WEIGHTS_FILE))
        if cfg.channels_last:
            net = net.to(memory_format=torch.channels_last)
        model.network_ = net.eval()
        if (path / SEARCH_DIR).is_dir():
            from shopsense.images.search import VisualSearch

            model.search_ = VisualSearch.load(path / SEARCH_DIR)
        from shopsense.config import Settings

        model.use_runtime(path, Settings().onnx)
        return model


def _validation_split(
    targets: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train rows, validation rows); no validation when fraction is 0."""
    rows = np.arange(len(targets))
    if fraction <= 0:
        return rows, rows[:0]
    from sklearn.model_selection import train_test_split

    classes = len(np.unique(targets))
    # a stratified slice needs one photo of each category: a shop with many categories and
    # few photos gets a slightly larger slice, or an unstratified one when even that is short
    size = max(int(np.ceil(fraction * len(rows))), classes)
    stratify = targets if size <= len(rows) - classes else None
    size = min(size, len(rows) // 2) if stratify is None else size
    train, val = train_test_split(rows, test_size=size, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(val)

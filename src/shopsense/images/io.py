"""Product photos in and out of the store: decoding, folder scans, IDX archives.

A catalogue's photos arrive as folders of PNG/JPEG files (often one sub-folder per
category) or, for public sets such as Fashion-MNIST, as IDX archives holding thousands of
images in one file. Both become rows of the `images` table (item_id, path, label, width,
height); an image inside an archive is addressed `<archive>#<index>`.

A broken file never stops a load: every unreadable, truncated or oddly-shaped image becomes
an `ImageProblem` naming the file and the reason, and the other images load.

Photos of any size and mode become square model inputs: letterboxed (aspect kept) and
resized to the model's side, either grayscale (n, s, s) or RGB (n, s, s, 3). Which of the
two, and whether light-background photos are inverted, is an `ImageFormat`, saved with
the model so that scoring reads a photo exactly as training did.
"""

from __future__ import annotations

import gzip
import io
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

#: File suffixes read as photos when a folder is scanned.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Separator between an archive's path and the index of one image inside it.
ARCHIVE_SEP = "#"
#: Largest image (pixels) decoded at all: a guard against decompression bombs.
MAX_PIXELS = 40_000_000
#: Magic numbers of IDX files: unsigned bytes, 3 dimensions (images) / 1 dimension (labels).
IDX_IMAGES, IDX_LABELS = 2051, 2049
#: Pillow modes without colour: read as one channel when every photo of a set has one.
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"})
INVERT_MODES = ("auto", "always", "never")


@dataclass(frozen=True)
class ImageProblem:
    """One image that could not be used: which file (and row of the images table, when it
    came from one) and why."""

    path: str
    reason: str
    row: int | None = None
    item_id: str | None = None

    def __str__(self) -> str:
        where = self.path if self.row is None else f"images row {self.row} ({self.path})"
        who = f" [item {self.item_id}]" if self.item_id else ""
        return f"{where}{who}: {self.reason}"


class ImageError(ValueError):
    """An image that cannot be decoded (the message names the file and the reason)."""


class ImageTooLarge(ImageError):
    """An image with more pixels to decode than the limit (the message names both)."""


# ------------------------------------------------------------------------------ decoding
def decode(
    data: bytes | str | Path,
    *,
    name: str | None = None,
    side: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """A fully decoded Pillow image from bytes or a file; `ImageError` naming the source
    for anything Pillow cannot read (not an image, truncated), `ImageTooLarge` when more
    than `max_pixels` pixels would be decoded.

    Given the model's `side`, the image is decoded only as large as it needs to be: a
    JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that keeps both sides at
    least `2 * side` (Pillow's `draft`), so a 6000x6000 upload costs 750x750 pixels, and
    any other format is shrunk by whole factors (`reduce`) right after decoding, before the
    colour conversions copy it. The pixel limit applies to what is actually decoded."""
    source = name or (str(data) if not isinstance(data, bytes) else "uploaded image")
    try:
        handle = io.BytesIO(data) if isinstance(data, bytes) else open(data, "rb")  # noqa: SIM115
    except OSError as e:
        raise ImageError(f"{source}: cannot open ({e.strerror or e})") from None
    with handle:
        try:
            img = Image.open(handle)
            declared = img.size
            if side is not None and img.format == "JPEG":
                img.draft(img.mode, (2 * side, 2 * side))
            if img.width * img.height > max_pixels:
                raise ImageTooLarge(
                    f"{source}: {declared[0]}x{declared[1]} is larger than the limit of "
                    f"{max_pixels:,} decoded pixels"
                )
            img.load()  # decode now: truncated files fail here, not later
        except UnidentifiedImageError:
            raise ImageError(f"{source}: not an image Pillow can read") from None
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            if isinstance(e, ImageError):
                raise
            raise ImageError(f"{source}: corrupt or truncated image ({e})") from None
    return _shrink(img, side) if side is not None else img


def release_memory() -> None:
    """Hand memory freed by a large decode back to the operating system (glibc keeps freed
    heap pages for reuse, so a burst of big uploads would otherwise stay resident)."""
    global _TRIM
    if _TRIM is None:
        import ctypes
        import ctypes.util

        try:
            _TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc: its allocator decides
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM: Any = None


def _shrink(img: Image.Image, side: int) -> Image.Image:
    """`img` reduced by the largest whole factor that keeps its longer side >= 2 * side
    (modes `reduce` cannot handle, such as palette, are returned as they are)."""
    factor = max(img.size) // (2 * side)
    if factor < 2:
        return img
    try:
        return img.reduce(factor)
    except ValueError:
        return img


def _on_white(img: Image.Image) -> Image.Image:
    """Transparent pixels become white (a shop photo's usual background)."""
    if img.mode in ("RGBA", "LA", "PA", "P", "La", "RGBa"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba)
    return img


def _letterbox(pixels: np.ndarray, size: int, fill: np.ndarray | int) -> np.ndarray:
    """`pixels` (h, w) or (h, w, c) padded to a centred square with `fill`, resized to
    (size, size[, c]) with LANCZOS."""
    h, w = pixels.shape[:2]
    if (h, w) == (size, size):
        return np.ascontiguousarray(pixels)
    side = max(h, w)
    square = np.empty((side, side, *pixels.shape[2:]), dtype=np.uint8)
    square[...] = fill
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = pixels
    out = Image.fromarray(square).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(out, dtype=np.uint8)


def to_gray(img: Image.Image, size: int, *, invert: str = "auto") -> np.ndarray:
    """The (size, size) uint8 grayscale array a one-channel classifier reads.

    The photo is letterboxed to a square (no distortion) and resized. Fashion-MNIST shows
    products light on a dark background; most shop photos are dark on white, so with
    `invert="auto"` an image whose border is mostly light is inverted ("never"/"always"
    force it). Only a model trained on light-on-dark photos asks for "auto"."""
    if invert not in INVERT_MODES:
        raise ValueError(f"invert must be auto, always or never, not {invert!r}")
    gray = np.asarray(_on_white(img).convert("L"), dtype=np.uint8)
    if invert == "always" or (invert == "auto" and _light_border(gray)):
        gray = 255 - gray
        return _letterbox(gray, size, 0)  # the inverted background is dark
    return _letterbox(gray, size, _border(gray).mean().round().astype(np.uint8))


def to_rgb(img: Image.Image, size: int) -> np.ndarray:
    """The (size, size, 3) uint8 RGB array a colour classifier reads: letterboxed with the
    photo's mean border colour (so the padding looks like background), then resized.
    Never inverted: colour is part of what a product looks like."""
    rgb = np.asarray(_on_white(img).convert("RGB"), dtype=np.uint8)
    fill = _border(rgb).mean(axis=0).round().astype(np.uint8)
    return _letterbox(rgb, size, fill)


def to_array(img: Image.Image, size: int, channels: int = 1, *, invert: str = "auto") -> np.ndarray:
    """A photo as model input: (size, size) grayscale or (size, size, 3) RGB."""
    if channels == 1:
        return to_gray(img, size, invert=invert)
    if channels == 3:
        return to_rgb(img, size)
    raise ValueError(f"channels must be 1 or 3, not {channels}")


def _border(pixels: np.ndarray) -> np.ndarray:
    """The outermost rows and columns of an (h, w[, c]) image, as (k[, c])."""
    return np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])


def _light_border(gray: np.ndarray) -> bool:
    return float(_border(gray).mean()) > 127.0


def light_border_share(images: np.ndarray) -> float:
    """Share of (n, s, s[, c]) images whose border is mostly light: near 0 for products
    light on a dark background (Fashion-MNIST), near 1 for shop photos on white."""
    if len(images) == 0:
        return 0.0
    edges = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    per_image = edges.reshape(len(images), -1).mean(axis=1, dtype=np.float64)
    return float((per_image > 127.0).mean())


@dataclass(frozen=True)
class ImageFormat:
    """How a model reads a photo: the square side, 1 (grayscale) or 3 (RGB) channels, and
    whether grayscale photos with a light border are inverted ("auto": only for a model
    trained on light-on-dark photos; RGB photos are never inverted)."""

    size: int
    channels: int = 1
    invert: str = "never"

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, not {self.channels}")
        if self.size < 1:
            raise ValueError(f"size must be >= 1, not {self.size}")
        if self.invert not in INVERT_MODES:
            raise ValueError(f"invert must be one of {INVERT_MODES}, not {self.invert!r}")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one model input array."""
        s = self.size
        return (s, s) if self.channels == 1 else (s, s, self.channels)

    def convert(self, img: Image.Image) -> np.ndarray:
        """One decoded photo as model input."""
        return to_array(img, self.size, self.channels, invert=self.invert)

    def reader(self, root: str | Path | None = None) -> ImageReader:
        """An `ImageReader` that reads files the way this format says."""
        return ImageReader(root, invert=self.invert)


# ------------------------------------------------------------------------------- IDX
def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (optionally gzipped) of unsigned bytes as an array: (n, rows, cols)
    images or (n,) labels. A clear error for a wrong magic number or a short file."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise ImageError(f"{path}: cannot read IDX file ({e})") from None
    if len(raw) < 8:
        raise ImageError(f"{path}: {len(raw)} bytes is too short for an IDX file")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IDX_IMAGES, IDX_LABELS):
        raise ImageError(f"{path}: IDX magic number {magic} is not {IDX_IMAGES} or {IDX_LABELS}")
    dims = magic & 0xFF
    header = 4 + 4 * dims
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise ImageError(f"{path}: {len(raw):,} bytes, but its header {shape} needs {expected:,}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def split_archive_path(path: str) -> tuple[str, int | None]:
    """`"a.idx.gz#12"` -> ("a.idx.gz", 12); a plain file path -> (path, None)."""
    base, sep, tail = path.rpartition(ARCHIVE_SEP)
    if sep and tail.isdigit():
        return base, int(tail)
    return path, None


class ImageReader:
    """Reads the images of the `images` table as model-ready arrays.

    Archives are read once and kept (one Fashion-MNIST training file is 47 MB in memory);
    relative paths are resolved against `root` (the store's folder). Thread-safe."""

    def __init__(self, root: str | Path | None = None, *, invert: str = "auto") -> None:
        self.root = Path(root) if root is not None else None
        self.invert = invert
        self._archives: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() or self.root is None else self.root / p

    def archive(self, path: str) -> np.ndarray:
        key = str(self.resolve(path))
        with self._lock:
            if key not in self._archives:
                arr = read_idx(key)
                if arr.ndim != 3:
                    raise ImageError(f"{key}: an IDX file of labels, not of images")
                self._archives[key] = arr
            return self._archives[key]

    def read(self, path: str, size: int, channels: int = 1) -> np.ndarray:
        """One image as (size, size) or (size, size, 3) uint8; `ImageError` naming the
        file when it fails."""
        base, index = split_archive_path(path)
        if index is not None:
            arr = self.archive(base)
            if index >= len(arr):
                raise ImageError(f"{base}: index {index} is past its {len(arr):,} images")
            return _archive_images(arr[index : index + 1], size, channels)[0]
        img = decode(self.resolve(path), name=path, side=size)
        return to_array(img, size, channels, invert=self.invert)

    def channels_of(self, paths: Sequence[str]) -> int:
        """1 when every image of `paths` is grayscale (archives, or files in a gray mode),
        else 3. Reads file headers only; unreadable files are left to `read_many`."""
        for path in paths:
            if split_archive_path(path)[1] is not None:
                continue
            try:
                with Image.open(self.resolve(path)) as img:
                    if img.mode not in GRAY_MODES:
                        return 3
            except (OSError, UnidentifiedImageError, ValueError):
                continue
        return 1

    def read_many(
        self,
        paths: Sequence[str],
        size: int,
        *,
        channels: int = 1,
        item_ids: Sequence[str] | None = None,
        progress: bool | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list[ImageProblem]]:
        """Every readable image of `paths` as (n_ok, size, size) uint8 (or (n_ok, size,
        size, 3) with `channels=3`), the positions of those images in `paths`, and one
        `ImageProblem` per image that failed (1-based rows)."""
        shape = (size, size) if channels == 1 else (size, size, channels)
        out = np.empty((len(paths), *shape), dtype=np.uint8)
        ok = np.zeros(len(paths), dtype=bool)
        problems: list[ImageProblem] = []
        plain = [i for i, p in enumerate(paths) if split_archive_path(p)[1] is None]
        archived = np.setdiff1d(np.arange(len(paths)), plain)
        # archive images: one vectorised gather per archive file
        if len(archived):
            parts = [split_archive_path(paths[i]) for i in archived]
            frame = pd.DataFrame(
                {
                    "pos": archived,
                    "base": [b for b, _ in parts],
                    "index": [int(j or 0) for _, j in parts],
                }
            )
            for base, group in frame.groupby("base", sort=False):
                try:
                    arr = self.archive(str(base))
                except ImageError as e:
                    for pos in group["pos"]:
                        problems.append(_problem(paths, item_ids, int(pos), str(e)))
                    continue
                idx = group["index"].to_numpy()
                inside = idx < len(arr)
                for pos, j in zip(group["pos"][~inside], idx[~inside], strict=True):
                    reason = f"index {j} is past the archive's {len(arr):,} images"
                    problems.append(_problem(paths, item_ids, int(pos), reason))
                pos_ok = group["pos"].to_numpy()[inside]
                out[pos_ok] = _archive_images(arr[idx[inside]], size, channels)
                ok[pos_ok] = True
        for i in tqdm(
            plain,
            desc="decode images",
            unit="img",
            leave=False,
            disable=(len(plain) < 2000) if progress is None else not progress,
        ):
            try:
                out[i] = self.read(paths[i], size, channels)
                ok[i] = True
            except ImageError as e:
                problems.append(_problem(paths, item_ids, i, str(e)))
        problems.sort(key=lambda p: p.row or 0)
        kept = np.flatnonzero(ok)
        return out[kept], kept, problems


def _archive_images(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """(k, h, w) grayscale archive images at the model's side (never inverted: archives
    hold a data set as published), repeated into 3 channels for a colour model."""
    if images.shape[1:] != (size, size):
        resized = [to_gray(Image.fromarray(a), size, invert="never") for a in images]
        images = np.stack(resized) if resized else np.empty((0, size, size), dtype=np.uint8)
    return images if channels == 1 else np.repeat(images[..., None], channels, axis=-1)


def _problem(
    paths: Sequence[str], item_ids: Sequence[str] | None, pos: int, reason: str
) -> ImageProblem:
    prefix = f"{paths[pos]}: "
    reason = reason[len(prefix) :] if reason.startswith(prefix) else reason
    item = str(item_ids[pos]) if item_ids is not None else None
    return ImageProblem(paths[pos], reason, pos + 1, item)


# ------------------------------------------------------------------------ folder scans
def scan_folder(
    folder: str | Path,
    *,
    labels: str = "folders",
    relative_to: str | Path | None = None,
) -> tuple[pd.DataFrame, list[ImageProblem]]:
    """Rows for the `images` table from every PNG/JPEG under `folder`, and the files that
    could not be read.

    item_id is the file's path under `folder` without its suffix (`shoes/1234.png` ->
    `shoes/1234`); with `labels="folders"` the label is the name of the file's parent folder
    (`<folder>/<category>/<file>`), with "none" it is left empty. Paths are written
    relative to `relative_to` (the store's folder) when the file lies below it, else
    absolute. Each file is fully decoded, so truncated files are caught here."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of images")
    if labels not in ("folders", "none"):
        raise ValueError(f"labels must be 'folders' or 'none', not {labels!r}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    rows, problems = [], []
    for path in tqdm(files, desc="scan images", unit="img", leave=False, disable=len(files) < 2000):
        try:
            img = decode(path)
        except ImageError as e:
            problems.append(ImageProblem(str(path), str(e).removeprefix(f"{path}: ")))
            continue
        rel = path.relative_to(folder)
        label = rel.parent.name if labels == "folders" and rel.parent != Path(".") else None
        rows.append(
            {
                "item_id": rel.with_suffix("").as_posix(),
                "path": _stored_path(path, relative_to),
                "label": label,
                "width": img.width,
                "height": img.height,
            }
        )
    frame = pd.DataFrame(rows, columns=["item_id", "path", "label", "width", "height"])
    return frame, problems


def _stored_path(path: Path, relative_to: str | Path | None) -> str:
    path = path.resolve()
    if relative_to is not None:
        try:
            return path.relative_to(Path(relative_to).resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def archive_rows(
    archive: str | Path,
    item_ids: Iterable[str],
    labels: Iterable[str | None] | None = None,
) -> pd.DataFrame:
    """Rows for the `images` table addressing every image of an IDX archive."""
    arr = read_idx(archive)
    if arr.ndim != 3:
        raise ImageError(f"{archive}: an IDX file of labels, not of images")
    ids = list(item_ids)
    if len(ids) != len(arr):
        raise ValueError(f"{archive} holds {len(arr):,} images but {len(ids):,} item ids given")
    n, h, w = arr.shape
    return pd.DataFrame(
        {
            "item_id": ids,
            "path": [f"{archive}{ARCHIVE_SEP}{i}" for i in range(n)],
            "label": list(labels) if labels is not None else [None] * n,
            "width": np.full(n, w),
            "height": np.full(n, h),
        }
    )

"""Decoding, IDX archives and folder scans: bad files are reported, the rest load."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from PIL import Image

from shopsense.images.io import (
    ImageError,
    ImageReader,
    ImageTooLarge,
    decode,
    read_idx,
    scan_folder,
    split_archive_path,
    to_gray,
)


def _png(path, value=200, size=(30, 20)):
    Image.fromarray(np.full(size[::-1], value, dtype=np.uint8)).save(path)
    return path


def test_truncated_png_is_a_clear_error_and_the_rest_load(tmp_path):
    good = _png(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(good.read_bytes()[:50])
    with pytest.raises(ImageError, match=r"bad\.png"):
        decode(bad)
    images, kept, problems = ImageReader().read_many([str(good), str(bad)], 28)
    assert images.shape == (1, 28, 28) and kept.tolist() == [0]
    assert len(problems) == 1 and problems[0].row == 2 and "bad.png" in str(problems[0])


def test_not_an_image_and_missing_file(tmp_path):
    (tmp_path / "x.png").write_text("hello")
    with pytest.raises(ImageError, match="not an image"):
        decode(tmp_path / "x.png")
    with pytest.raises(ImageError, match="cannot open"):
        decode(tmp_path / "nothing.png")


def test_to_gray_letterboxes_and_inverts_light_backgrounds():
    img = Image.new("RGB", (40, 20), (255, 255, 255))
    img.paste((0, 0, 0), (15, 5, 25, 15))  # dark product on white
    out = to_gray(img, 28)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out[0, 0] == 0 and out[14, 14] > 200  # background dark, product light


def test_idx_round_trip_and_archive_paths(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    path = tmp_path / "imgs.idx.gz"
    path.write_bytes(gzip.compress(header + arr.tobytes()))
    np.testing.assert_array_equal(read_idx(path), arr)
    assert split_archive_path(f"{path}#1") == (str(path), 1)
    _, kept, problems = ImageReader().read_many([f"{path}#1", f"{path}#9"], 28)
    assert kept.tolist() == [0] and "past" in problems[0].reason
    (tmp_path / "short.idx").write_bytes(header + b"\x00")
    with pytest.raises(ImageError, match="needs"):
        read_idx(tmp_path / "short.idx")


def test_scan_folder_labels_from_folders_and_reports_bad_files(tmp_path):
    (tmp_path / "shoes").mkdir()
    _png(tmp_path / "shoes" / "a1.png")
    (tmp_path / "shoes" / "a2.jpg").write_bytes(b"\xff\xd8\xff\xe0 nope")
    frame, problems = scan_folder(tmp_path)
    assert frame.to_dict("records") == [
        {
            "item_id": "shoes/a1",
            "path": str((tmp_path / "shoes" / "a1.png").resolve()),
            "label": "shoes",
            "width": 30,
            "height": 20,
        }
    ]
    assert len(problems) == 1 and problems[0].path.endswith("a2.jpg")


def _encoded(fmt: str, size: tuple[int, int]) -> bytes:
    import io

    img = Image.new("RGB", size, (240, 240, 240))
    img.paste((20, 20, 20), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_decode_reads_only_as_many_pixels_as_the_model_needs():
    jpeg = decode(_encoded("JPEG", (6000, 4000)), side=28)
    assert jpeg.size == (58, 39)  # decoded at 1/8 scale (750 x 500), then reduced by 13
    png = decode(_encoded("PNG", (6000, 4000)), side=28)
    assert png.size == (57, 38)  # reduced by 107 after decoding: still >= 2 x 28
    assert decode(_encoded("PNG", (6000, 4000))).size == (6000, 4000)  # no side: full
    # the picture survives: the dark square is still where it was
    assert to_gray(png, 28, invert="never")[10, 10] < 60 < to_gray(png, 28, invert="never")[3, 3]


def test_decode_refuses_more_pixels_than_the_limit_naming_it():
    data = _encoded("PNG", (3000, 2000))
    with pytest.raises(ImageTooLarge, match=r"upload\.png: 3000x2000 .* 100,000 decoded"):
        decode(data, name="upload.png", side=28, max_pixels=100_000)
    # a JPEG is judged by what is decoded at its reduced scale (375 x 250 here)
    assert decode(_encoded("JPEG", (3000, 2000)), side=28, max_pixels=100_000).width < 112
    with pytest.raises(ImageTooLarge):
        decode(_encoded("JPEG", (3000, 2000)), max_pixels=100_000)  # at full scale

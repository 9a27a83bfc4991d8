"""Check-only decodes at a reduced size, and pixel caps above Pillow's own ~179 MP guard."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from captureguard.core.verdict import Decision
from captureguard.errors import ImageTooLargeError
from captureguard.guard.check import Checker
from captureguard.sources.image import CHECK_SIDE_PX, decode_image, header_megapixels, header_size, load_image

DEMO = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data" / "demo"


def quadrants(width: int, height: int) -> np.ndarray:
    """RGB: red top-left, green top-right, blue bottom-left, white bottom-right."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: height // 2, : width // 2] = (255, 0, 0)
    rgb[: height // 2, width // 2 :] = (0, 255, 0)
    rgb[height // 2 :, : width // 2] = (0, 0, 255)
    rgb[height // 2 :, width // 2 :] = 255
    return rgb


def encode(rgb: np.ndarray, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, fmt, **params)
    return out.getvalue()


def corner_colours(bgr: np.ndarray) -> list[tuple[int, int, int]]:
    h, w = bgr.shape[:2]
    spots = [(h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)]
    return [tuple(int(v) for v in bgr[y, x]) for y, x in spots]  # type: ignore[misc]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_a_large_image_is_decoded_reduced_only_when_asked(fmt: str) -> None:
    data = encode(quadrants(6400, 4800), fmt)
    full = decode_image(data)
    small = decode_image(data, reduced=True)
    assert full.bgr.shape == (4800, 6400, 3)
    assert CHECK_SIDE_PX <= max(small.bgr.shape[:2]) < 6400  # never below what the detectors look at
    assert small.bgr.shape[0] * 4 == pytest.approx(small.bgr.shape[1] * 3, abs=4)  # aspect kept
    expected = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 255)]  # BGR
    for got, want in zip(corner_colours(np.asarray(small.bgr)), expected, strict=True):
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < 8


def test_a_small_image_is_never_reduced() -> None:
    data = encode(quadrants(4000, 3000), "PNG")
    assert decode_image(data, reduced=True).bgr.shape == (3000, 4000, 3)


def test_exif_rotation_is_applied_to_the_reduced_copy() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    data = encode(quadrants(6400, 4800), "JPEG", exif=exif.tobytes())
    assert header_size(data) == (4800, 6400)
    full, small = decode_image(data), decode_image(data, reduced=True)
    assert full.bgr.shape[:2] == (6400, 4800) and small.bgr.shape[0] > small.bgr.shape[1]
    reduced_full = cv2.resize(np.asarray(full.bgr), small.bgr.shape[1::-1], interpolation=cv2.INTER_AREA)
    got, want = np.array(corner_colours(np.asarray(small.bgr))), np.array(corner_colours(reduced_full))
    assert np.abs(got - want).max() < 8


def test_header_megapixels_reads_no_pixels() -> None:
    assert header_megapixels(encode(quadrants(2000, 1000), "PNG")) == pytest.approx(2.0)
    assert header_megapixels(b"not an image") == 0.0
    truncated = encode(quadrants(2000, 1000), "JPEG")[:2000]  # header intact, most pixels missing
    assert header_megapixels(truncated) == pytest.approx(2.0)


@pytest.mark.slow
def test_max_megapixels_above_pillows_guard_works(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    Image.new("RGB", (14_000, 13_000), (10, 200, 10)).save(path)  # 182 MP: Pillow alone refuses it
    with pytest.raises(ImageTooLargeError, match=r"182.0 MP\) is over the 150 MP limit.*--max-megapixels"):
        load_image(path, max_megapixels=150)
    frame = load_image(path, max_megapixels=200, reduced=True)
    assert max(frame.bgr.shape[:2]) >= CHECK_SIDE_PX and tuple(frame.bgr[0, 0]) == (10, 200, 10)


@pytest.mark.models
def test_the_reduced_check_decides_as_the_full_one() -> None:
    checker = Checker.create(mode="photo")
    try:
        for name in ("prani_godward_nude_on_the_beach.jpg", "matplotlib_grace_hopper.jpg"):
            bgr = cv2.imread(str(DEMO / name), cv2.IMREAD_COLOR)
            scale = 7000 / max(bgr.shape[:2])
            big = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            data = encode(np.ascontiguousarray(big[:, :, ::-1]), "JPEG", quality=92)
            full = checker.check(decode_image(data))
            small = checker.check(decode_image(data, reduced=True))
            assert small.decision is full.decision, name
            assert small.score == pytest.approx(full.score, abs=0.05), name
        assert full.decision is Decision.ALLOW
    finally:
        checker.close()

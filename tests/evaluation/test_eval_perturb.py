"""Camera-condition perturbations: shapes, determinism, sane strength, speed (synthetic images only)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from captureguard.errors import BadInputError
from captureguard.evaluation.perturb import PERTURBATIONS, Perturbation, low_light

H, W = 720, 1280

#: Mean absolute difference (0..255) from the original that each perturbation should land in on
#: :func:`gradient`: enough to change the picture, far from noise or a blank frame. Rotations,
#: crops and flips are checked against their exact numpy equivalents instead.
STRENGTH = {
    "downscale": (1, 20),
    "jpeg": (1, 20),
    "motion_blur": (2, 30),
    "defocus": (2, 30),
    "low_light": (40, 120),
    "perspective": (5, 50),
    "moire": (5, 30),
    "text_overlay": (2, 30),
}


def gradient(height: int = H, width: int = W) -> np.ndarray:
    """``(H, W, 3) uint8`` BGR: colour ramps plus fine diagonal stripes (detail that blurs can remove)."""
    y, x = np.mgrid[0:height, 0:width]
    stripes = ((x + y) // 8 % 2) * 60 + 100
    return np.stack([x * 255 // width, y * 255 // height, stripes], axis=2).astype(np.uint8)


IMAGE = gradient()
IMAGE.flags.writeable = False  # a perturbation that writes into its input fails here


def test_fixed_order() -> None:
    assert list(PERTURBATIONS) == [
        "downscale", "jpeg", "motion_blur", "defocus", "low_light", "rotate90", "rotate180",
        "crop", "perspective", "moire", "mirror", "text_overlay",
    ]  # fmt: skip


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_dtype_shape_and_determinism(name: str) -> None:
    fn = PERTURBATIONS[name]
    out = fn(IMAGE)
    expected = {"rotate90": (W, H, 3), "crop": (576, 1024, 3)}.get(name, (H, W, 3))
    assert (out.dtype, out.shape) == (np.uint8, expected)
    assert np.array_equal(out, fn(IMAGE))
    assert not np.shares_memory(out, IMAGE)


@pytest.mark.parametrize("name", list(STRENGTH))
def test_changes_the_picture_but_not_to_garbage(name: str) -> None:
    mad = float(np.abs(PERTURBATIONS[name](IMAGE).astype(np.int16) - IMAGE).mean())
    low, high = STRENGTH[name]
    assert low <= mad <= high, f"{name}: mean abs difference {mad:.1f} outside [{low}, {high}]"


@pytest.mark.parametrize(
    ("name", "exact"),
    [
        ("rotate90", lambda a: np.rot90(a, k=-1)),
        ("rotate180", lambda a: a[::-1, ::-1]),
        ("mirror", lambda a: a[:, ::-1]),
        ("crop", lambda a: a[72:648, 128:1152]),
    ],
    ids=["rotate90-clockwise", "rotate180", "mirror", "crop-central-80"],
)
def test_geometric_ones_are_exact(name: str, exact: Perturbation) -> None:
    assert np.array_equal(PERTURBATIONS[name](IMAGE), exact(IMAGE))


def test_low_light_is_darker_and_seeded() -> None:
    a, b = low_light(IMAGE, seed=1), low_light(IMAGE, seed=2)
    assert a.mean() < IMAGE.mean() / 2
    assert not np.array_equal(a, b)
    assert abs(float(a.mean()) - float(b.mean())) < 1.0  # same darkening, different grain


@pytest.mark.parametrize(
    "name", ["downscale", "motion_blur", "defocus", "low_light", "perspective", "moire", "text_overlay"]
)
def test_scaled_with_image_size(name: str) -> None:
    """The same picture 4x larger, perturbed then shrunk back, is close to the small one perturbed."""
    small = gradient(180, 320)
    big = cv2.resize(small, (1280, 720), interpolation=cv2.INTER_LINEAR)
    fn = PERTURBATIONS[name]
    shrunk = cv2.resize(fn(big), (320, 180), interpolation=cv2.INTER_AREA).astype(np.int16)
    assert float(np.abs(shrunk - fn(small)).mean()) < 8


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), "pixels"])
def test_bad_input(bad: object) -> None:
    with pytest.raises(BadInputError, match=r"\(H, W, 3\) uint8"):
        PERTURBATIONS["jpeg"](bad)  # type: ignore[arg-type]

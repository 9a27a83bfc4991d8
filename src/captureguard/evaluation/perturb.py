"""Camera-condition perturbations for the ``eval --perturb`` robustness check (numpy + OpenCV).

Each perturbation is a pure function ``(H, W, 3) uint8 BGR -> (H', W', 3) uint8 BGR`` that never
changes its input and gives the same output for the same input (the noisy one is seeded).

Scale: sizes are given for a picture whose long side is :data:`REFERENCE_PX` (640, the detectors'
input size) and grow with the long side, so a 12 MP photo and a 640 px image look alike once a
detector has resized them. Effects that only remove detail (defocus) or add smooth patterns
(noise grain, moiré) are computed at that reference size and resized back, which also keeps
every perturbation under ~50 ms on a 1280x720 frame with one OpenCV thread.

The set: how a camera sees a scene (``downscale`` ... ``moire``) and two cheap evasions
(``mirror``, ``text_overlay``). :data:`PERTURBATIONS` lists them in a fixed order.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from captureguard.errors import BadInputError

#: Long side (pixels) at which the sizes below are given.
REFERENCE_PX = 640
#: ``downscale``: long side of the low-resolution capture (then scaled back up).
DOWNSCALE_PX = 320
JPEG_QUALITY = 30
MOTION_BLUR_PX = 15
DEFOCUS_RADIUS_PX = 6
CROP_KEEP = 0.8
#: ``low_light`` noise (fractions of full scale): shot noise sigma is ``SHOT_NOISE * sqrt(signal)``.
SHOT_NOISE = 0.06
READ_NOISE = 0.02
KEYSTONE = 0.15
MOIRE_PERIOD_PX = 8.0
TEXT = "NOTHING TO SEE HERE"

Perturbation = Callable[[np.ndarray], np.ndarray]


def _checked(bgr: np.ndarray) -> np.ndarray:
    if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
        got = f"shape {getattr(bgr, 'shape', None)} dtype {getattr(bgr, 'dtype', None)}"
        raise BadInputError(f"perturbations take (H, W, 3) uint8 BGR pixels, got {got}")
    return bgr


def _scale(bgr: np.ndarray) -> float:
    """Long side over :data:`REFERENCE_PX`: multiply reference sizes by this."""
    return float(max(bgr.shape[:2]) / REFERENCE_PX)


def _reference_hw(bgr: np.ndarray) -> tuple[int, int]:
    """``(h, w)`` of ``bgr`` shrunk so its long side is at most :data:`REFERENCE_PX`."""
    h, w = bgr.shape[:2]
    f = min(1.0, REFERENCE_PX / max(h, w))
    return max(1, round(h * f)), max(1, round(w * f))


def _resize(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    shrink = hw[0] * hw[1] < img.shape[0] * img.shape[1]
    return cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def downscale(bgr: np.ndarray) -> np.ndarray:
    """A low-resolution capture: shrink to a 320 px long side (area filter), scale back up (linear).

    The output keeps the input's shape, so only the detail is lost. Pictures already smaller
    than 640 px are halved instead, so the perturbation always removes something.
    """
    h, w = _checked(bgr).shape[:2]
    f = min(DOWNSCALE_PX / max(h, w), 0.5)
    small = _resize(bgr, (max(1, round(h * f)), max(1, round(w * f))))
    return _resize(small, (h, w))


def jpeg(bgr: np.ndarray) -> np.ndarray:
    """Re-compress as JPEG at quality 30 (messaging apps, screenshots): blocking and colour bleed."""
    ok, buf = cv2.imencode(".jpg", _checked(bgr), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise BadInputError(f"OpenCV could not JPEG-encode a {bgr.shape} image")
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if out is None:
        raise BadInputError(f"OpenCV could not decode its own JPEG of a {bgr.shape} image")
    return np.asarray(out)


def motion_blur(bgr: np.ndarray) -> np.ndarray:
    """A horizontal pan during the exposure: a 15 px (at 640 px) line kernel, odd, at least 3."""
    k = max(3, round(MOTION_BLUR_PX * _scale(_checked(bgr))) | 1)
    out: np.ndarray = cv2.blur(bgr, (k, 1), borderType=cv2.BORDER_REFLECT)
    return out


def defocus(bgr: np.ndarray) -> np.ndarray:
    """Out of focus: a uniform disk blur of radius 6 px at the 640 px reference size.

    Computed on the picture shrunk to 640 px (defocus removes the detail the shrink loses) and
    resized back to the input's shape.
    """
    hw = _reference_hw(_checked(bgr))
    radius = max(1, round(DEFOCUS_RADIUS_PX * max(hw) / REFERENCE_PX))
    disk = np.zeros((2 * radius + 1, 2 * radius + 1), np.float32)
    cv2.circle(disk, (radius, radius), radius, 1.0, -1)
    small = cv2.filter2D(_resize(bgr, hw), -1, disk / disk.sum(), borderType=cv2.BORDER_REFLECT)
    return _resize(small, bgr.shape[:2])


def low_light(bgr: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """A dim room: about 2 stops darker (gamma 1.6 then x0.45) plus sensor noise.

    Noise is shot noise (sigma grows with the square root of the signal) plus read noise, as
    a Gaussian with a per-channel grain generated at the 640 px reference size and resized up,
    so a 12 MP photo keeps the same grain at a detector's input. Seeded: deterministic.
    """
    lin = (_checked(bgr).astype(np.float32) * np.float32(1 / 255)) ** np.float32(1.6) * np.float32(0.45)
    rng = np.random.default_rng(seed)
    h, w = _reference_hw(bgr)
    grain = _resize(rng.standard_normal((h, w, 3), dtype=np.float32), bgr.shape[:2])
    sigma = np.sqrt(lin * np.float32(SHOT_NOISE**2) + np.float32(READ_NOISE**2))
    out = (lin + grain * sigma) * np.float32(255)
    return np.asarray(np.clip(out, 0, 255), dtype=np.uint8)


def rotate90(bgr: np.ndarray) -> np.ndarray:
    """A quarter turn clockwise (a portrait photo whose rotation tag was lost): ``(W, H, 3)``."""
    out: np.ndarray = cv2.rotate(_checked(bgr), cv2.ROTATE_90_CLOCKWISE)
    return out


def rotate180(bgr: np.ndarray) -> np.ndarray:
    """Upside down."""
    out: np.ndarray = cv2.rotate(_checked(bgr), cv2.ROTATE_180)
    return out


def crop(bgr: np.ndarray) -> np.ndarray:
    """A tighter framing: keep the central 80% of each side (not resized: detectors letterbox)."""
    h, w = _checked(bgr).shape[:2]
    ch, cw = max(1, round(h * CROP_KEEP)), max(1, round(w * CROP_KEEP))
    y, x = (h - ch) // 2, (w - cw) // 2
    return bgr[y : y + ch, x : x + cw].copy()


def perspective(bgr: np.ndarray) -> np.ndarray:
    """A picture photographed from below at an angle: 15% keystone, same output shape.

    The top edge shrinks to 85% of the width (7.5% in from each side) and drops 5% of the
    height; the uncovered corners are black, as a dark surround would be.
    """
    h, w = _checked(bgr).shape[:2]
    dx, dy = KEYSTONE / 2 * (w - 1), KEYSTONE / 3 * (h - 1)
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    dst = np.array([[dx, dy], [w - 1 - dx, dy], [w - 1, h - 1], [0, h - 1]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    out: np.ndarray = cv2.warpPerspective(bgr, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return out


def moire(bgr: np.ndarray) -> np.ndarray:
    """A photo of a screen: a slanted grating with colour fringes, a slight blur, a cool cast.

    Grating: period 8 px at 640 px, 15 degrees, amplitude +-10%, a phase offset per channel
    (the screen's sub-pixels); blur sigma 0.8 px at 640 px; the screen lifts black to 12 and
    turns white bluish (B x1.05, R x0.92).
    """
    h, w = _reference_hw(_checked(bgr))
    angle = math.radians(15.0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    period = MOIRE_PERIOD_PX * max(h, w) / REFERENCE_PX
    phase = (xs * math.cos(angle) + ys * math.sin(angle)) * np.float32(2 * math.pi / period)
    grating = np.stack([np.sin(phase + np.float32(k * 2 * math.pi / 3)) for k in range(3)], axis=2)
    gain = _resize(np.float32(1) + np.float32(0.1) * grating, bgr.shape[:2])
    sigma = 0.8 * _scale(bgr)
    blurred = cv2.GaussianBlur(bgr, (0, 0), sigmaX=sigma) if sigma >= 0.3 else bgr
    cast = np.array([1.05, 1.0, 0.92], np.float32)  # BGR
    out = np.float32(12) + blurred.astype(np.float32) * gain * cast * np.float32(0.95)
    return np.asarray(np.clip(out, 0, 255), dtype=np.uint8)


def mirror(bgr: np.ndarray) -> np.ndarray:
    """Evasion: a horizontal flip."""
    out: np.ndarray = cv2.flip(_checked(bgr), 1)
    return out


def text_overlay(bgr: np.ndarray) -> np.ndarray:
    """Evasion: three rows of big white, black-outlined text at 50% opacity across the picture.

    The text is about 90% of the width wide, at a quarter, half and three quarters of the height.
    """
    h, w = _checked(bgr).shape[:2]
    thick = max(2, round(w / 200))
    (tw, th), _ = cv2.getTextSize(TEXT, cv2.FONT_HERSHEY_SIMPLEX, 1.0, thick)
    size = 0.9 * w / tw
    layer = bgr.copy()
    for row in (0.25, 0.5, 0.75):
        org = (round(0.05 * w), round(row * h + th * size / 2))
        cv2.putText(layer, TEXT, org, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), thick * 2, cv2.LINE_AA)
        cv2.putText(layer, TEXT, org, cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), thick, cv2.LINE_AA)
    out: np.ndarray = cv2.addWeighted(layer, 0.5, bgr, 0.5, 0.0)
    return out


#: Name -> perturbation, in the order reports list them.
PERTURBATIONS: dict[str, Perturbation] = {
    "downscale": downscale,
    "jpeg": jpeg,
    "motion_blur": motion_blur,
    "defocus": defocus,
    "low_light": low_light,
    "rotate90": rotate90,
    "rotate180": rotate180,
    "crop": crop,
    "perspective": perspective,
    "moire": moire,
    "mirror": mirror,
    "text_overlay": text_overlay,
}

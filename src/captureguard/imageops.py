"""Pixel operations that need OpenCV: resizing for model inputs and photo encoding.

Kept apart from the numpy-only core because OpenCV's resize is ~10x faster than any numpy
equivalent and the model hot path has a budget of about a millisecond for pre-processing.
"""

from __future__ import annotations

import cv2
import numpy as np

from captureguard.errors import BadInputError
from captureguard.preprocess import Letterbox

cv2.setNumThreads(1)


def letterbox(bgr: np.ndarray, box: Letterbox) -> np.ndarray:
    """Scale ``(H, W, 3) uint8`` BGR into a zero-padded ``box.input_hw`` canvas (top-left aligned).

    Bit-identical to NudeNet's "pad to a black square, then ``cv2.resize`` to the input size"
    (then cropped to ``box.input_hw``) without building the square: ``cv2.resize`` with the
    square's scale factor maps every output pixel to the same source position, and only the
    first black rows/columns past the short side can reach the output, so two are enough.
    """
    h, w = bgr.shape[:2]
    ih, iw = box.input_hw
    side = max(h, w)
    pad_y, pad_x = min(2, side - h), min(2, side - w)
    s = box.scale
    if round((h + pad_y) * s) < 1 or round((w + pad_x) * s) < 1:
        return np.zeros((ih, iw, 3), np.uint8)  # a sliver smaller than one input pixel
    src = bgr
    if pad_y or pad_x:
        src = cv2.copyMakeBorder(bgr, 0, pad_y, 0, pad_x, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    small = cv2.resize(src, (0, 0), fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
    if small.shape[:2] == (ih, iw):
        return small
    canvas = np.zeros((ih, iw, 3), np.uint8)
    rh, rw = min(ih, small.shape[0]), min(iw, small.shape[1])
    canvas[:rh, :rw] = small[:rh, :rw]
    return canvas


def resize(bgr: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(H, W, 3) uint8`` to ``wh = (width, height)``."""
    return np.asarray(cv2.resize(bgr, wh, interpolation=cv2.INTER_LINEAR))


def pad(bgr: np.ndarray, *, top: int, bottom: int, left: int, right: int, value: int) -> np.ndarray:
    """Pad ``(H, W, 3) uint8`` with a constant grey ``value`` on each side."""
    if not (top or bottom or left or right):
        return bgr
    return np.asarray(cv2.copyMakeBorder(bgr, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(value,) * 3))


def encode(bgr: np.ndarray, *, suffix: str, jpeg_quality: int = 95) -> bytes:
    """Encode ``(H, W, 3) uint8`` BGR pixels as ``.jpg``/``.png``/``.webp`` bytes in memory."""
    ext = suffix.lower()
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, jpeg_quality]
    elif ext != ".png":
        raise BadInputError(f"cannot save photos as {suffix!r}: use .jpg, .png or .webp")
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise BadInputError(f"OpenCV could not encode a {bgr.shape} image as {ext}")
    return bytes(buf.tobytes())


def placeholder(bgr: np.ndarray, *, mode: str, notice: str) -> np.ndarray:
    """A frame that shows nothing of ``bgr``: black, or a 12-pixel-wide blur, with a notice.

    Args:
        bgr: ``(H, W, 3) uint8`` BGR frame being withheld (only its size is used for ``black``).
        mode: ``"black"`` or ``"blur"``.
        notice: one short line drawn in the middle (ASCII; OpenCV's font has no other glyphs).
    """
    h, w = bgr.shape[:2]
    if mode == "blur":  # so coarse that no shape survives: ~12 colour blocks across
        tiny = cv2.resize(bgr, (12, max(1, round(12 * h / w))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(tiny, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        out = np.zeros((h, w, 3), np.uint8)
    scale = max(0.5, w / 800)  # about a third of the frame wide
    (tw, th), _ = cv2.getTextSize(notice, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    origin = (max(0, (w - tw) // 2), (h + th) // 2)
    cv2.putText(out, notice, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return out

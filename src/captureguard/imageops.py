"""Pixel operations that need OpenCV: resizing for model inputs and photo encoding.

Kept apart from the numpy-only core because OpenCV's warp is ~10x faster than any numpy
equivalent and the model hot path has a budget of about a millisecond for pre-processing.
"""

from __future__ import annotations

import cv2
import numpy as np

from captureguard.errors import BadInputError
from captureguard.preprocess import Letterbox, letterbox_matrix

cv2.setNumThreads(1)


def letterbox(bgr: np.ndarray, box: Letterbox) -> np.ndarray:
    """Scale ``(H, W, 3) uint8`` into a zero-padded ``box.input_hw`` canvas in one bilinear warp."""
    h, w = box.input_hw
    return cv2.warpAffine(
        bgr, letterbox_matrix(box), (w, h), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
    )


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

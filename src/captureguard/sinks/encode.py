"""Encoding released pixels in memory (photos, viewfinder JPEGs): OpenCV's codecs."""

from __future__ import annotations

import cv2
import numpy as np

from captureguard.errors import BadInputError


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

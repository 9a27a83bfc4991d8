"""The guard's own pixels for a frame it may not show: black, or a blur no shape survives."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

Placeholder = Literal["black", "blur"]
"""How a withheld frame looks: black, or a blur so coarse no shape survives; both carry a notice."""


def placeholder(bgr: np.ndarray, *, mode: Placeholder, notice: str) -> np.ndarray:
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

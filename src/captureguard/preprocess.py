"""Pre-processing maths for the detectors (numpy only).

Geometry of aspect-preserving letterboxing and tiling, and the conversion of a resized BGR image
into a model's input tensor. The warp itself is done by :mod:`captureguard.imageops`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

ChannelOrder = Literal["rgb", "bgr"]


@dataclass(frozen=True)
class Letterbox:
    """How a frame maps into a model input.

    The frame is scaled by ``scale`` (to about ``resized_hw``) and placed at the top-left of a
    zero canvas of ``input_hw`` (bottom/right padding, as NudeNet does), so model coordinates
    map back to frame pixels by dividing by ``scale``.
    """

    scale: float
    resized_hw: tuple[int, int]
    input_hw: tuple[int, int]


def plan_letterbox(height: int, width: int, *, size: int, keep_aspect: bool = True, stride: int = 32) -> Letterbox:
    """Plan the letterbox of a ``height x width`` frame for a model input of long side ``size``.

    With ``keep_aspect`` the short side of the input is the scaled short side rounded up to a
    multiple of ``stride`` (e.g. 1280x720 at 320 -> input 320x192); without it the input is
    ``size x size`` (NudeNet's own square letterbox).
    """
    scale = size / max(height, width)
    rh, rw = max(1, round(height * scale)), max(1, round(width * scale))
    if keep_aspect:
        ih, iw = (_round_up(rh, stride), _round_up(rw, stride))
    else:
        ih, iw = size, size
    return Letterbox(scale, (rh, rw), (ih, iw))


def _round_up(value: int, stride: int) -> int:
    return max(stride, math.ceil(value / stride) * stride)


def to_nchw(canvas_bgr: np.ndarray, *, channels: ChannelOrder) -> np.ndarray:
    """A letterboxed ``(H, W, 3) uint8`` BGR canvas -> ``(1, 3, H, W) float32`` in ``[0, 1]``."""
    h, w = canvas_bgr.shape[:2]
    out = np.empty((1, 3, h, w), np.float32)
    chw = canvas_bgr.transpose(2, 0, 1)
    if channels == "rgb":
        chw = chw[::-1]
    np.multiply(chw, np.float32(1 / 255), out=out[0], casting="unsafe")
    return out


def letterbox_matrix(box: Letterbox) -> np.ndarray:
    """``(2, 3)`` affine map from frame pixels to model-input pixels (pixel-centre aligned).

    It is the mapping of a bilinear resize by ``box.scale`` (``dst = s * (src + 0.5) - 0.5``),
    the same one :func:`captureguard.imageops.letterbox` applies; use it to map points between
    frame and model input (``cv2.warpAffine`` with it is close to, not bit-identical with, the
    resize, because the warp quantises sub-pixel positions to 1/32).
    """
    s = box.scale
    t = 0.5 * s - 0.5
    return np.array([[s, 0.0, t], [0.0, s, t]], np.float64)


@dataclass(frozen=True)
class Tile:
    """A window of a frame, ``[y0:y1, x0:x1]`` in frame pixels."""

    y0: int
    x0: int
    y1: int
    x1: int


def plan_tiles(height: int, width: int, *, grid: int, overlap: float = 0.2) -> list[Tile]:
    """Split a frame into ``grid x grid`` overlapping tiles (same size each).

    Args:
        height: frame height in pixels.
        width: frame width in pixels.
        grid: tiles per side (1 means the whole frame).
        overlap: fraction of a tile's side shared with its neighbour, in ``[0, 0.9]``.
    """
    if grid <= 1:
        return [Tile(0, 0, height, width)]
    th = min(height, math.ceil(height / (grid - (grid - 1) * overlap)))
    tw = min(width, math.ceil(width / (grid - (grid - 1) * overlap)))
    ys = np.linspace(0, height - th, grid).round().astype(int)
    xs = np.linspace(0, width - tw, grid).round().astype(int)
    return [Tile(int(y), int(x), int(y) + th, int(x) + tw) for y in ys for x in xs]

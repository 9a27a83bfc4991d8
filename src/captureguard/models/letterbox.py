"""Letterbox: how a frame becomes a model input — the plan, the warp and the tensor, in one place.

* :func:`plan_letterbox` (pure maths): the scale and the padded input size for a frame;
* :func:`letterbox` (OpenCV): the pixels scaled into that zero-padded canvas, top-left aligned;
* :func:`to_nchw` (numpy): the canvas as a ``(1, 3, H, W) float32`` tensor in ``[0, 1]``.

Model coordinates map back to frame pixels by dividing by ``Letterbox.scale``.
:func:`plan_tiles` plans overlapping windows of large frames (each then letterboxed alike).
OpenCV's resize is used because it is ~10x faster than any numpy equivalent and the model hot
path has a budget of about a millisecond for pre-processing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

cv2.setNumThreads(1)

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


def resize(bgr: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(H, W, 3) uint8`` to ``wh = (width, height)``."""
    return np.asarray(cv2.resize(bgr, wh, interpolation=cv2.INTER_LINEAR))


def pad(bgr: np.ndarray, *, top: int, bottom: int, left: int, right: int, value: int) -> np.ndarray:
    """Pad ``(H, W, 3) uint8`` with a constant grey ``value`` on each side."""
    if not (top or bottom or left or right):
        return bgr
    return np.asarray(cv2.copyMakeBorder(bgr, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(value,) * 3))


def warp_affine(pixels: np.ndarray, matrix: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    """``pixels`` mapped by the 2 x 3 affine ``matrix`` (source -> output pixels) into a ``wh`` canvas,
    bilinear, zeros outside: a rotated or letterboxed model input (the hand models')."""
    out: np.ndarray = cv2.warpAffine(
        pixels, matrix, wh, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return out


def affine_of(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 affine matrix taking three points ``src`` onto three points ``dst`` (each ``(3, 2)``)."""
    m: np.ndarray = cv2.getAffineTransform(src.astype(np.float32), dst.astype(np.float32))
    return m


def paint_mask(shape: tuple[int, ...], regions: list[tuple[list[np.ndarray], int]]) -> np.ndarray:
    """The ``(H, W) uint8`` mask (255: to paint) of ``regions`` in a frame of ``shape``: each region
    convex polygons in frame pixels and a margin in pixels it grows by."""
    h, w = shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for polygons, grow in regions:
        part = np.zeros((h, w), np.uint8)
        for poly in polygons:
            cv2.fillConvexPoly(part, cv2.convexHull(np.round(poly).astype(np.int32)), 255)
        k = 2 * max(1, grow) + 1
        mask = np.maximum(mask, np.asarray(cv2.dilate(part, np.ones((k, k), np.uint8)), np.uint8))
    return mask


def paint_out(bgr: np.ndarray, mask: np.ndarray, *, max_side: int = 480) -> tuple[np.ndarray, float]:
    """``bgr`` with the ``mask`` (:func:`paint_mask`) filled in from around it (OpenCV's Telea
    inpainting on a copy at most ``max_side`` px long, pasted back into the mask only), and the
    share of the frame filled (0.0 and ``bgr`` itself for an empty mask)."""
    if not mask.any():
        return bgr, 0.0
    h, w = bgr.shape[:2]
    s = min(1.0, max_side / max(h, w))
    small = cv2.resize(bgr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask, small.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    filled = cv2.resize(cv2.inpaint(small, small_mask, 5, cv2.INPAINT_TELEA), (w, h), interpolation=cv2.INTER_LINEAR)
    out = bgr.copy()
    out[mask > 0] = filled[mask > 0]
    return out, float((mask > 0).mean())

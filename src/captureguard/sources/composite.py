"""An artwork placed in a camera frame at a chosen scale and path, over a moving background.

:class:`Placed` is a shot for :class:`~captureguard.sources.synthetic.ClipSource`: a still (a
nude artwork) pasted over another shot (a safe video or a pan over a safe still), covering a given
share of the frame's area, moving along a straight path, zooming, shaking like a hand-held camera.
Its ground truth is geometric (:meth:`Placed.geometry`): how much of the artwork is inside the
frame, and how much of the frame it fills. That is what "substantially visible" is measured on
(``bench/leaks.py``): no model decides what the truth is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from captureguard.sources.synthetic import Shot, Still


class _Renders(Protocol):
    def render(self, k: int, n: int) -> np.ndarray: ...


@dataclass(frozen=True)
class Geometry:
    """Where the artwork is in one output frame.

    Attributes:
        box: ``(x1, y1, x2, y2)`` of the whole artwork in frame pixels (may extend past the frame).
        visible: fraction of the artwork's area inside the frame, ``[0, 1]``.
        frame_share: fraction of the frame's area the visible part covers, ``[0, 1]``.
    """

    box: tuple[float, float, float, float]
    visible: float
    frame_share: float


@dataclass(frozen=True)
class Placed:
    """``image`` over ``background`` for ``seconds``; the artwork covers ``area`` of the frame.

    Args:
        image: the artwork.
        background: the shot behind it (its own ``seconds`` is ignored: it is stretched to this one's).
        seconds: duration.
        area: ``(start, end)`` share of the frame's area the whole artwork covers (a zoom when they differ).
        centre: ``((x, y) start, (x, y) end)`` of the artwork's centre, in frame widths/heights
            (0.5, 0.5 is the middle; values outside [0, 1] start or end off-frame: a slide-in).
        shake: hand-held camera shake, as a fraction of the frame's shorter side (0: a tripod).
        seed: the shake's random seed (the clip is reproducible).
    """

    image: Still
    background: Shot
    seconds: float
    area: tuple[float, float] = (0.3, 0.3)
    centre: tuple[tuple[float, float], tuple[float, float]] = ((0.5, 0.5), (0.5, 0.5))
    shake: float = 0.0
    seed: int = 0
    _jitter: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def geometry(self, k: int, n: int, out_wh: tuple[int, int]) -> Geometry:
        """The artwork's box in frame ``k`` of ``n`` (frames of ``out_wh`` pixels) and its visibility."""
        ow, oh = out_wh
        u = k / (n - 1) if n > 1 else 0.0
        a0, a1 = self.area
        area = a0 * (a1 / a0) ** u  # a steady zoom: geometric in area
        ih, iw = self.image.bgr.shape[:2]
        w = math.sqrt(area * ow * oh * iw / ih)
        h = w * ih / iw
        (x0, y0), (x1, y1) = self.centre
        dx, dy = self._shake_at(k, n) * min(ow, oh)
        cx, cy = (x0 + (x1 - x0) * u) * ow + dx, (y0 + (y1 - y0) * u) * oh + dy
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        inside_w = max(0.0, min(ow, box[2]) - max(0.0, box[0]))
        inside_h = max(0.0, min(oh, box[3]) - max(0.0, box[1]))
        inside = inside_w * inside_h
        return Geometry(box, float(inside / (w * h)), float(inside / (ow * oh)))

    def _shake_at(self, k: int, n: int) -> np.ndarray:
        if self.shake <= 0:
            return np.zeros(2)
        if n not in self._jitter:
            rng = np.random.default_rng(self.seed)
            steps = rng.normal(0.0, 1.0, size=(n + 8, 2))
            smooth = np.stack([np.convolve(steps[:, j], np.ones(4) / 4, mode="same") for j in (0, 1)], axis=1)
            self._jitter[n] = smooth[:n] / max(1e-9, float(np.abs(smooth[:n]).max())) * self.shake
        offset: np.ndarray = self._jitter[n][k]
        return offset

    def bind(self, out_wh: tuple[int, int]) -> _PlacedBound:
        """Lay the shot out for ``(width, height)`` output frames."""
        return _PlacedBound(self, self.background.bind(out_wh), out_wh)


@dataclass
class _PlacedBound:
    shot: Placed
    background: _Renders
    out_wh: tuple[int, int]

    def render(self, k: int, n: int) -> np.ndarray:
        frame = np.array(self.background.render(k, n), copy=True)
        g = self.shot.geometry(k, n, self.out_wh)
        if g.visible <= 0:
            return frame
        x1, y1, x2, y2 = g.box
        w, h = max(1, round(x2 - x1)), max(1, round(y2 - y1))
        art = self.shot.image.bgr
        interp = cv2.INTER_AREA if w < art.shape[1] else cv2.INTER_LINEAR
        # Resize only the part inside the frame (zooms past the frame's size stay cheap).
        ox, oy = round(x1), round(y1)
        fx0, fy0 = max(0, ox), max(0, oy)
        fx1, fy1 = min(self.out_wh[0], ox + w), min(self.out_wh[1], oy + h)
        if fx1 <= fx0 or fy1 <= fy0:
            return frame
        sx, sy = art.shape[1] / w, art.shape[0] / h
        ax0, ay0 = int((fx0 - ox) * sx), int((fy0 - oy) * sy)
        ax1, ay1 = max(ax0 + 1, math.ceil((fx1 - ox) * sx)), max(ay0 + 1, math.ceil((fy1 - oy) * sy))
        part = art[ay0:ay1, ax0:ax1]
        frame[fy0:fy1, fx0:fx1] = cv2.resize(part, (fx1 - fx0, fy1 - fy0), interpolation=interp)
        return frame

    def unsafe_fraction(self, k: int, n: int) -> float:
        return self.shot.geometry(k, n, self.out_wh).visible if self.shot.image.unsafe else 0.0

"""Where a block came from: the region a stream guard keeps re-checking after it (numpy only).

After a check blocks, the stream guard re-checks a crop around the evidence that caused it
(:func:`focus_of`) on every following check while the stream is shut, and moves the crop to
where the evidence is found next (a crop that follows it). A crop is checked at the detector's
full input size, so a figure that fills a small part of a 720p frame is seen larger than in
the whole-frame check: the case where a still blocked at full resolution was missed in a stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from captureguard.core.detection import PICTURE_OUTER, Detections

#: ``(x1, y1, x2, y2)`` in frame pixels.
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class FocusRule:
    """How evidence becomes a crop.

    Attributes:
        labels: region labels whose boxes count as the cause of a block (exposed body parts).
        min_score: a region counts from this score up (low on purpose: following needs a trace,
            not proof; the crop's own check decides).
        grow: the union of the boxes is scaled by this factor about its centre (a part -> the figure).
        min_side_frac: the crop's sides are at least this fraction of the frame's shorter side.
    """

    labels: frozenset[str]
    min_score: float = 0.1
    grow: float = 3.0
    min_side_frac: float = 0.35


def focus_of(found: Detections, rule: FocusRule, *, width: int, height: int) -> Box | None:
    """The crop around the evidence in ``found`` (frame pixels), or None when there is none.

    The union box of the qualifying regions is grown about its centre, made at least
    ``min_side_frac`` of the frame's shorter side, and clamped to the frame. A crop that would
    cover (almost) the whole frame is pointless (the whole-frame check sees it): None.
    """
    keep = np.array([str(lab) in rule.labels for lab in found.labels], bool) & (found.scores >= rule.min_score)
    if not keep.any():
        return None
    boxes = found.xyxy[keep]
    x1, y1 = float(boxes[:, 0].min()), float(boxes[:, 1].min())
    x2, y2 = float(boxes[:, 2].max()), float(boxes[:, 3].max())
    return grown((x1, y1, x2, y2), rule, width=width, height=height)


def grown(box: Box, rule: FocusRule, *, width: int, height: int) -> Box | None:
    """``box`` scaled by ``rule.grow``, at least the minimum side, inside the frame; None if ~whole frame."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side_min = rule.min_side_frac * min(width, height)
    w = min(float(width), max((x2 - x1) * rule.grow, side_min))
    h = min(float(height), max((y2 - y1) * rule.grow, side_min))
    nx1 = min(max(0.0, cx - w / 2), width - w)
    ny1 = min(max(0.0, cy - h / 2), height - h)
    if w * h >= 0.8 * width * height:
        return None
    return (nx1, ny1, nx1 + w, ny1 + h)


def picture_box(found: Detections) -> Box | None:
    """The picture locator's outer box in ``found`` (``PICTURE_OUTER``; the highest-scored if
    several), or None when no picture was located: what the crop-reading checks read."""
    outer = found.with_label(PICTURE_OUTER)
    if not len(outer):
        return None
    x0, y0, x1, y1 = (float(v) for v in outer.xyxy[int(np.argmax(outer.scores))])
    return (x0, y0, x1, y1)


def window_area(window: tuple[int, int, int, int]) -> int:
    """Pixels inside integer slice bounds ``(x0, y0, x1, y1)`` (:func:`pixel_window`'s)."""
    x0, y0, x1, y1 = window
    return max(0, x1 - x0) * max(0, y1 - y0)


def pixel_window(box: Box, *, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer ``(x0, y0, x1, y1)`` slice bounds of ``box`` inside a ``width x height`` frame (>= 1 px)."""
    x0 = min(max(0, int(np.floor(box[0]))), width - 1)
    y0 = min(max(0, int(np.floor(box[1]))), height - 1)
    x1 = max(x0 + 1, min(width, int(np.ceil(box[2]))))
    y1 = max(y0 + 1, min(height, int(np.ceil(box[3]))))
    return x0, y0, x1, y1


def shifted(found: Detections, dx: float, dy: float) -> Detections:
    """``found`` moved by ``(dx, dy)`` pixels: detections in a crop -> detections in the frame."""
    offset = np.array([dx, dy, dx, dy], np.float32)
    return Detections(found.xyxy + offset, found.scores, found.labels, found.models)

"""Hands as an explanation: where a flagged frame's skin may be a hand and its forearm.

A bare hand and forearm held up to a camera (sign language, a hand reaching for a bottle) fill the
frame with skin, and open_nsfw reads them as nude; NudeNet reads a fist as genitals. The live check
withheld most of the dev set's hand close-ups for that reason. MediaPipe's hand models (a palm
detector and a 21-landmark model, ``models/hands.py``) find the hands; this module holds the
numpy side: the palm detector's anchors and decoding (as MediaPipe's ``palm_detection_cpu`` graph
configures its calculators), the region the landmark model reads, and the area to paint out (the
hand's landmarks and a strip along the forearm) before the frame is checked again
(:class:`HandRule`, ``Checker``'s hand pass).

Painting a hand out removes only the hand and its forearm strip from the evidence: a body beside
or behind the hand is still in the frame that is checked again, and the stricter verdict stands
unless the frame with the hands painted out is allowed. Nothing inside a picture the check located
is painted, except a "picture" that is mostly the hand itself: the picture locator fires on a hand
and forearm filling the frame (:attr:`HandRule.picture_is_hand`, :func:`pictures_kept`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from captureguard.core.detection import pairwise_iou
from captureguard.core.policy import Profile
from captureguard.core.verdict import Decision, Reason, Verdict
from captureguard.errors import ConfigError

#: Reason code of a verdict the hand pass decided (the frame with its hands painted out).
HANDS_EXPLAINED = "HANDS_EXPLAINED"
#: Model name the hand pass's detections and reasons cite (MediaPipe's two hand models together).
HANDS_MODEL = "mediapipe_hands"
#: Timing key of the hand pass (palm detector, landmark model and the check of the painted frame).
HANDS_TIMING = "hands"

PALM_INPUT = 192
LANDMARK_INPUT = 224
#: MediaPipe's palm anchors (``SsdAnchorsCalculator`` in ``palm_detection_cpu``): 4 layers, strides
#: 8, 16, 16, 16 on a 192 x 192 input, fixed unit size, 2 anchors per cell and layer.
PALM_STRIDES = (8, 16, 16, 16)
#: share of a check's deadline the hand pass may fill (as the second look's, ``core/second_look.py``)
FIT_SHARE = 0.95
#: Landmark indices (MediaPipe's hand model): the wrist, the index/middle/pinky MCP joints.
WRIST, INDEX_MCP, MIDDLE_MCP, PINKY_MCP = 0, 5, 9, 17


def palm_anchors() -> np.ndarray:
    """The palm detector's 2,016 anchor centres, ``(2016, 2)`` in ``[0, 1]`` of its input (x, y)."""
    out: list[tuple[float, float]] = []
    i = 0
    while i < len(PALM_STRIDES):
        stride = PALM_STRIDES[i]
        repeats = 0
        while i < len(PALM_STRIDES) and PALM_STRIDES[i] == stride:  # layers of one stride share cells
            repeats += 2
            i += 1
        side = math.ceil(PALM_INPUT / stride)
        for y in range(side):
            for x in range(side):
                out.extend([((x + 0.5) / side, (y + 0.5) / side)] * repeats)
    return np.array(out, np.float32)


@dataclass(frozen=True)
class Palm:
    """One palm found: score, box ``(cx, cy, w, h)`` and 7 keypoints ``(7, 2)``, all in frame pixels."""

    score: float
    box: tuple[float, float, float, float]
    keypoints: np.ndarray


def decode_palms(
    boxes: np.ndarray,
    scores: np.ndarray,
    anchors: np.ndarray,
    *,
    threshold: float,
    to_frame: tuple[float, float, float],
    iou_threshold: float = 0.3,
) -> list[Palm]:
    """The palm detector's raw output -> palms, strongest first, after MediaPipe's weighted NMS.

    Args:
        boxes: ``(2016, 18)``: box centre offset, size, then 7 keypoint offsets, in input pixels.
        scores: ``(2016,)`` logits.
        anchors: :func:`palm_anchors`.
        threshold: the lowest sigmoid score kept.
        to_frame: ``(scale, left, top)``: frame px = (input px - pad) / scale.
    """
    if boxes.shape != (len(anchors), 18) or scores.shape != (len(anchors),):
        raise ValueError(f"palm detector output has shapes {boxes.shape}, {scores.shape}")
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
        raise ValueError("palm detector returned non-finite values")
    prob = 1.0 / (1.0 + np.exp(-np.clip(scores.astype(np.float64), -100.0, 100.0)))
    keep = np.flatnonzero(prob >= threshold)
    if keep.size == 0:
        return []
    a = anchors[keep].astype(np.float64) * PALM_INPUT
    raw = boxes[keep].astype(np.float64)
    cx, cy = raw[:, 0] + a[:, 0], raw[:, 1] + a[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    kp = raw[:, 4:].reshape(-1, 7, 2) + a[:, None, :]
    order = keep_weighted(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), prob[keep], iou_threshold)
    scale, left, top = to_frame
    palms = []
    for members in order:
        wts = prob[keep][members]
        wts = wts / wts.sum()
        box = np.array([cx[members], cy[members], w[members], h[members]]) @ wts
        pts = np.tensordot(wts, kp[members], axes=1)
        fx, fy = (box[0] - left) / scale, (box[1] - top) / scale
        pts = (pts - np.array([left, top])) / scale
        palms.append(Palm(float(prob[keep][members[0]]), (float(fx), float(fy), box[2] / scale, box[3] / scale), pts))
    return palms


def keep_weighted(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[np.ndarray]:
    """MediaPipe's weighted NMS: clusters of boxes overlapping the strongest left (IoU > threshold),
    strongest first; each cluster's first index is its strongest."""
    iou = pairwise_iou(xyxy, xyxy)  # a few dozen candidates at most
    left = list(np.argsort(-scores, kind="stable"))
    out = []
    while left:
        top = left[0]
        rest = np.array(left)
        members = rest[iou[top, rest] > iou_threshold]
        if top not in members:
            members = np.concatenate([[top], members])
        out.append(members)
        taken = set(members.tolist())
        left = [i for i in left if i not in taken]
    return out


@dataclass(frozen=True)
class Roi:
    """A rotated square in frame pixels: centre, side and rotation (radians, counter-clockwise
    image rotation that makes the hand upright)."""

    cx: float
    cy: float
    side: float
    rotation: float

    def corners(self) -> np.ndarray:
        """The four corners (top-left, top-right, bottom-right, bottom-left of the upright crop)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        half = self.side / 2
        local = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
        rot = np.array([[c, -s], [s, c]])
        return np.asarray(local @ rot.T + np.array([self.cx, self.cy]))


def hand_roi(palm: Palm) -> Roi:
    """The region the landmark model reads for ``palm`` (MediaPipe's ``PalmDetectionDetectionToRoi``:
    rotated so that the wrist -> middle-finger joint points up, scaled 2.6, shifted half a side
    towards the fingers, made square on its long side)."""
    x0, y0 = palm.keypoints[0]
    x1, y1 = palm.keypoints[2]
    rotation = _normalize(math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0))
    cx, cy, w, h = palm.box
    shift_y = -0.5 * h
    cx += -math.sin(rotation) * shift_y
    cy += math.cos(rotation) * shift_y
    return Roi(cx, cy, max(w, h) * 2.6, rotation)


def _normalize(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


@dataclass(frozen=True)
class Hand:
    """A hand the landmark model confirmed: presence score and 21 landmarks ``(21, 2)``, frame px."""

    score: float
    landmarks: np.ndarray

    @property
    def size(self) -> float:
        """Wrist to middle-finger joint, px: the hand's scale."""
        return float(np.linalg.norm(self.landmarks[WRIST] - self.landmarks[MIDDLE_MCP]))

    def box(self) -> tuple[float, float, float, float]:
        """The landmarks' bounding box ``(x0, y0, x1, y1)``."""
        lo, hi = self.landmarks.min(0), self.landmarks.max(0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def landmarks_to_frame(raw: np.ndarray, roi: Roi) -> np.ndarray:
    """The landmark model's ``(63,)`` output (x, y, z in its 224 px input) -> ``(21, 2)`` frame px."""
    pts = raw.reshape(21, 3)[:, :2].astype(np.float64) / LANDMARK_INPUT - 0.5
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    x = pts[:, 0] * c - pts[:, 1] * s
    y = pts[:, 0] * s + pts[:, 1] * c
    return np.stack([roi.cx + x * roi.side, roi.cy + y * roi.side], 1)


def paint_polygons(hand: Hand, forearm: float) -> list[np.ndarray]:
    """Polygons (frame px) covering ``hand``: its landmarks' convex outline, and a strip from the
    wrist away from the fingers, ``forearm`` hand sizes long (0: none), a little wider than the
    palm. The caller fills them, grown by :attr:`HandRule.grow` of the hand size."""
    pts = hand.landmarks
    size = max(hand.size, 1.0)
    d = (pts[WRIST] - pts[MIDDLE_MCP]) / size
    n = np.array([-d[1], d[0]])
    palm_w = max(float(np.linalg.norm(pts[INDEX_MCP] - pts[PINKY_MCP])), 0.5 * size)
    out = [pts.astype(np.float64)]
    if forearm > 0:
        a = pts[WRIST] - d * 0.2 * size
        b = pts[WRIST] + d * forearm * size
        out.append(np.array([a + n * 0.6 * palm_w, a - n * 0.6 * palm_w, b - n * 0.75 * palm_w, b + n * 0.75 * palm_w]))
    return out


@dataclass(frozen=True)
class HandRule:
    """When and how the live check looks for hands (``[live.hands]`` in ``detectors.toml``).

    Attributes:
        palm_score: the lowest palm detector score kept (MediaPipe's default 0.5; shipped 0.3 since v2.13).
        hand_score: the lowest landmark-model presence score for a hand to count (MediaPipe: 0.5).
        max_hands: at most this many palms are read by the landmark model (strongest first).
        forearm: the forearm strip's length in hand sizes (wrist to middle-finger joint).
        grow: the painted area grows by this share of the hand size on every side.
        clear_below: the frame with its hands painted out explains the flag only when it is
            allowed *clearly*: its score below this share of the profile's warn score (shipped 0.8
            since v2.14, child: 0.31 -> 0.248; 0.33 before). A frame whose evidence merely dips
            under the line stays flagged.
        picture_is_hand: a picture the check located is never painted, unless at least this share
            of its box lies under a hand's paint (outline, forearm strip and margin): then it is
            the hand itself (the picture locator fires on a hand and forearm filling the frame) and
            is painted like the rest of the hand (1.0: only a picture wholly under the paint).
    """

    palm_score: float = 0.3
    hand_score: float = 0.5
    max_hands: int = 4
    forearm: float = 2.6
    grow: float = 0.25
    clear_below: float = 0.8
    picture_is_hand: float = 0.6
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("palm_score", "hand_score"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 < float(v) < 1.0):
                raise ConfigError(f"hands: {name} must be in (0, 1), got {v!r}")
        if not isinstance(self.max_hands, int) or not 1 <= self.max_hands <= 8:
            raise ConfigError(f"hands: max_hands must be an integer in 1..8, got {self.max_hands!r}")
        for name, hi in (("forearm", 6.0), ("grow", 1.0), ("clear_below", 1.0)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= float(v) <= hi):
                raise ConfigError(f"hands: {name} must be in [0, {hi}], got {v!r}")
        v = self.picture_is_hand
        if not (isinstance(v, (int, float)) and 0.0 < float(v) <= 1.0):
            raise ConfigError(f"hands: picture_is_hand must be in (0, 1], got {v!r}")

    def explains(self, painted: Verdict, profile: Profile) -> bool:
        """Whether ``painted`` (the check of the frame with its hands painted out) clears the frame:
        allowed, not failed, and scored under :attr:`clear_below` of ``profile``'s warn score."""
        return (
            painted.decision is Decision.ALLOW
            and not painted.failed
            and painted.score < self.clear_below * profile.warn_score
        )

    @staticmethod
    def fits(spent_ms: float, budget_ms: float | None, find_ms: float) -> bool:
        """Whether the pass fits what is left of a check's deadline: the painted frame's check takes
        about what the check so far took (``spent_ms``), the hand models ``find_ms``, and 95% of
        ``budget_ms`` (None: no deadline) must hold both. When it does not, the flagged verdict
        stands (fail closed: the frame stays withheld without a timeout)."""
        if budget_ms is None:
            return True
        return 2.0 * spent_ms + find_ms <= FIT_SHARE * budget_ms

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> HandRule:
        keys = {"palm_score", "hand_score", "max_hands", "forearm", "grow", "clear_below", "picture_is_hand", "note"}
        unknown = set(table) - keys
        if unknown:
            raise ConfigError(f"hands: unknown keys {sorted(unknown)} (known: {sorted(keys)})")
        return cls(**dict(table))


def _window(shape: tuple[int, ...], box: np.ndarray) -> tuple[slice, slice]:
    """Row and column slices of ``box`` (x0, y0, x1, y1, px; outward to whole pixels) in an image
    of ``shape``, clipped to it (possibly empty)."""
    h, w = shape[:2]
    x0, y0 = min(w, max(0, math.floor(box[0]))), min(h, max(0, math.floor(box[1])))
    x1, y1 = min(w, max(x0, math.ceil(box[2]))), min(h, max(y0, math.ceil(box[3])))
    return slice(y0, y1), slice(x0, x1)


def covered(mask: np.ndarray, box: np.ndarray) -> float:
    """The share of ``box`` (x0, y0, x1, y1, frame px; clipped to ``mask``) where ``mask`` (H, W) is
    set; 0.0 for an empty box."""
    part = mask[_window(mask.shape, box)]
    return float(np.count_nonzero(part)) / part.size if part.size else 0.0


def pictures_kept(mask: np.ndarray, pictures: np.ndarray, rule: HandRule) -> np.ndarray:
    """The located pictures ``(N, 4)`` to keep out of the paint: all but those at least
    :attr:`HandRule.picture_is_hand` of whose box ``mask`` (the hands' paint) covers, which are the
    hands themselves."""
    boxes = np.asarray(pictures, np.float64).reshape(-1, 4)
    kept: np.ndarray = boxes[np.array([covered(mask, b) < rule.picture_is_hand for b in boxes], bool).reshape(-1)]
    return kept


def unmasked(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """A copy of ``mask`` cleared inside ``boxes`` ``(N, 4)`` (frame px, clipped)."""
    out = mask.copy()
    for box in np.asarray(boxes, np.float64).reshape(-1, 4):
        out[_window(out.shape, box)] = 0
    return out


@dataclass(frozen=True)
class Painted:
    """A frame with its hands painted out.

    Attributes:
        pixels: the painted copy (the frame itself when nothing was painted).
        share: the share of the frame painted (0.0: nothing).
        pictures: located pictures taken for a hand and painted (:attr:`HandRule.picture_is_hand`).
    """

    pixels: np.ndarray
    share: float
    pictures: int = 0


def explained(
    flagged: Verdict, painted: Verdict, hands: int, share: float, profile: Profile, *, pictures: int = 0
) -> Verdict:
    """The verdict of a frame the hand pass cleared: ``flagged`` (the frame's own) was not allowed,
    ``painted`` (the same frame, its ``hands`` hands painted out over ``share`` of it, ``pictures``
    located pictures among them taken for a hand) is clearly allowed. Allowed at ``painted``'s
    score, with a :data:`HANDS_EXPLAINED` reason first, then the painted check's reasons; the
    timings are both checks' (the painted one's under ``hands:``)."""
    taken = f"; {pictures} located picture{'s were' if pictures != 1 else ' was'} the hand itself" if pictures else ""
    why = Reason(
        HANDS_EXPLAINED,
        painted.score,
        HANDS_MODEL,
        f"{hands} hand{'s' if hands != 1 else ''} in view ({share:.0%} of the frame with forearms) explain the "
        f"evidence: without them the frame scores {painted.score:.2f} (was {flagged.score:.2f}){taken}",
    )
    timings = {**flagged.timings_ms, **{f"{HANDS_TIMING}:{k}": v for k, v in painted.timings_ms.items()}}
    return Verdict(Decision.ALLOW, painted.score, (why, *painted.reasons), profile.name, timings)

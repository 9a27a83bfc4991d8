"""MediaPipe's hand models (palm detector + 21-landmark model, Apache-2.0) on onnxruntime.

The weights ship as TFLite inside the PyPI ``mediapipe`` wheel; ``make hand-models`` converts them
with ``tools/hands/to_onnx.py`` into the model cache (``$CAPTUREGUARD_MODEL_DIR``, default
``~/.cache/captureguard/models``), checked against ``tools/hands/SHA256``. When a file is missing,
building :class:`HandFinder` raises :class:`~captureguard.errors.ModelMissingError`, so a checker
configured with a hand pass fails closed at start-up instead of running without it.

The pipeline is MediaPipe's static-image one (``mediapipe.solutions.hands`` with
``static_image_mode``): the palm detector on the whole frame, letterboxed to 192 x 192; for each
palm (weighted NMS, strongest first) the landmark model on a rotated 224 x 224 crop around it; a
hand counts when the landmark model's presence score reaches the rule's ``hand_score``. The maths
(anchors, decoding, the crop's geometry) is in :mod:`captureguard.core.hands`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from captureguard.core.hands import (
    HANDS_MODEL,
    LANDMARK_INPUT,
    PALM_INPUT,
    Hand,
    HandRule,
    Painted,
    decode_palms,
    hand_roi,
    landmarks_to_frame,
    paint_polygons,
    palm_anchors,
    pictures_kept,
    unmasked,
)
from captureguard.errors import DetectionError
from captureguard.models.letterbox import affine_of, paint_mask, paint_out, warp_affine
from captureguard.models.runtime import OnnxModel, built_model

PALM_MODEL_FILE = "mediapipe_palm_detection_full.onnx"
LANDMARK_MODEL_FILE = "mediapipe_hand_landmark_full.onnx"


def hand_model_path(name: str) -> Path:
    """Path of a converted hand model in the model cache.

    Raises:
        ModelMissingError: it has not been built.
    """
    return built_model(name, what="hand model", build="from the mediapipe wheel with `make hand-models`")


def palm_input(rgb: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """``(H, W, 3) uint8`` RGB -> the palm detector's ``(1, 192, 192, 3)`` float32 input in
    ``[0, 1]`` (aspect kept, centred on zeros, as MediaPipe's ``ImageToTensorCalculator``: the frame's
    corners on the input's, no half-pixel shift), and ``(scale, left, top)`` to map its pixels back
    to the frame's."""
    h, w = rgb.shape[:2]
    scale = PALM_INPUT / max(h, w)
    left, top = (PALM_INPUT - w * scale) / 2, (PALM_INPUT - h * scale) / 2
    m = np.array([[scale, 0, left], [0, scale, top]], np.float64)
    canvas = warp_affine(rgb, m, (PALM_INPUT, PALM_INPUT))
    return (canvas.astype(np.float32) / 255.0)[None], (scale, left, top)


def roi_input(rgb: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The rotated square with ``corners`` (top-left, top-right, bottom-right, ...) cut from ``rgb``
    as the landmark model's ``(1, 224, 224, 3)`` float32 input in ``[0, 1]`` (zeros outside; its
    corners on the input's, as MediaPipe does)."""
    dst = np.array([[0, 0], [LANDMARK_INPUT, 0], [LANDMARK_INPUT, LANDMARK_INPUT]], np.float32)
    crop = warp_affine(rgb, affine_of(corners[:3], dst), (LANDMARK_INPUT, LANDMARK_INPUT))
    return (crop.astype(np.float32) / 255.0)[None]


@dataclass
class HandFinder:
    """Hands in a frame: the palm detector, then the landmark model on each palm's region."""

    palm: OnnxModel
    landmarks: OnnxModel
    rule: HandRule = field(default_factory=HandRule)
    name: str = HANDS_MODEL

    def __post_init__(self) -> None:
        self._anchors = palm_anchors()

    def find(self, bgr: np.ndarray) -> list[Hand]:
        """The hands in a ``(H, W, 3) uint8`` BGR frame, strongest palm first.

        Raises:
            DetectionError: a model's output has the wrong shape or is not finite.
        """
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        x, to_frame = palm_input(rgb)
        outs = self.palm.run_all(x)
        boxes, scores = np.asarray(outs[0]), np.asarray(outs[1])
        try:
            palms = decode_palms(
                boxes.reshape(-1, 18),
                scores.reshape(-1),
                self._anchors,
                threshold=self.rule.palm_score,
                to_frame=to_frame,
            )
        except ValueError as exc:
            raise DetectionError(f"palm detector: {exc}") from exc
        hands = []
        for palm in palms[: self.rule.max_hands]:
            roi = hand_roi(palm)
            got = self.landmarks.run_all(roi_input(rgb, roi.corners()))
            raw, presence = np.asarray(got[0]).reshape(-1), np.asarray(got[1]).reshape(-1)
            if (
                raw.shape != (63,)
                or presence.shape != (1,)
                or not np.isfinite(raw).all()
                or not np.isfinite(presence).all()
            ):
                raise DetectionError(
                    f"hand landmark model output has shapes {raw.shape}, {presence.shape} or is not finite"
                )
            p = float(presence[0])
            if not 0.0 <= p <= 1.0:
                raise DetectionError(f"hand landmark presence {p} is out of [0, 1]")
            if p >= self.rule.hand_score:
                hands.append(Hand(p, landmarks_to_frame(raw, roi)))
        return hands

    def paint_out(self, bgr: np.ndarray, hands: list[Hand], *, keep: np.ndarray | None = None) -> Painted:
        """``bgr`` with ``hands`` (and their forearm strips) painted out: filled in from around them
        (OpenCV's inpainting on a copy at most 480 px long). Nothing inside the ``keep`` boxes
        ``(N, 4)`` (the located pictures) is painted, except those the paint covers enough to be
        the hand itself (:func:`~captureguard.core.hands.pictures_kept`)."""
        regions = [(paint_polygons(h, self.rule.forearm), round(self.rule.grow * h.size)) for h in hands]
        mask = paint_mask(bgr.shape, regions)
        pictures = np.zeros((0, 4)) if keep is None else np.asarray(keep, np.float64).reshape(-1, 4)
        kept = pictures_kept(mask, pictures, self.rule)
        pixels, share = paint_out(bgr, unmasked(mask, kept))
        return Painted(pixels, share, len(pictures) - len(kept))


def hand_finder(rule: HandRule | None = None, *, threads: int = 2) -> HandFinder:
    """The converted MediaPipe hand models from the model cache.

    Raises:
        ModelMissingError: ``make hand-models`` has not been run.
    """
    palm = OnnxModel(hand_model_path(PALM_MODEL_FILE), threads=threads)
    landmarks = OnnxModel(hand_model_path(LANDMARK_MODEL_FILE), threads=threads)
    return HandFinder(palm, landmarks, rule or HandRule())

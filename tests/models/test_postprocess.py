"""YOLOv8 decoding, NMS and IoU on hand-built arrays (table-driven)."""

from __future__ import annotations

import numpy as np
import pytest

from captureguard.core.detection import nms, pairwise_iou
from captureguard.models.open_nsfw import nsfw_probability
from captureguard.models.yolo import decode_yolov8

N_CLASSES = 3


def head(*candidates: tuple[float, float, float, float, int, float]) -> np.ndarray:
    """A ``(4 + C, B)`` head output from ``(cx, cy, w, h, class_id, score)`` candidates."""
    out = np.zeros((4 + N_CLASSES, len(candidates)), np.float32)
    for j, (cx, cy, w, h, cls, score) in enumerate(candidates):
        out[:4, j] = cx, cy, w, h
        out[4 + cls, j] = score
        out[4 + (cls + 1) % N_CLASSES, j] = score / 2  # a weaker runner-up class
    return out


DECODE_CASES = [
    pytest.param(
        head((50, 50, 20, 20, 1, 0.9)),
        {},
        [[40, 40, 60, 60]],
        [0.9],
        [1],
        id="one-box",
    ),
    pytest.param(
        head((50, 50, 20, 20, 1, 0.24), (10, 10, 4, 4, 2, 0.25)),
        {},
        [[8, 8, 12, 12]],
        [0.25],
        [2],
        id="threshold-inclusive",
    ),
    pytest.param(head((50, 50, 20, 20, 0, 0.1)), {}, [], [], [], id="nothing-passes"),
    pytest.param(
        head((50, 50, 20, 20, 0, 0.9)),
        {"scale": 0.5},
        [[80, 80, 120, 120]],
        [0.9],
        [0],
        id="scale-maps-back",
    ),
    pytest.param(
        head((5, 95, 20, 20, 0, 0.9)),
        {"frame_hw": (100, 200)},
        [[0, 85, 15, 100]],
        [0.9],
        [0],
        id="clipped-to-frame",
    ),
    pytest.param(
        head((50, 50, 20, 20, 0, 0.6), (51, 50, 20, 20, 2, 0.8), (150, 150, 10, 10, 1, 0.7)),
        {},
        [[41, 40, 61, 60], [145, 145, 155, 155]],
        [0.8, 0.7],
        [2, 1],
        id="class-agnostic-nms-sorted",
    ),
]


@pytest.mark.parametrize(("output", "kwargs", "boxes", "scores", "ids"), DECODE_CASES)
def test_decode_yolov8(
    output: np.ndarray,
    kwargs: dict[str, object],
    boxes: list[list[float]],
    scores: list[float],
    ids: list[int],
) -> None:
    args: dict[str, object] = {"scale": 1.0, "frame_hw": (1000, 1000), **kwargs}
    xyxy, got_scores, got_ids = decode_yolov8(output, **args)  # type: ignore[arg-type]
    assert xyxy.dtype == np.float32 and got_scores.dtype == np.float32 and got_ids.dtype == np.int64
    np.testing.assert_allclose(xyxy.reshape(-1, 4), np.array(boxes, np.float32).reshape(-1, 4), atol=1e-4)
    np.testing.assert_allclose(got_scores, scores, rtol=1e-6)
    np.testing.assert_array_equal(got_ids, ids)


def boxes(*rows: tuple[float, float, float, float]) -> np.ndarray:
    return np.array(rows, np.float32).reshape(-1, 4)


NMS_CASES = [
    pytest.param(boxes(), [], 0.45, [], id="no-boxes"),
    pytest.param(boxes((0, 0, 10, 10)), [0.5], 0.45, [0], id="single"),
    pytest.param(boxes((0, 0, 10, 10), (20, 20, 30, 30)), [0.3, 0.9], 0.45, [1, 0], id="disjoint-by-score"),
    pytest.param(boxes((0, 0, 10, 10), (1, 0, 11, 10)), [0.3, 0.9], 0.45, [1], id="overlap-suppressed"),
    pytest.param(boxes((0, 0, 10, 10), (1, 0, 11, 10)), [0.5, 0.5], 0.45, [0], id="tie-keeps-first"),
    pytest.param(
        boxes((0, 0, 10, 10), (5, 0, 15, 10)),
        [0.9, 0.8],
        1 / 3,
        [0, 1],
        id="iou-equal-threshold-kept",
    ),
    pytest.param(
        boxes((0, 0, 10, 10), (2, 0, 12, 10), (4, 0, 14, 10)),
        [0.9, 0.8, 0.7],
        0.5,
        [0, 2],
        id="suppressed-box-does-not-suppress",
    ),
]


@pytest.mark.parametrize(("xyxy", "scores", "iou", "expected"), NMS_CASES)
def test_nms(xyxy: np.ndarray, scores: list[float], iou: float, expected: list[int]) -> None:
    kept = nms(xyxy, np.array(scores, np.float32), iou_threshold=iou)
    np.testing.assert_array_equal(kept, expected)


IOU_CASES = [
    pytest.param((0, 0, 10, 10), (0, 0, 10, 10), 1.0, id="identical"),
    pytest.param((0, 0, 10, 10), (20, 20, 30, 30), 0.0, id="disjoint"),
    pytest.param((0, 0, 10, 10), (10, 0, 20, 10), 0.0, id="touching"),
    pytest.param((0, 0, 10, 10), (5, 0, 15, 10), 1 / 3, id="half-shifted"),
    pytest.param((0, 0, 10, 10), (0, 0, 5, 10), 0.5, id="contained"),
    pytest.param((0, 0, 0, 0), (0, 0, 0, 0), 0.0, id="zero-area"),
]


@pytest.mark.parametrize(("a", "b", "expected"), IOU_CASES)
def test_pairwise_iou(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float], expected: float
) -> None:
    got = pairwise_iou(boxes(a), boxes(b))
    assert got.shape == (1, 1)
    assert got[0, 0] == pytest.approx(expected)
    assert pairwise_iou(boxes(b), boxes(a))[0, 0] == pytest.approx(expected)


def test_pairwise_iou_shape() -> None:
    assert pairwise_iou(boxes((0, 0, 1, 1), (0, 0, 2, 2)), boxes((0, 0, 1, 1))).shape == (2, 1)
    assert pairwise_iou(boxes(), boxes((0, 0, 1, 1))).shape == (0, 1)


def test_nsfw_probability_takes_second_column() -> None:
    np.testing.assert_allclose(nsfw_probability(np.array([[0.2, 0.8], [0.9, 0.1]])), [0.8, 0.1])

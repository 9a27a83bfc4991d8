"""The crop a stream guard follows after a block: table tests of the box maths."""

from __future__ import annotations

import numpy as np
import pytest

from captureguard.core.detection import PICTURE_OUTER, Detections
from captureguard.core.region import FocusRule, focus_of, grown, picture_box, pixel_window, shifted, window_area

RULE = FocusRule(frozenset({"FEMALE_BREAST_EXPOSED", "ANUS_EXPOSED"}), min_score=0.1, grow=3.0, min_side_frac=0.25)
W, H = 1280, 720


def found(*items: tuple[str, float, tuple[float, float, float, float]]) -> Detections:
    return Detections.concat([Detections.from_arrays([b], [s], [lab], model="m") for lab, s, b in items])


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ((), None),
        ((("FEMALE_BREAST_EXPOSED", 0.05, (100, 100, 140, 140)),), None),  # below min_score
        ((("FACE_FEMALE", 0.9, (100, 100, 140, 140)),), None),  # not a blocking label
        ((("FEMALE_BREAST_EXPOSED", 0.3, (500, 300, 600, 400)),), (400.0, 200.0, 700.0, 500.0)),  # x3
        ((("ANUS_EXPOSED", 0.3, (600, 340, 610, 350)),), (515.0, 255.0, 695.0, 435.0)),  # min side 180
        ((("ANUS_EXPOSED", 0.3, (0, 0, 60, 60)),), (0.0, 0.0, 180.0, 180.0)),  # clamped into the frame
        (
            (("ANUS_EXPOSED", 0.3, (500, 300, 540, 340)), ("FEMALE_BREAST_EXPOSED", 0.2, (560, 300, 600, 340))),
            (400.0, 230.0, 700.0, 410.0),  # union 100x40, x3 -> 300x120, height raised to 180
        ),
        ((("FEMALE_BREAST_EXPOSED", 0.3, (100, 50, 1200, 700)),), None),  # ~whole frame: pointless
    ],
    ids=["none", "weak", "other-label", "grown", "min-side", "clamped", "union", "whole-frame"],
)
def test_focus_of(items: tuple, expected: tuple[float, ...] | None) -> None:  # type: ignore[type-arg]
    box = focus_of(found(*items), RULE, width=W, height=H)
    if expected is None or box is None:
        assert box == expected
    else:
        assert box == pytest.approx(expected)


def test_grown_keeps_the_crop_inside_the_frame() -> None:
    box = grown((1200, 650, 1280, 720), RULE, width=W, height=H)
    assert box is not None
    x1, y1, x2, y2 = box
    assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H
    assert x2 - x1 == pytest.approx(240) and y2 - y1 == pytest.approx(210)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((10.4, 20.6, 100.2, 200.9), (10, 20, 101, 201)),
        ((-5, -5, 2000, 2000), (0, 0, W, H)),
        ((1279.5, 719.5, 1279.6, 719.6), (1279, 719, 1280, 720)),  # at least one pixel
    ],
    ids=["rounded-out", "clamped", "one-pixel"],
)
def test_pixel_window(box: tuple[float, float, float, float], expected: tuple[int, int, int, int]) -> None:
    assert pixel_window(box, width=W, height=H) == expected


def test_shifted_moves_boxes_only() -> None:
    d = found(("ANUS_EXPOSED", 0.3, (1, 2, 3, 4)))
    moved = shifted(d, 10, 20)
    assert moved.xyxy.tolist() == [[11, 22, 13, 24]]
    assert np.array_equal(moved.scores, d.scores) and list(moved.labels) == ["ANUS_EXPOSED"]


def test_picture_box_is_the_strongest_located_outer_box_or_none() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 5, 50, 40], [1, 1, 2, 2]], np.float32)
    found = Detections.from_arrays(boxes, [0.2, 0.7, 0.9], [PICTURE_OUTER, PICTURE_OUTER, "FACE_FEMALE"], model="m")
    assert picture_box(found) == (5.0, 5.0, 50.0, 40.0)  # the FACE box is stronger but not a picture
    assert picture_box(Detections.empty()) is None


def test_a_windows_area_is_its_pixels() -> None:
    assert window_area((10, 20, 30, 60)) == 800
    assert window_area(pixel_window((-5.0, -5.0, 3.2, 2.0), width=W, height=H)) == 8
    assert window_area((5, 5, 5, 9)) == 0

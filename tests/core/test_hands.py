"""The hand pass's numpy side: palm anchors and decoding, the landmark crop, what is painted out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from captureguard.core.hands import (
    HANDS_EXPLAINED,
    HANDS_TIMING,
    LANDMARK_INPUT,
    PALM_INPUT,
    Hand,
    HandRule,
    Palm,
    Roi,
    covered,
    decode_palms,
    explained,
    hand_roi,
    landmarks_to_frame,
    paint_polygons,
    palm_anchors,
    pictures_kept,
    unmasked,
)
from captureguard.core.policy import Profile
from captureguard.core.verdict import Decision, Reason, Verdict
from captureguard.errors import ConfigError

PROFILE = Profile("t", block_score=0.5, warn_score=0.3)


def test_the_anchors_are_mediapipes_2016_cell_centres() -> None:
    a = palm_anchors()
    assert a.shape == (2016, 2)
    # 24 x 24 cells x 2 anchors (stride 8), then 12 x 12 cells x 6 (three stride-16 layers)
    assert a[0].tolist() == a[1].tolist() == pytest.approx([0.5 / 24, 0.5 / 24])
    assert a[1152].tolist() == a[1157].tolist() == pytest.approx([0.5 / 12, 0.5 / 12])
    assert a[1151].tolist() == pytest.approx([23.5 / 24, 23.5 / 24])
    assert ((a > 0) & (a < 1)).all()


def raw(anchors: np.ndarray, at: dict[int, tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Palm detector outputs: for each anchor in ``at`` a logit and a (dx, dy) offset, size 40 x 30,
    keypoint k at (k, -k) from the anchor; every other anchor a logit of -10."""
    boxes = np.zeros((len(anchors), 18), np.float32)
    scores = np.full(len(anchors), -10.0, np.float32)
    for i, (logit, dx) in at.items():
        scores[i] = logit
        boxes[i, :4] = [dx, 0.0, 40.0, 30.0]
        boxes[i, 4:] = np.array([[k, -k] for k in range(7)], np.float32).reshape(-1)
    return boxes, scores


def test_a_palm_is_decoded_into_frame_pixels() -> None:
    anchors = palm_anchors()
    boxes, scores = raw(anchors, {300: (3.0, 0.0)})
    # the frame was scaled by 0.5 and placed 10 px from the left of the input
    (palm,) = decode_palms(boxes, scores, anchors, threshold=0.5, to_frame=(0.5, 10.0, 0.0))
    ax, ay = anchors[300] * PALM_INPUT
    assert palm.score == pytest.approx(1 / (1 + math.exp(-3.0)))
    assert palm.box == pytest.approx(((ax - 10) / 0.5, ay / 0.5, 80.0, 60.0))
    assert palm.keypoints[2].tolist() == pytest.approx([(ax + 2 - 10) / 0.5, (ay - 2) / 0.5])


def test_overlapping_palms_are_one_weighted_by_score_and_weak_ones_are_dropped() -> None:
    anchors = palm_anchors()
    boxes, scores = raw(anchors, {300: (2.0, 0.0), 301: (2.0, 4.0), 900: (-1.0, 0.0)})  # 301: same cell
    (palm,) = decode_palms(boxes, scores, anchors, threshold=0.5, to_frame=(1.0, 0.0, 0.0))
    assert palm.box[0] == pytest.approx(anchors[300][0] * PALM_INPUT + 2.0)  # the mean of 0 and +4
    assert decode_palms(boxes, scores, anchors, threshold=0.95, to_frame=(1.0, 0.0, 0.0)) == []


def test_bad_palm_outputs_are_refused() -> None:
    anchors = palm_anchors()
    boxes, scores = raw(anchors, {300: (3.0, 0.0)})
    with pytest.raises(ValueError, match="shapes"):
        decode_palms(boxes[:10], scores, anchors, threshold=0.5, to_frame=(1.0, 0.0, 0.0))
    boxes[5, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        decode_palms(boxes, scores, anchors, threshold=0.5, to_frame=(1.0, 0.0, 0.0))


def palm(wrist: tuple[float, float], middle: tuple[float, float], box: tuple[float, float, float, float]) -> Palm:
    kp = np.zeros((7, 2))
    kp[0], kp[2] = wrist, middle
    return Palm(0.9, box, kp)


def test_the_landmark_region_is_upright_towards_the_fingers() -> None:
    up = hand_roi(palm((100, 200), (100, 100), (100, 150, 50, 40)))  # fingers up: no rotation
    assert up.rotation == pytest.approx(0.0)
    assert (up.cx, up.cy, up.side) == pytest.approx((100, 130, 130))  # half the box's height up; 2.6 x 50
    right = hand_roi(palm((100, 100), (200, 100), (150, 100, 40, 40)))  # fingers to the right
    assert right.rotation == pytest.approx(math.pi / 2)
    assert (right.cx, right.cy) == pytest.approx((170, 100))  # shifted towards the fingers


@pytest.mark.parametrize("rotation", [0.0, 0.7, -2.0, math.pi / 2])
def test_landmarks_come_back_through_the_same_square(rotation: float) -> None:
    roi = Roi(300.0, 200.0, 150.0, rotation)
    corners = roi.corners()
    model = np.zeros((21, 3))
    model[0, :2] = (0, 0)
    model[1, :2] = (LANDMARK_INPUT, 0)
    model[2, :2] = (LANDMARK_INPUT, LANDMARK_INPUT)
    model[3, :2] = (LANDMARK_INPUT / 2, LANDMARK_INPUT / 2)
    pts = landmarks_to_frame(model.reshape(-1), roi)
    assert pts[:3] == pytest.approx(corners[:3])
    assert pts[3] == pytest.approx([300.0, 200.0])


def hand(size: float = 50.0) -> Hand:
    """A hand pointing up: wrist at (100, 200), middle-finger joint ``size`` above, palm 40 wide."""
    pts = np.zeros((21, 2))
    pts[:] = (100, 200 - size)
    pts[0] = (100, 200)
    pts[5] = (80, 200 - size)
    pts[17] = (120, 200 - size)
    pts[12] = (100, 200 - 2 * size)
    return Hand(0.9, pts)


def test_the_painted_area_is_the_hand_and_a_strip_down_its_forearm() -> None:
    h = hand()
    assert h.size == pytest.approx(50.0) and h.box() == (80.0, 100.0, 120.0, 200.0)
    (only,) = paint_polygons(h, forearm=0)
    assert only.shape == (21, 2)
    _, strip = paint_polygons(h, forearm=2.0)
    assert strip[:, 1].max() == pytest.approx(300.0)  # two hand sizes below the wrist, away from the fingers
    assert strip[:, 1].min() == pytest.approx(190.0)  # from a little above the wrist
    assert np.ptp(strip[:, 0]) == pytest.approx(1.5 * 40.0)  # widest at the elbow end: 1.5 x the palm


def test_the_rule_checks_its_values() -> None:
    assert HandRule.from_mapping({"forearm": 2.0, "note": "x"}).forearm == 2.0
    for bad in (
        {"palm_score": 0},
        {"hand_score": 1.5},
        {"max_hands": 0},
        {"max_hands": 2.5},
        {"forearm": -1},
        {"grow": 2},
        {"clear_below": 1.5},
        {"palm_score": "0.5"},
        {"picture_is_hand": 0},
        {"picture_is_hand": 1.2},
    ):
        with pytest.raises(ConfigError):
            HandRule.from_mapping(bad)
    with pytest.raises(ConfigError, match="unknown keys"):
        HandRule.from_mapping({"forarm": 2.0})


def verdict(decision: Decision, score: float, *, failed: bool = False) -> Verdict:
    reasons = (Reason("error" if failed else "IMAGE_NSFW", score),)
    return Verdict(decision, score, reasons, "t", {"total": 10.0})


def test_only_a_clearly_allowed_painted_frame_explains_the_flag() -> None:
    rule = HandRule(clear_below=0.33)  # under 0.099 with the warn score at 0.3
    assert rule.explains(verdict(Decision.ALLOW, 0.05), PROFILE)
    assert not rule.explains(verdict(Decision.ALLOW, 0.2), PROFILE)  # allowed, but not clearly
    assert not rule.explains(verdict(Decision.WARN, 0.05), PROFILE)
    assert not rule.explains(verdict(Decision.ALLOW, 0.05, failed=True), PROFILE)


def test_the_pass_runs_only_when_it_fits_the_deadline() -> None:
    assert HandRule.fits(300.0, None, 50.0)  # no deadline
    assert HandRule.fits(200.0, 500.0, 50.0)  # 2 x 200 + 50 <= 475
    assert not HandRule.fits(220.0, 500.0, 50.0)


def test_an_explained_frame_is_allowed_and_says_why() -> None:
    flagged, painted = verdict(Decision.BLOCK, 0.7), verdict(Decision.ALLOW, 0.01)
    out = explained(flagged, painted, 2, 0.2, PROFILE)
    assert out.decision is Decision.ALLOW and out.score == 0.01
    assert out.reasons[0].code == HANDS_EXPLAINED and "2 hands" in out.reasons[0].detail
    assert "0.01 (was 0.70)" in out.reasons[0].detail and "picture" not in out.reasons[0].detail
    assert out.timings_ms["total"] == 10.0 and out.timings_ms[f"{HANDS_TIMING}:total"] == 10.0
    taken = explained(flagged, painted, 1, 0.2, PROFILE, pictures=1).reasons[0].detail
    assert "1 hand in view" in taken and taken.endswith("; 1 located picture was the hand itself")


def test_a_located_picture_the_paint_covers_is_the_hand_itself() -> None:
    mask = np.zeros((100, 200), np.uint8)
    mask[20:60, 20:60] = 255  # a hand's paint: 40 x 40 px
    assert covered(mask, np.array([20.0, 20.0, 60.0, 60.0])) == 1.0
    assert covered(mask, np.array([20.0, 20.0, 100.0, 60.0])) == 0.5
    assert covered(mask, np.array([-50.0, 20.5, 60.0, 59.5])) == pytest.approx(40 / 60)  # clipped, whole pixels
    assert covered(mask, np.array([300.0, 0.0, 400.0, 50.0])) == 0.0  # outside the frame
    pictures = np.array([[15.0, 15.0, 65.0, 65.0], [0.0, 0.0, 200.0, 100.0], [20.0, 20.0, 100.0, 60.0]])
    # 64% of the first lies under the paint: the locator fired on the hand; the others are pictures
    assert pictures_kept(mask, pictures, HandRule()).tolist() == pictures[1:].tolist()
    assert pictures_kept(mask, pictures, HandRule(picture_is_hand=0.5)).tolist() == [pictures[1].tolist()]
    assert pictures_kept(mask, pictures, HandRule(picture_is_hand=1.0)).tolist() == pictures.tolist()
    assert pictures_kept(mask, np.zeros((0, 4)), HandRule()).shape == (0, 4)
    cleared = unmasked(mask, pictures[2:])
    assert not cleared[:, 20:100].any() and mask[20:60, 20:60].all()  # a copy: the mask is unchanged
    assert (unmasked(mask, np.zeros((0, 4))) == mask).all()

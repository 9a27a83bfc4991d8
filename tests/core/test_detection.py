"""Detections (the one result type) and Frame freezing."""

from __future__ import annotations

import numpy as np
import pytest

from captureguard.core import detection, fusion, policy
from captureguard.core.detection import IMAGE_NSFW, Detection, Detections
from captureguard.core.frame import Frame
from captureguard.errors import BadInputError


def sample() -> Detections:
    return Detections.from_arrays(
        np.array([[0, 0, 10, 10], [5, 5, 25, 15], [1, 2, 3, 4]], np.float64),
        np.array([0.9, 0.4, 0.7]),
        ["FACE_FEMALE", "FEMALE_BREAST_EXPOSED", "FEMALE_BREAST_EXPOSED"],
        model="nudenet",
    )


def test_from_arrays_normalises_dtypes() -> None:
    d = sample()
    assert len(d) == 3
    assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (3, 4)
    assert d.scores.dtype == np.float32
    assert d.labels.dtype == object and d.models.tolist() == ["nudenet"] * 3


@pytest.mark.parametrize(
    ("xyxy", "scores", "labels", "models"),
    [
        pytest.param(np.zeros((2, 4)), np.zeros(3), ["A"] * 3, ["m"] * 3, id="boxes-short"),
        pytest.param(np.zeros((3, 5)), np.zeros(3), ["A"] * 3, ["m"] * 3, id="boxes-not-xyxy"),
        pytest.param(np.zeros((3, 4)), np.zeros(3), ["A"] * 2, ["m"] * 3, id="labels-short"),
        pytest.param(np.zeros((3, 4)), np.zeros(3), ["A"] * 3, ["m"], id="models-short"),
    ],
)
def test_construction_rejects_mismatched_arrays(
    xyxy: np.ndarray, scores: np.ndarray, labels: list[str], models: list[str]
) -> None:
    with pytest.raises(ValueError, match="disagree"):
        Detections(xyxy, scores, np.array(labels, object), np.array(models, object))


def test_empty_and_concat() -> None:
    assert len(Detections.empty()) == 0
    assert len(Detections.concat([])) == 0
    whole = Detections.whole_image(0.3, height=20, width=30, model="open_nsfw")
    joined = Detections.concat([sample(), Detections.empty(), whole])
    assert len(joined) == 4
    assert joined.labels.tolist()[-1] == IMAGE_NSFW
    assert joined.models.tolist() == ["nudenet"] * 3 + ["open_nsfw"]
    np.testing.assert_allclose(joined.xyxy[-1], [0, 0, 30, 20])


@pytest.mark.parametrize(
    ("mask", "expected_scores"),
    [
        pytest.param(np.array([True, False, True]), [0.9, 0.7], id="bool-mask"),
        pytest.param(np.array([2, 0]), [0.7, 0.9], id="index-array"),
        pytest.param(np.zeros(3, bool), [], id="none"),
    ],
)
def test_select(mask: np.ndarray, expected_scores: list[float]) -> None:
    np.testing.assert_allclose(sample().select(mask).scores, expected_scores, rtol=1e-6)


@pytest.mark.parametrize(
    ("labels", "count"),
    [
        pytest.param(("FEMALE_BREAST_EXPOSED",), 2, id="one-label"),
        pytest.param(("FACE_FEMALE", "FEMALE_BREAST_EXPOSED"), 3, id="two-labels"),
        pytest.param(("ANUS_EXPOSED",), 0, id="absent"),
    ],
)
def test_with_label(labels: tuple[str, ...], count: int) -> None:
    found = sample().with_label(*labels)
    assert len(found) == count
    assert set(found.labels.tolist()) <= set(labels)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        pytest.param("FEMALE_BREAST_EXPOSED", 0.7, id="max-of-two"),
        pytest.param("FACE_FEMALE", 0.9, id="single"),
        pytest.param("ANUS_EXPOSED", 0.0, id="absent-is-zero"),
    ],
)
def test_max_score(label: str, expected: float) -> None:
    assert sample().max_score(label) == pytest.approx(expected)


def test_iteration_and_records() -> None:
    first = next(iter(sample()))
    assert isinstance(first, Detection)
    assert (first.label, first.xyxy, first.model) == ("FACE_FEMALE", (0.0, 0.0, 10.0, 10.0), "nudenet")
    assert first.score == pytest.approx(0.9)
    records = sample().to_records()
    assert records[1] == {
        "label": "FEMALE_BREAST_EXPOSED",
        "score": 0.4,
        "box": [5.0, 5.0, 25.0, 15.0],
        "model": "nudenet",
    }
    assert all(isinstance(v, float) for r in records for v in r["box"])  # type: ignore[attr-defined]


def test_whole_image() -> None:
    d = Detections.whole_image(0.25, height=480, width=640, model="open_nsfw")
    assert len(d) == 1 and d.labels[0] == IMAGE_NSFW and d.max_score(IMAGE_NSFW) == pytest.approx(0.25)
    np.testing.assert_array_equal(d.xyxy, [[0, 0, 640, 480]])
    np.testing.assert_allclose(d.areas(), [640 * 480])


def test_frame_from_bgr_copies_and_freezes() -> None:
    pixels = np.zeros((4, 5, 3), np.uint8)
    frame = Frame.from_bgr(pixels, index=3, source="test")
    pixels[0, 0] = 255
    assert frame.bgr[0, 0].tolist() == [0, 0, 0], "the frame must not share the caller's buffer"
    assert not frame.bgr.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        frame.bgr[0, 0] = 1
    assert (frame.height, frame.width, frame.index) == (4, 5, 3)


def test_frame_from_rgb_swaps_channels() -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 200  # red
    assert Frame.from_rgb(rgb).bgr[0, 0].tolist() == [0, 0, 200]


def test_frame_from_bgr_makes_views_contiguous() -> None:
    base = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    frame = Frame.from_bgr(base[:, ::2])
    assert frame.bgr.flags.c_contiguous
    np.testing.assert_array_equal(frame.bgr, base[:, ::2])


@pytest.mark.parametrize(
    "pixels",
    [
        pytest.param(np.zeros((4, 5), np.uint8), id="grayscale"),
        pytest.param(np.zeros((4, 5, 4), np.uint8), id="bgra"),
        pytest.param(np.zeros((4, 5, 3), np.uint16), id="16-bit"),
        pytest.param(np.zeros((4, 5, 3), np.float32), id="float"),
        pytest.param(np.zeros((0, 5, 3), np.uint8), id="empty"),
        pytest.param([[[0, 0, 0]]], id="not-an-array"),
    ],
)
def test_frame_rejects_bad_pixels(pixels: object) -> None:
    with pytest.raises(BadInputError, match="expected"):
        Frame.from_bgr(pixels)  # type: ignore[arg-type]


def test_frame_rejects_writeable_pixels() -> None:
    with pytest.raises(BadInputError, match="frozen"):
        Frame(np.zeros((2, 2, 3), np.uint8))


@pytest.mark.parametrize(
    "group", ["EXPOSED_INTIMATE", "EXPOSED_SKIN", "DEFAULT_BLOCK_CLASSES", "UNDERWEAR_CLASSES", "BARE_SKIN_CLASSES"]
)
def test_label_groups_are_defined_once_from_the_vocabulary(group: str) -> None:
    labels = getattr(detection, group)
    assert labels and set(labels) <= set(detection.BODY_PART_LABELS)
    for user in (fusion, policy):  # users import the group; none defines its own copy
        assert getattr(user, group, labels) is labels

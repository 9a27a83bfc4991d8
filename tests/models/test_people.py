"""The person detector (YOLO11n-pose ONNX) and person crops re-scored by open_nsfw.

Parity: ``tests/fixtures/person_parity.json`` holds what ``ultralytics`` itself returns for the
bundled stills (recorded once by ``tools/record_person_parity.py``); our onnxruntime path must
find the same people with the same scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from captureguard.core.detection import PERSON, PERSON_NSFW, pairwise_iou
from captureguard.core.frame import Frame
from captureguard.errors import ConfigError, DetectionError
from captureguard.models.open_nsfw import open_nsfw_detector
from captureguard.models.people import (
    PersonCropDetector,
    PersonDetector,
    PersonSettings,
    centred_letterbox,
    decode_people,
    person_crops,
    person_model_path,
)
from captureguard.models.runtime import OnnxModel
from tests.conftest import read_frame

FIXTURE = Path(__file__).parent / "fixtures" / "person_parity.json"
DEMO = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data" / "demo"
#: Measured: max |score difference| 0.001 and lowest IoU 0.998 over the 13 people of the
#: bundled stills (same letterbox, same graph; float summation order differs from torch).
SCORE_TOL = 0.01
MIN_IOU = 0.98


@pytest.fixture(scope="module")
def people() -> PersonDetector:
    return PersonDetector(OnnxModel(person_model_path()))


@pytest.mark.models
@pytest.mark.parametrize("name", sorted(json.loads(FIXTURE.read_text())["stills"]))
def test_matches_ultralytics(people: PersonDetector, name: str) -> None:
    ref = json.loads(FIXTURE.read_text())["stills"][name]
    found = people.detect(read_frame(DEMO / name))
    ref_boxes = np.array(ref["boxes"], np.float32).reshape(-1, 4)
    assert len(found) == len(ref_boxes)
    if len(found):
        iou = pairwise_iou(ref_boxes, found.xyxy)
        match = iou.argmax(axis=1)
        assert iou.max(axis=1).min() >= MIN_IOU
        assert np.abs(found.scores[match] - np.array(ref["scores"])).max() <= SCORE_TOL
    assert set(found.labels) <= {PERSON}


@pytest.mark.models
def test_crops_rescored_by_open_nsfw(people: PersonDetector) -> None:
    frame = read_frame(DEMO / "iamtoxico_charlie-parker_gottlieb.jpg")
    found = PersonCropDetector(people, open_nsfw_detector().model).detect(frame)
    crops = found.with_label(PERSON_NSFW)
    assert len(found.with_label(PERSON)) == 2 and len(crops) == 2
    assert ((crops.scores >= 0) & (crops.scores <= 1)).all()
    sides = crops.xyxy[:, 2:] - crops.xyxy[:, :2]
    assert np.allclose(sides[:, 0], sides[:, 1], atol=1)  # square


@pytest.mark.parametrize(
    ("box", "hw", "expected"),
    [
        pytest.param((100, 100, 140, 200), (1000, 1000), (60, 90, 180, 210), id="grown-1.2-square"),
        pytest.param((10, 10, 30, 30), (1000, 1000), (0, 0, 96, 96), id="min-side-96-shifted-inside"),
        pytest.param((0, 0, 900, 300), (400, 1000), (250, 0, 650, 400), id="capped-at-short-side"),
        pytest.param((950, 950, 1000, 1000), (1000, 1000), (904, 904, 1000, 1000), id="shifted-in-from-corner"),
    ],
)
def test_person_crops_geometry(box: tuple[int, ...], hw: tuple[int, int], expected: tuple[int, ...]) -> None:
    assert person_crops(np.array([box], np.float32), hw) == [expected]


def test_person_crops_at_most_max() -> None:
    boxes = np.tile(np.array([[0, 0, 50, 50]], np.float32), (9, 1))
    assert len(person_crops(boxes, (500, 500), max_crops=6)) == 6


def test_centred_letterbox_pads_grey_to_stride() -> None:
    canvas, scale, (left, top) = centred_letterbox(np.zeros((100, 200, 3), np.uint8), 640)
    assert canvas.shape == (320, 640, 3) and scale == 3.2 and (left, top) == (0, 0)
    canvas, _, (left, top) = centred_letterbox(np.zeros((85, 200, 3), np.uint8), 640)
    # 85 * 3.2 = 272 rows, padded to 288 (9 * 32): 8 grey rows above and below
    assert canvas.shape == (288, 640, 3) and (left, top) == (0, 8)
    assert canvas[:8].min() == 114 and canvas[-8:].min() == 114 and canvas[8:-8].max() == 0


def test_non_finite_scores_fail() -> None:
    raw = np.zeros((56, 3), np.float32)
    raw[4] = [0.9, np.nan, 0.1]
    with pytest.raises(DetectionError):
        decode_people(raw, scale=1.0, frame_hw=(10, 10), settings=PersonSettings())


def test_decode_keeps_confident_people_after_nms() -> None:
    raw = np.zeros((56, 3), np.float32)
    raw[:5, 0] = [50, 50, 20, 40, 0.9]
    raw[:5, 1] = [51, 50, 20, 40, 0.8]  # same person: suppressed
    raw[:5, 2] = [10, 10, 4, 4, 0.1]  # below threshold
    xyxy, scores = decode_people(raw, scale=0.5, frame_hw=(400, 400), settings=PersonSettings())
    assert scores.tolist() == pytest.approx([0.9]) and xyxy[0].tolist() == pytest.approx([80, 60, 120, 140])


@pytest.mark.parametrize("kwargs", [{"input_size": 100}, {"score_threshold": 0.0}, {"iou_threshold": 1.5}])
def test_settings_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        PersonSettings(**kwargs)  # type: ignore[arg-type]


def test_frame_api() -> None:
    assert Frame.from_bgr(np.zeros((4, 4, 3), np.uint8)).height == 4

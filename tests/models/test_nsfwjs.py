"""nsfwjs InceptionV3 converted to ONNX, against nsfwjs' own TF.js outputs.

``tests/fixtures/nsfwjs_parity.json`` holds the TF.js probabilities of the bundled stills fed the
same 299x299 pixels (recorded once by ``tools/nsfwjs/record_parity.py``). The model file is
built by ``make nsfwjs-model`` (part of ``make install`` and ``make test``) into the model cache.
The photo path reads a probe on its embedding since v2.8 (``NSFWJS_PROBE``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from captureguard.core.detection import IMAGE_CLASS_LABELS, IMAGE_NSFW, NSFWJS_PROBE
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.probe import LinearProbe
from captureguard.errors import ConfigError, DetectionError, ModelMissingError
from captureguard.models.base import build_detector, load_detector_configs
from captureguard.models.nsfwjs import (
    NSFWJS_CLASSES,
    NSFWJS_EMBEDDING,
    NSFWJS_NUDE,
    NsfwjsDetector,
    nsfwjs_detector,
    nsfwjs_input,
)
from tests.conftest import read_frame

FIXTURE = Path(__file__).parent / "fixtures" / "nsfwjs_parity.json"
DEMO = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data" / "demo"
#: Measured max |difference| per class probability: see the fixture test's message; TF.js and
#: onnxruntime run the same dequantised weights in float32 (differences are summation order).
TOL = 1e-3
#: the photo path's probe on the embedding (v2.8)
SHIPPED_PROBE = "probe_nsfwjs_photo.json"


@pytest.fixture(scope="module")
def detector() -> NsfwjsDetector:
    try:
        return nsfwjs_detector()
    except ModelMissingError as exc:  # built by make nsfwjs-model (make test builds it)
        pytest.skip(f"{exc}")


@pytest.mark.models
@pytest.mark.parametrize("name", sorted(json.loads(FIXTURE.read_text())["stills"]))
def test_matches_tfjs(detector: NsfwjsDetector, name: str) -> None:
    data = json.loads(FIXTURE.read_text())
    assert tuple(data["classes"]) == NSFWJS_CLASSES
    frame = read_frame(DEMO / name)
    probs = detector.probabilities(frame.bgr)
    ref = np.array(data["stills"][name])
    assert np.abs(probs - ref).max() <= TOL
    found = detector.detect(frame)
    assert list(found.labels) == [IMAGE_NSFW, *IMAGE_CLASS_LABELS]
    assert found.scores[0] == pytest.approx(ref[list(NSFWJS_NUDE)].sum(), abs=2 * TOL)
    assert found.scores[1:] == pytest.approx(ref[[0, 2, 4]], abs=TOL)  # drawing, neutral, sexy


def test_input_is_299_rgb_unit_range() -> None:
    bgr = np.zeros((10, 20, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    x = nsfwjs_input(bgr)
    assert x.shape == (1, 299, 299, 3) and x.dtype == np.float32
    assert x[0, ..., 2].min() == 1.0 and x[0, ..., 0].max() == 0.0  # blue lands in the last (B of RGB) channel


def test_missing_model_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPTUREGUARD_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelMissingError, match="make nsfwjs-model"):
        nsfwjs_detector()


class _FakeModel:
    """Stands in for the nsfwjs session: fixed class probabilities and a fixed embedding."""

    def __init__(self, emb: np.ndarray) -> None:
        self.emb = emb

    def run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        assert batch.shape == (1, 299, 299, 3)
        return [np.array([[0.1, 0.2, 0.3, 0.25, 0.15]], np.float32), self.emb[None].astype(np.float32)]


def _frame() -> Frame:
    return Frame.from_bgr(np.full((40, 60, 3), 90, np.uint8))


def test_probe_reads_the_embedding_of_the_same_pass() -> None:
    emb = np.zeros(NSFWJS_EMBEDDING, np.float32)
    emb[7] = 2.0
    weights = np.zeros(NSFWJS_EMBEDDING)
    weights[7] = 0.5
    probe = LinearProbe(weights, -0.25, "test-probe")
    found = NsfwjsDetector(_FakeModel(emb), probe=probe).detect(_frame())  # type: ignore[arg-type]
    assert list(found.labels) == [IMAGE_NSFW, *IMAGE_CLASS_LABELS, NSFWJS_PROBE]
    assert found.scores[-1] == pytest.approx(1 / (1 + np.exp(-(2.0 * 0.5 - 0.25))))
    assert tuple(found.xyxy[-1]) == (0.0, 0.0, 60.0, 40.0)  # the whole image
    plain = NsfwjsDetector(_FakeModel(emb)).detect(_frame())  # type: ignore[arg-type]
    assert list(plain.labels) == [IMAGE_NSFW, *IMAGE_CLASS_LABELS]  # no probe: no NSFWJS_PROBE
    assert plain.scores == pytest.approx(found.scores[:-1])


def test_probe_of_another_size_or_a_missing_embedding_is_refused() -> None:
    emb = np.zeros(NSFWJS_EMBEDDING, np.float32)
    with pytest.raises(ConfigError, match="2048"):
        NsfwjsDetector(_FakeModel(emb), probe=LinearProbe(np.ones(1024), 0.0, "open_nsfw-sized"))  # type: ignore[arg-type]
    short = NsfwjsDetector(_FakeModel(np.zeros(16, np.float32)), probe=LinearProbe(np.ones(2048), 0.0))  # type: ignore[arg-type]
    with pytest.raises(DetectionError, match="embedding"):
        short.detect(_frame())


def test_detector_config_takes_only_a_probe() -> None:
    with pytest.raises(ConfigError, match="only a probe"):
        build_detector({"type": "nsfwjs", "input_size": 299})


def test_shipped_probe_is_the_one_the_photo_head_names() -> None:
    probe = LinearProbe.named(SHIPPED_PROBE)
    assert probe.size == NSFWJS_EMBEDDING
    assert FusionModel.load(mode="photo").extra["probes"][NSFWJS_PROBE] == probe.version
    photo = load_detector_configs()["photo"]
    assert {"type": "nsfwjs", "probe": SHIPPED_PROBE} in photo


@pytest.mark.models
def test_shipped_probe_on_the_real_model(detector: NsfwjsDetector) -> None:
    """The detector built as the photo path builds it reports the probe on its own embedding."""
    probe = LinearProbe.named(SHIPPED_PROBE)
    frame = read_frame(DEMO / sorted(json.loads(FIXTURE.read_text())["stills"])[0])
    found = dataclasses.replace(detector, probe=probe).detect(frame)
    _, emb = detector.outputs(frame.bgr)
    assert found.labels[-1] == NSFWJS_PROBE
    assert found.scores[-1] == pytest.approx(probe.probability(emb), abs=1e-6)

"""nsfwjs InceptionV3 converted to ONNX, against nsfwjs' own TF.js outputs.

``tests/fixtures/nsfwjs_parity.json`` holds the TF.js probabilities of the bundled stills fed the
same 299x299 pixels (recorded once by ``tools/nsfwjs/record_parity.py``). The model file is
built by ``make nsfwjs-model`` (part of ``make install`` and ``make test``) into the model cache.
The photo path reads a probe on its embedding since v2.8 (``NSFWJS_PROBE``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from captureguard.core.detection import (
    IMAGE_CLASS_LABELS,
    IMAGE_NSFW,
    NSFWJS_PICTURE,
    NSFWJS_PROBE,
    PICTURE_OUTER,
    Detections,
)
from captureguard.core.frame import Frame
from captureguard.core.probe import LinearProbe
from captureguard.errors import ConfigError, DetectionError, ModelMissingError
from captureguard.models.base import build_detector, runs_after
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


def test_detector_config_takes_only_a_probe_and_a_crop() -> None:
    with pytest.raises(ConfigError, match="only probe and crop"):
        build_detector({"type": "nsfwjs", "input_size": 299})


class _MeanModel(_FakeModel):
    """Records the mean input value of every pass (a white crop of a black frame reads 1.0)."""

    def __init__(self, emb: np.ndarray) -> None:
        super().__init__(emb)
        self.means: list[float] = []

    def run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        self.means.append(float(batch.mean()))
        return super().run_all(batch)


def test_picture_crop_reads_the_located_outer_box_and_reports_only_its_probe() -> None:
    bgr = np.zeros((40, 60, 3), np.uint8)
    bgr[10:30, 20:50] = 255  # the located picture
    frame = Frame.from_bgr(bgr)
    emb = np.zeros(NSFWJS_EMBEDDING, np.float32)
    emb[3] = 1.0
    weights = np.zeros(NSFWJS_EMBEDDING)
    weights[3] = 2.0
    model = _MeanModel(emb)
    det = NsfwjsDetector(model, probe=LinearProbe(weights, 0.0, "pic"), crop="picture")  # type: ignore[arg-type]
    assert det.after and runs_after(det)  # type: ignore[arg-type]
    box = Detections.from_arrays(np.array([[20, 10, 50, 30]], np.float32), [0.3], [PICTURE_OUTER], model="loc")
    found = det.detect_after(
        frame, Detections.concat([Detections.whole_image(0.1, height=40, width=60, model="x"), box])
    )
    assert list(found.labels) == [NSFWJS_PICTURE]  # no IMAGE_NSFW of a crop in the global score
    assert found.scores[0] == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert tuple(found.xyxy[0]) == (0.0, 0.0, 60.0, 40.0)  # reported on the whole frame, like the probes
    assert model.means[-1] == pytest.approx(1.0, abs=0.01)  # it read the white crop
    det.detect_after(frame, Detections.empty())  # no picture: the whole frame
    det.detect(frame)  # alone: the same
    assert model.means[-1] == model.means[-2] == pytest.approx(600 / 2400, abs=0.01)
    # a box partly outside the frame is clipped to it
    off = Detections.from_arrays(np.array([[20, 10, 90, 30]], np.float32), [0.3], [PICTURE_OUTER], model="loc")
    det.detect_after(frame, off)
    assert model.means[-1] == pytest.approx(30 * 20 / (40 * 20), abs=0.01)


def test_a_crop_needs_a_probe_and_a_known_crop() -> None:
    emb = np.zeros(NSFWJS_EMBEDDING, np.float32)
    with pytest.raises(ConfigError, match="probe"):
        NsfwjsDetector(_FakeModel(emb), crop="picture")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="crop must be"):
        NsfwjsDetector(_FakeModel(emb), probe=LinearProbe(np.ones(2048), 0.0), crop="person")  # type: ignore[arg-type]
    plain = NsfwjsDetector(_FakeModel(emb))  # type: ignore[arg-type]
    assert not plain.after and not runs_after(plain)  # type: ignore[arg-type]


@pytest.mark.models
def test_the_photo_and_picture_detectors_share_one_session() -> None:
    """Two nsfwjs detectors (the photo set's on the whole image, one on the located picture in the
    live set that a photo check also runs) read the same 89 MB model: one session per process
    (per thread count), loaded once."""
    whole = nsfwjs_detector(probe=SHIPPED_PROBE)
    picture = nsfwjs_detector(probe=LinearProbe(np.zeros(NSFWJS_EMBEDDING), 0.0, "pic"), crop="picture")
    assert whole.model is picture.model
    assert nsfwjs_detector(threads=1).model is not whole.model

"""nsfwjs InceptionV3 converted to ONNX, against nsfwjs' own TF.js outputs.

``tests/fixtures/nsfwjs_parity.json`` holds the TF.js probabilities of the bundled stills fed the
same 299x299 pixels (recorded once by ``tools/nsfwjs/record_parity.py``). The model file is
built by ``make nsfwjs-model`` (part of ``make install``) into the model cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from captureguard.core.detection import IMAGE_CLASS_LABELS, IMAGE_NSFW
from captureguard.errors import ModelMissingError
from captureguard.models.nsfwjs import NSFWJS_CLASSES, NSFWJS_NUDE, NsfwjsDetector, nsfwjs_detector, nsfwjs_input
from tests.conftest import read_frame

FIXTURE = Path(__file__).parent / "fixtures" / "nsfwjs_parity.json"
DEMO = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data" / "demo"
#: Measured max |difference| per class probability: see the fixture test's message; TF.js and
#: onnxruntime run the same dequantised weights in float32 (differences are summation order).
TOL = 1e-3


@pytest.fixture(scope="module")
def detector() -> NsfwjsDetector:
    try:
        return nsfwjs_detector()
    except ModelMissingError as exc:  # optional model, not in the shipped defaults
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

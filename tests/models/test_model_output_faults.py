"""A broken model fails closed: NaN, inf, out-of-range or wrong-shape output blocks (reason ``error``).

NaN compares false with every threshold, so before this guard a NaN score read as "below the
block threshold" and nude paintings were allowed. The real shipped sessions are wrapped here so
they return corrupted outputs, exactly as a broken or badly converted model file would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from captureguard.core.detection import Detections
from captureguard.core.verdict import Decision, Verdict
from captureguard.errors import DetectionError
from captureguard.guard.check import Checker
from tests.conftest import read_frame

Corrupt = Callable[[np.ndarray], np.ndarray]


def _fill(value: float) -> Corrupt:
    return lambda out: np.full_like(out, value)


CORRUPTIONS: dict[str, Corrupt] = {
    "nan": _fill(np.nan),
    "+inf": _fill(np.inf),
    "-inf": _fill(-np.inf),
    "one_nan": lambda out: np.where(np.arange(out.size).reshape(out.shape) == 0, np.nan, out).astype(out.dtype),
    "over_1": lambda out: (out + 1.5).astype(out.dtype),
    "negative": lambda out: (out - 2.0).astype(out.dtype),
    "wrong_shape": lambda out: out.reshape(-1)[: max(1, out.size // 3)],
}


class _CorruptSession:
    """Wraps an onnxruntime session; its output number ``index`` goes through ``corrupt``."""

    def __init__(self, session: Any, corrupt: Corrupt, index: int = 0) -> None:
        self._session, self._corrupt, self._index = session, corrupt, index

    def run(self, names: Any, feeds: Any) -> list[np.ndarray]:
        out = list(self._session.run(names, feeds))
        if self._index < len(out):
            out[self._index] = self._corrupt(np.asarray(out[self._index]))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


@pytest.fixture(scope="module")
def photo_checker() -> Iterator[Checker]:
    checker = Checker.create(profile="child", mode="photo")
    yield checker
    checker.close()


def _corrupt(checker: Checker, which: str, corrupt: Corrupt, monkeypatch: pytest.MonkeyPatch, index: int = 0) -> None:
    for det in checker.detectors:
        if which in ("both", det.name):
            # every ONNX session of the detector (person crops hold a person model and a classifier)
            people = getattr(det, "people", None)
            for model in (
                getattr(det, "model", None),
                getattr(people, "model", None),
                getattr(det, "classifier", None),
            ):
                if model is not None:
                    monkeypatch.setattr(model, "_session", _CorruptSession(model._session, corrupt, index))


def _is_error_block(verdict: Verdict) -> bool:
    return verdict.decision is Decision.BLOCK and [r.code for r in verdict.reasons] == ["error"]


@pytest.mark.models
@pytest.mark.parametrize("which", ["nsfw_probe", "nudenet", "both"])
@pytest.mark.parametrize("fault", sorted(CORRUPTIONS))
def test_corrupt_model_output_blocks_every_picture(
    photo_checker: Checker, nude_samples: list[Any], which: str, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if which == "nudenet" and fault in ("over_1", "negative"):
        # NudeNet's raw head holds box coordinates too; shifted class scores below the 0.05
        # threshold simply vanish, above 1 they are caught. Covered by the Detections tests.
        fault = "nan"
    _corrupt(photo_checker, which, CORRUPTIONS[fault], monkeypatch)
    for sample in nude_samples:
        verdict = photo_checker.check(read_frame(sample.path))
        assert _is_error_block(verdict), (sample.path.name, which, fault, verdict.to_dict())
        assert verdict.score == 1.0


@pytest.mark.models
@pytest.mark.parametrize("fault", ["nan", "+inf", "wrong_shape"])
def test_corrupt_pooled_features_block_every_picture(
    photo_checker: Checker, nude_samples: list[Any], fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe's input (open_nsfw's second output, the pooled features) is checked as well."""
    _corrupt(photo_checker, "nsfw_probe", CORRUPTIONS[fault], monkeypatch, index=1)
    for sample in nude_samples:
        verdict = photo_checker.check(read_frame(sample.path))
        assert _is_error_block(verdict), (sample.path.name, fault, verdict.to_dict())


@pytest.mark.models
def test_the_web_api_blocks_and_logs_a_nan_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from captureguard.web.app import ServerConfig, create_app
    from tests.support.webutil import running

    app = create_app(ServerConfig(data_dir=tmp_path / "data", photo_deadline_s=30.0))
    demo = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data" / "demo"
    with running(app) as c:
        state = app.state.captureguard
        _corrupt(state.photo(), "both", CORRUPTIONS["nan"], monkeypatch)
        answer = c.post(
            "/v1/check",
            content=(demo / "prani_godward_nude_on_the_beach.jpg").read_bytes(),
            headers={"content-type": "image/jpeg"},
        ).json()
        events = state.events.list(limit=10)
    assert answer["decision"] == "block" and answer["score"] == 1.0
    assert [r["code"] for r in answer["reasons"]] == ["error"]
    assert any(e.decision == "block" and "error" in e.reasons for e in events)


@pytest.mark.parametrize(
    "scores",
    [[np.nan], [np.inf], [-np.inf], [1.0001], [-0.0001], [0.5, np.nan]],
    ids=["nan", "+inf", "-inf", "over_1", "negative", "one_of_two"],
)
def test_detections_refuse_scores_that_are_not_probabilities(scores: list[float]) -> None:
    boxes = [[0, 0, 1, 1]] * len(scores)
    with pytest.raises(DetectionError, match="not probabilities"):
        Detections.from_arrays(np.array(boxes), np.array(scores), ["IMAGE_NSFW"] * len(scores), model="m")


def test_detections_refuse_non_finite_boxes() -> None:
    with pytest.raises(DetectionError, match="non-finite boxes"):
        Detections.from_arrays(np.array([[0, 0, np.nan, 1]]), np.array([0.5]), ["IMAGE_NSFW"], model="m")


@pytest.mark.parametrize("score", [np.nan, 1.5, -0.1], ids=["nan", "over_1", "negative"])
def test_a_verdict_score_must_be_a_probability(score: float) -> None:
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        Verdict(Decision.ALLOW, score)

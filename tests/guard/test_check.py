"""The checker fails closed: errors, hangs and bugs become blocks, never pass-through."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from captureguard.core.detection import Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.policy import Profile
from captureguard.core.verdict import Decision
from captureguard.errors import ConfigError, DetectionError
from captureguard.guard.check import Checker
from captureguard.models.base import load_detector_configs
from captureguard.testing import FakeDetector, Hang, region, whole

PROFILE = Profile("t", block_score=0.5, warn_score=0.3, class_thresholds={"ANUS_EXPOSED": 0.5})
FUSION = FusionModel(-4.0, {"nsfw_logit": 1.0, "intimate_max": 6.0})
FRAME = Frame.from_bgr(np.zeros((32, 32, 3), np.uint8), source="test")


def checker(*script: object, deadline_s: float | None = None) -> Checker:
    return Checker([FakeDetector(list(script))], FUSION, PROFILE, deadline_s)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("step", "decision", "code"),
    [
        (Detections.empty(), Decision.ALLOW, None),
        (whole(0.999), Decision.BLOCK, "FUSED"),
        (region("ANUS_EXPOSED", 0.6), Decision.BLOCK, "ANUS_EXPOSED"),
        (DetectionError("model crashed"), Decision.BLOCK, "error"),
        (RuntimeError("bug"), Decision.BLOCK, "error"),
        (MemoryError(), Decision.BLOCK, "error"),
    ],
    ids=["nothing", "classifier", "region", "detection-error", "bug", "out-of-memory"],
)
def test_check_outcomes(step: object, decision: Decision, code: str | None) -> None:
    v = checker(step).check(FRAME)
    assert v.decision is decision
    if code:
        assert code in {r.code for r in v.reasons}
    assert v.timings_ms["total"] >= 0


def test_error_block_is_marked_as_failure_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    v = checker(DetectionError("boom")).check(FRAME)
    assert v.failed and "boom" in v.reasons[0].detail
    assert "blocked" in caplog.text


def test_hang_past_deadline_blocks_with_timeout() -> None:
    hang = Hang(seconds=5.0)
    c = checker(hang, deadline_s=0.05)
    t0 = time.perf_counter()
    v = c.check(FRAME)
    assert time.perf_counter() - t0 < 1.0
    assert v.decision is Decision.BLOCK and v.reasons[0].code == "timeout"
    # While the worker is still stuck, the next check cannot run in time either: it blocks too.
    assert c.check(FRAME).reasons[0].code == "timeout"
    hang.release.set()
    c.close()


def test_fast_check_under_deadline_passes() -> None:
    c = checker(Detections.empty(), deadline_s=2.0)
    assert c.check(FRAME).decision is Decision.ALLOW
    c.close()


def test_timings_per_detector() -> None:
    v = checker(whole(0.1)).check(FRAME)
    assert set(v.timings_ms) >= {"detect:fake", "fuse+decide", "total"}


def test_create_unknown_profile_and_mode() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'nobody'"):
        Checker.create(profile="nobody")
    with pytest.raises(ConfigError, match="no \\[video\\] detectors"):
        Checker.create(mode="video")  # type: ignore[arg-type]


def test_shipped_detector_config_has_both_modes() -> None:
    cfg = load_detector_configs()
    assert set(cfg) >= {"photo", "live"}
    assert all(d["type"] for mode in cfg.values() for d in mode)


class _Meeting:
    """A detector that returns only once every detector of the check has started (a barrier)."""

    def __init__(self, name: str, barrier: threading.Barrier, found: Detections) -> None:
        self.name, self._barrier, self._found = name, barrier, found

    def detect(self, frame: Frame) -> Detections:
        self._barrier.wait()  # BrokenBarrierError after the timeout if the detectors run one by one
        return self._found


def test_detectors_of_a_check_run_side_by_side_and_join_in_order() -> None:
    barrier = threading.Barrier(2, timeout=5.0)
    dets = [
        _Meeting("a", barrier, whole(0.2, model="a")),
        _Meeting("b", barrier, region("ANUS_EXPOSED", 0.6, model="b")),
    ]
    c = Checker(dets, FUSION, PROFILE, None)  # type: ignore[arg-type]
    found, timings = c.detect(FRAME)
    assert [str(m) for m in found.models] == ["a", "b"]  # detector order, whichever finished first
    assert set(timings) == {"detect:a", "detect:b"}
    assert c.check(FRAME).decision is Decision.BLOCK  # the second detector's region still counts


@pytest.mark.parametrize("failing", [0, 1])
def test_a_failing_detector_blocks_whichever_thread_it_ran_on(failing: int) -> None:
    script: list[object] = [whole(0.01), whole(0.01)]
    script[failing] = DetectionError("model crashed")
    dets = [FakeDetector([step], name=f"d{i}") for i, step in enumerate(script)]
    v = Checker(dets, FUSION, PROFILE, 2.0).check(FRAME)  # type: ignore[arg-type]
    assert v.decision is Decision.BLOCK
    assert v.reasons[0].code == "error"
    assert all(d.seen == [FRAME.index] for d in dets)  # both ran; the failure was not lost

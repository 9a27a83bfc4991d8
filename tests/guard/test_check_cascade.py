"""The live cascade: a cheap first stage settles confidently safe frames; the rest get the full check."""

from __future__ import annotations

import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.policy import Profile
from captureguard.core.verdict import Decision
from captureguard.errors import ConfigError, DetectionError
from captureguard.guard.check import Checker, FirstStage
from captureguard.testing import FakeDetector, whole

PROFILE = Profile("t", block_score=0.5, warn_score=0.3)
#: fused = sigmoid(-4 + 8 * nsfw): 0.018 at 0, 0.5 at 0.5, 0.98 at 1
HEAD = FusionModel(-4.0, {"max:IMAGE_NSFW": 8.0})
FRAME = Frame.from_bgr(np.zeros((32, 32, 3), np.uint8), source="test")


def cascade(first: list[object], full: list[object], *, escalate_at: float = 0.1, every: int = 0) -> Checker:
    cheap = FakeDetector(first, name="cheap")  # type: ignore[arg-type]
    stage = FirstStage([cheap], HEAD, escalate_at, every)
    return Checker([FakeDetector(full, name="full")], HEAD, PROFILE, None, stage)  # type: ignore[arg-type]


def ran(checker: Checker) -> tuple[int, int]:
    assert checker.first is not None
    cheap, full = checker.first.detectors[0], checker.detectors[0]
    return len(cheap.seen), len(full.seen)  # type: ignore[attr-defined]


def test_confidently_safe_frame_is_settled_by_the_first_stage() -> None:
    c = cascade([whole(0.0)], [whole(1.0)])
    v = c.check(FRAME)
    assert v.decision is Decision.ALLOW
    assert ran(c) == (1, 0)
    assert "detect:cheap(first)" in v.timings_ms and "detect:full" not in v.timings_ms


@pytest.mark.parametrize("first_score", [0.3, 0.9])
def test_uncertain_or_nude_first_stage_escalates_and_the_full_check_decides(first_score: float) -> None:
    # the full check sees nudity the first stage was unsure of; and a first-stage "nude" is
    # re-checked (the first stage never blocks on its own)
    c = cascade([whole(first_score)], [whole(1.0)])
    assert c.check(FRAME).decision is Decision.BLOCK
    assert ran(c) == (1, 1)
    allow = cascade([whole(0.9)], [whole(0.0)])
    assert allow.check(FRAME).decision is Decision.ALLOW


def test_every_nth_check_is_full_regardless() -> None:
    c = cascade([whole(0.0)], [whole(0.0)], every=3)
    for _ in range(6):
        c.check(FRAME)
    assert ran(c) == (4, 2)


def test_first_stage_failure_blocks() -> None:
    c = cascade([DetectionError("cheap model broke")], [whole(0.0)])
    v = c.check(FRAME)
    assert v.decision is Decision.BLOCK and v.failed and "cheap model broke" in v.reasons[0].detail


@pytest.mark.parametrize(("escalate_at", "every"), [(0.0, 0), (1.5, 0), (0.1, -1)])
def test_bad_cascade_settings_refused(escalate_at: float, every: int) -> None:
    with pytest.raises(ConfigError):
        FirstStage([], HEAD, escalate_at, every)


def test_shipped_live_checker_has_the_cascade_and_photo_has_none() -> None:
    from captureguard.models.base import load_detector_configs

    configs = load_detector_configs()
    assert "live_first" in configs and "photo_first" not in configs
    head = FusionModel.load(mode="live_first")
    assert 0 < head.extra["cascade"]["escalate_at"] < 0.5
    assert head.extra["cascade"]["every"] >= 1


def test_an_escalated_check_reuses_the_shared_first_stage_detector() -> None:
    shared = FakeDetector([whole(0.45)], name="shared")  # type: ignore[list-item]
    extra = FakeDetector([whole(0.0)], name="extra")  # type: ignore[list-item]
    c = Checker([shared, extra], HEAD, PROFILE, None, FirstStage([shared], HEAD, 0.1))
    v = c.check(FRAME)
    assert len(shared.seen) == 1 and len(extra.seen) == 1
    assert v.decision is Decision.WARN  # the full head saw the shared detector's 0.45 (fused 0.40)
    assert "detect:shared(first)" in v.timings_ms and "detect:extra" in v.timings_ms


def test_shipped_live_checker_shares_the_first_stage_detector() -> None:
    live = Checker.create(mode="live")
    assert live.first is not None
    assert any(d is f for d in live.detectors for f in live.first.detectors)
    live.close()


def test_after_an_escalation_the_rest_runs_alongside_the_next_first_stage() -> None:
    # shared: 0.45 (escalates: first-stage fused 0.40 >= 0.1), then 0.0 (settles), then 0.0
    shared = FakeDetector([whole(0.45), whole(0.0), whole(0.0)], name="shared")  # type: ignore[list-item]
    extra = FakeDetector([whole(0.0)], name="extra")  # type: ignore[list-item]
    c = Checker([shared, extra], HEAD, PROFILE, None, FirstStage([shared], HEAD, 0.1))
    first = c.check(FRAME)
    assert "detect:extra" in first.timings_ms  # escalated: the rest ran after the first stage
    second = c.check(FRAME)
    assert second.decision is Decision.ALLOW  # settled by the first stage...
    assert len(extra.seen) == 2 and "detect:extra(ahead)" in second.timings_ms  # ...the rest ran alongside
    c.check(FRAME)
    assert len(extra.seen) == 2  # the check before settled: the first stage runs alone again


@pytest.mark.parametrize("rest_score", [0.0, 1.0])
def test_running_ahead_does_not_change_the_verdict(rest_score: float) -> None:
    def build() -> Checker:
        shared = FakeDetector([whole(0.45)], name="shared")  # type: ignore[list-item]
        extra = FakeDetector([whole(rest_score)], name="extra")  # type: ignore[list-item]
        return Checker([shared, extra], HEAD, PROFILE, None, FirstStage([shared], HEAD, 0.1))

    ahead = build()
    ahead.check(FRAME)  # escalates: the next check runs the rest ahead
    with_ahead = ahead.check(FRAME)
    without = build().check(FRAME)
    assert "detect:extra(ahead)" in with_ahead.timings_ms and "detect:extra" in without.timings_ms
    assert (with_ahead.decision, with_ahead.score, with_ahead.reasons) == (
        without.decision,
        without.score,
        without.reasons,
    )


def test_a_failure_of_a_detector_run_ahead_blocks() -> None:
    shared = FakeDetector([whole(0.45), whole(0.0)], name="shared")  # type: ignore[list-item]
    extra = FakeDetector([whole(0.0), DetectionError("nudenet broke")], name="extra")  # type: ignore[list-item]
    c = Checker([shared, extra], HEAD, PROFILE, None, FirstStage([shared], HEAD, 0.1))
    c.check(FRAME)
    v = c.check(FRAME)  # the first stage would settle, but the detector run alongside failed
    assert v.decision is Decision.BLOCK and v.failed and "nudenet broke" in v.reasons[0].detail

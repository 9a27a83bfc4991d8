"""Detectors that read what the others found (nsfwjs on the located picture, after v2.9) run after them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from captureguard.core.detection import PICTURE_OUTER, Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.policy import Profile
from captureguard.core.verdict import Decision
from captureguard.guard.check import Checker, FirstStage
from captureguard.models.base import runs_after
from captureguard.testing import FakeDetector, whole

PROFILE = Profile("t", block_score=0.5, warn_score=0.3)
#: the full head reads the after-detector's label; the first stage the whole-image score
FULL = FusionModel(-4.0, {"max:IMAGE_NSFW": 8.0, "max:NSFWJS_PICTURE": 8.0})
FIRST = FusionModel(-4.0, {"max:IMAGE_NSFW": 8.0})
FRAME = Frame.from_bgr(np.zeros((32, 32, 3), np.uint8), source="test")


def outer(x0: float = 4, y0: float = 4, x1: float = 20, y1: float = 20) -> Detections:
    return Detections.from_arrays(np.array([[x0, y0, x1, y1]], np.float32), [0.2], [PICTURE_OUTER], model="locator")


@dataclass
class FakeAfter:
    """Reports NSFWJS_PICTURE at ``score``; records the PICTURE_OUTER boxes it was handed, per call."""

    score: float = 0.0
    name: str = "after"
    got: list[list[tuple[float, ...]]] = field(default_factory=list)
    fail: Exception | None = None

    @property
    def after(self) -> bool:
        return True

    def detect(self, frame: Frame) -> Detections:
        return self.detect_after(frame, Detections.empty())

    def detect_after(self, frame: Frame, found: Detections) -> Detections:
        self.got.append([tuple(b) for b in found.with_label(PICTURE_OUTER).xyxy.tolist()])
        if self.fail is not None:
            raise self.fail
        return Detections.whole_image(
            self.score, height=frame.height, width=frame.width, model="nsfwjs", label="NSFWJS_PICTURE"
        )


def test_the_fake_is_an_after_detector_and_plain_detectors_are_not() -> None:
    assert runs_after(FakeAfter())  # type: ignore[arg-type]
    assert not runs_after(FakeDetector([whole(0.0)]))  # type: ignore[arg-type,list-item]


def test_an_after_detector_reads_what_the_others_found_in_the_same_check() -> None:
    locator = FakeDetector([Detections.concat([whole(0.0), outer()])], name="probe")  # type: ignore[list-item]
    late = FakeAfter(0.9)
    c = Checker([late, locator], FULL, PROFILE)  # type: ignore[list-item]  # listed first, run after
    v = c.check(FRAME)
    assert late.got == [[(4.0, 4.0, 20.0, 20.0)]]
    assert v.decision is Decision.BLOCK  # its NSFWJS_PICTURE reached the head
    assert {"detect:probe", "detect:after"} <= set(v.timings_ms)


def test_without_a_located_picture_it_gets_no_box() -> None:
    late = FakeAfter(0.0)
    Checker([FakeDetector([whole(0.0)], name="probe"), late], FULL, PROFILE).check(FRAME)  # type: ignore[list-item]
    assert late.got == [[]]


def test_its_failure_blocks() -> None:
    late = FakeAfter(fail=RuntimeError("nsfwjs gone"))
    c = Checker([FakeDetector([whole(0.0)], name="probe"), late], FULL, PROFILE)  # type: ignore[list-item]
    v = c.check(FRAME)
    assert v.decision is Decision.BLOCK and v.failed and "nsfwjs gone" in v.reasons[0].detail


def cascade(first_score: float, *, every: int = 0) -> tuple[Checker, FakeDetector, FakeDetector, FakeAfter]:
    """The shipped shape: the first stage's probe (with the locator) is shared with the full set."""
    probe = FakeDetector([Detections.concat([whole(first_score), outer()])], name="probe")  # type: ignore[list-item]
    nn = FakeDetector([whole(0.0, model="nudenet_like")], name="nudenet")  # type: ignore[list-item]
    late = FakeAfter(0.9)
    stage = FirstStage([probe], FIRST, 0.1, every)  # type: ignore[list-item]
    return Checker([nn, probe, late], FULL, PROFILE, None, stage), probe, nn, late  # type: ignore[list-item]


def test_a_settled_first_stage_does_not_run_it() -> None:
    c, probe, nn, late = cascade(0.0)
    assert c.check(FRAME).decision is Decision.ALLOW
    assert (len(probe.seen), len(nn.seen), len(late.got)) == (1, 0, 0)


def test_an_escalation_runs_it_on_the_first_stages_detections() -> None:
    c, probe, nn, late = cascade(0.3)
    v = c.check(FRAME)
    assert (len(probe.seen), len(nn.seen)) == (1, 1)  # the probe's detections are reused
    assert late.got == [[(4.0, 4.0, 20.0, 20.0)]]
    assert v.decision is Decision.BLOCK


def test_after_an_escalation_it_does_not_run_ahead_of_the_first_stage() -> None:
    """Run ahead: the rest of the full set runs beside the next first stage, except the detectors
    that read its detections; they run once it escalated, and never when it settles."""
    c, probe, nn, late = cascade(0.3)
    c.check(FRAME)  # escalates: the next check runs the rest ahead
    c.check(FRAME)
    assert (len(probe.seen), len(nn.seen), len(late.got)) == (2, 2, 2)
    assert late.got[1] == [(4.0, 4.0, 20.0, 20.0)]
    settled, probe2, nn2, late2 = cascade(0.3)
    settled.check(FRAME)
    probe2.script = [Detections.concat([whole(0.0), outer()])]  # the next first stage settles
    settled.check(FRAME)
    assert (len(nn2.seen), len(late2.got)) == (2, 1)  # nudenet ran ahead; the after-detector did not


def test_a_scheduled_full_check_runs_it_after_the_full_set() -> None:
    c, probe, nn, late = cascade(0.0, every=1)
    v = c.check(FRAME)
    assert (len(probe.seen), len(nn.seen)) == (1, 1)
    assert late.got == [[(4.0, 4.0, 20.0, 20.0)]]
    assert v.decision is Decision.BLOCK


def test_a_region_check_hands_it_the_regions_detections_only() -> None:
    late = FakeAfter(0.0)
    c = Checker([FakeDetector([whole(0.0)], name="probe"), late], FULL, PROFILE)  # type: ignore[list-item]
    c.inspect(FRAME, region=(0, 0, 16, 16))
    assert late.got == [[]]

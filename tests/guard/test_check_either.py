"""The photo check reading the live head too (v2.9): two heads on their own detector sets."""

from __future__ import annotations

import numpy as np
import pytest

from captureguard.core.detection import Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import Either, FusionModel
from captureguard.core.policy import Profile
from captureguard.core.verdict import Decision
from captureguard.guard.check import Checker
from captureguard.testing import FakeDetector, whole

PROFILE = Profile("t", block_score=0.5, warn_score=0.3)
FRAME = Frame.from_bgr(np.zeros((32, 32, 3), np.uint8), source="test")
#: the "live" head reads a probe label, the "photo" head the whole-image score: each sees only its set
LIVE = FusionModel(-4.0, {"max:NSFW_PROBE": 8.0}, "live-like")
PHOTO = FusionModel(-4.0, {"max:IMAGE_NSFW": 8.0}, "photo-like", either=Either(LIVE, offset=0.0))


def probe(score: float) -> Detections:
    return Detections.whole_image(score, height=32, width=32, model="live_probe", label="NSFW_PROBE")


def checker(photo: float, live: float, shared: float = 0.0) -> tuple[Checker, FakeDetector, FakeDetector]:
    both = FakeDetector([whole(shared, model="nudenet_like")], name="shared")  # type: ignore[list-item]
    own = FakeDetector([whole(photo)], name="photo_view")  # type: ignore[list-item]
    other = FakeDetector([probe(live)], name="live_view")  # type: ignore[list-item]
    return Checker([both, own], PHOTO, PROFILE, None, None, [both, other]), both, other


@pytest.mark.parametrize(
    ("photo", "live", "decision"),
    [(0.0, 0.0, Decision.ALLOW), (0.9, 0.0, Decision.BLOCK), (0.0, 0.9, Decision.BLOCK), (0.45, 0.0, Decision.WARN)],
)
def test_either_head_blocks(photo: float, live: float, decision: Decision) -> None:
    c, _, _ = checker(photo, live)
    v = c.check(FRAME)
    assert v.decision is decision


def test_a_detector_in_both_sets_runs_once_and_each_head_reads_only_its_own_set() -> None:
    """The photo head never sees the live set's probe label and the live head never sees the
    photo set's own view: a strong probe score in the photo set would be ignored by both."""
    c, both, other = checker(0.0, 0.0)
    v = c.check(FRAME)
    assert len(both.seen) == 1 and len(other.seen) == 1  # shared: run once
    assert v.decision is Decision.ALLOW
    leak = FakeDetector([probe(0.99)], name="photo_view")  # type: ignore[list-item]
    solo = Checker([leak], PHOTO, PROFILE, None, None, [FakeDetector([probe(0.0)], name="live_view")])  # type: ignore[list-item]
    assert solo.check(FRAME).decision is Decision.ALLOW
    # the either set's own detectors are timed under the table's name (both sets may use one name)
    assert {"detect:shared", "detect:photo_view", "detect:live_view(live)"} <= set(v.timings_ms)


def test_the_either_sets_failure_blocks() -> None:
    c = Checker(
        [FakeDetector([whole(0.0)], name="photo_view")],  # type: ignore[list-item]
        PHOTO,
        PROFILE,
        None,
        None,
        [FakeDetector([RuntimeError("live model gone")], name="live_view")],  # type: ignore[list-item]
    )
    v = c.check(FRAME)
    assert v.decision is Decision.BLOCK and v.failed and "live model gone" in v.reasons[0].detail


def test_a_head_with_either_but_no_either_detectors_blocks() -> None:
    """Misbuilt by hand (Checker.create always builds the set): the head refuses, the check blocks."""
    c = Checker([FakeDetector([whole(0.0)], name="photo_view")], PHOTO, PROFILE)  # type: ignore[list-item]
    v = c.check(FRAME)
    assert v.decision is Decision.BLOCK and v.failed and "also reads the [live]" in v.reasons[0].detail


def test_evidence_fuses_both_sets() -> None:
    c, _, _ = checker(0.0, 0.9)
    assessment, shown, timings = c.evidence(FRAME)
    assert assessment.score > 0.5
    assert "NSFW_PROBE" in set(shown.labels) and "detect:live_view(live)" in timings


def test_the_shipped_photo_checker_builds_the_live_set_beside_its_own() -> None:
    photo = Checker.create(mode="photo")
    assert photo.fusion.either is not None and photo.either
    shared = [d for d in photo.either if any(d is x for x in photo.detectors)]
    assert [d.name for d in shared] == ["nudenet"]  # NudeNet 640 is configured alike: one object
    names = sorted(d.name for d in photo.either)
    assert "nudenet" in names and len(photo.either) == 2
    photo.close()


def test_a_photo_checker_built_with_reuse_shares_the_live_checkers_detectors() -> None:
    """The web server builds its live check, then the photo check with ``reuse``: the photo check's
    live set is the live check's own objects (models loaded once; ~90 MB at rest, bench/memory.py)."""
    live = Checker.create(mode="live")
    photo = Checker.create(mode="photo", reuse=live)
    assert all(any(d is x for x in live.detectors) for d in photo.either)
    assert photo.detectors[0] is live.detectors[0]  # NudeNet 640, configured alike everywhere
    alone = Checker.create(mode="photo")
    assert not any(d is x for d in alone.either for x in live.detectors)
    for c in (live, photo, alone):
        c.close()

"""After a block the stream guard re-checks the crop that caused it, following it, with a margin."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from captureguard.core.detection import Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.ledger import StreamSettings
from captureguard.core.policy import Profile
from captureguard.core.region import Box
from captureguard.core.verdict import Decision, Reason, Verdict
from captureguard.guard.allowed import AllowedFrame
from captureguard.guard.check import Checker, Inspection
from captureguard.guard.stream import StreamGuard
from tests.conftest import synthetic_bgr

W, H = 320, 180
LABEL = "ANUS_EXPOSED"


@dataclass
class ShapeDetector:
    """Finds one region at ``box`` (frame pixels of what it is given); records the shapes it saw."""

    box: tuple[float, float, float, float]
    score: float = 0.9
    name: str = "shape"
    shapes: list[tuple[int, int]] = field(default_factory=list)

    def detect(self, frame: Frame) -> Detections:
        self.shapes.append((frame.height, frame.width))
        return Detections.from_arrays([self.box], [self.score], [LABEL], model=self.name)


def test_inspect_checks_the_crop_and_returns_boxes_in_frame_pixels() -> None:
    det = ShapeDetector((10, 20, 30, 40))
    profile = Profile("t", block_score=0.5, warn_score=0.3, class_thresholds={LABEL: 0.5})
    checker = Checker([det], FusionModel(-4.0, {"intimate_max": 6.0}), profile)  # type: ignore[list-item]
    frame = Frame.from_bgr(synthetic_bgr(H, W, seed=2), index=7)
    seen = checker.inspect(frame, region=(100.0, 50.0, 200.0, 150.0))
    assert det.shapes == [(100, 100)]  # the detector saw only the crop
    assert seen.verdict.decision is Decision.BLOCK
    assert seen.detections.xyxy.tolist() == [[110, 70, 130, 90]]  # moved back into the frame
    assert seen.region == (100.0, 50.0, 200.0, 150.0)
    assert checker.check(frame).decision is Decision.BLOCK  # check() is inspect() of the whole frame
    assert checker.block_score == 0.5 and LABEL in checker.region_labels


@dataclass
class Scene:
    """A fake inspector: the cause sits at ``where(i)``; the whole frame sees it only at
    ``whole_sees``; a crop sees it (and blocks) while it is inside the crop and ``i < gone_at``."""

    where: Callable[[int], Box]
    whole_sees: set[int]
    gone_at: int
    whole_score: float = 0.05
    block_score: float = 0.5
    region_labels: frozenset[str] = frozenset({LABEL})
    crops: list[tuple[int, Box]] = field(default_factory=list)

    def inspect(self, frame: Frame, *, region: Box | None = None, within_ms: float | None = None) -> Inspection:
        box = self.where(frame.index)
        if region is None:
            sees = frame.index in self.whole_sees
            score = 0.9 if sees else self.whole_score
        else:
            self.crops.append((frame.index, region))
            inside = region[0] <= box[0] and region[1] <= box[1] and box[2] <= region[2] and box[3] <= region[3]
            sees = inside and frame.index < self.gone_at
            score = 0.9 if sees else 0.05
        decision = Decision.BLOCK if sees else Decision.ALLOW
        verdict = Verdict(decision, score, (Reason(LABEL, score),) if sees else ())
        found = Detections.from_arrays([box], [score], [LABEL], model="m") if sees else Detections.empty()
        return Inspection(verdict, found, region)

    def check(self, frame: Frame) -> Verdict:
        return self.inspect(frame).verdict


def frames(n: int) -> list[Frame]:
    base = synthetic_bgr(H, W, seed=1)
    out = []
    for i in range(n):
        pixels = base.copy()
        pixels[0, 0] = i  # each frame distinct, no cut
        out.append(Frame.from_bgr(pixels, index=i, timestamp_s=i / 30))
    return out


def released(guard: StreamGuard, n: int) -> list[int]:
    out: list[AllowedFrame] = []
    done = threading.Event()

    def body() -> None:
        for f in frames(n):
            out.extend(guard.process(f))
        out.extend(guard.finish())
        done.set()

    threading.Thread(target=body, daemon=True).start()
    assert done.wait(20), "the stream guard hung"
    guard.close()
    assert [o.frame.index for o in out] == list(range(n))
    return [o.frame.index for o in out if o.release.released]


FAST = {"max_gap": 0, "reopen_checks": 1, "reopen_s": 0.0}


def test_the_crop_keeps_the_stream_shut_while_the_whole_frame_misses_the_cause() -> None:
    scene = Scene(lambda i: (100, 60, 120, 80), whole_sees={2}, gone_at=9)
    assert released(StreamGuard(scene, StreamSettings(**FAST)), 14) == [0, 1, 9, 10, 11, 12, 13]
    assert [i for i, _ in scene.crops] == list(range(3, 10))  # re-checked while shut, then forgotten
    x1, y1, x2, y2 = scene.crops[0][1]
    assert x1 <= 100 and y1 <= 60 and x2 >= 120 and y2 >= 80


def test_a_weak_block_does_not_start_following() -> None:
    scene = Scene(lambda i: (100, 60, 120, 80), whole_sees={2}, gone_at=9)
    weak = StreamSettings(**FAST, follow_min_score=0.95)  # the scene's block scores 0.9
    assert released(StreamGuard(scene, weak), 14) == [0, 1, *range(3, 14)]
    assert scene.crops == []


def test_without_following_the_whole_frame_miss_reopens_at_once() -> None:
    scene = Scene(lambda i: (100, 60, 120, 80), whole_sees={2}, gone_at=9)
    got = released(StreamGuard(scene, StreamSettings(**FAST, follow_region=False)), 14)
    assert got == [0, 1, *range(3, 14)]
    assert scene.crops == []


def test_the_crop_follows_the_cause_across_the_frame() -> None:
    # The cause moves 12 px per frame; a crop that stayed put would lose it within a few frames.
    scene = Scene(lambda i: (20 + 12 * i, 60, 40 + 12 * i, 80), whole_sees={1}, gone_at=16)
    assert released(StreamGuard(scene, StreamSettings(**FAST)), 20) == [0, 16, 17, 18, 19]
    centres = [(r[0] + r[2]) / 2 for _, r in scene.crops]
    assert centres == sorted(centres) and centres[-1] - centres[0] > 100


def test_uncertain_safe_checks_do_not_reopen() -> None:
    # After the block, the whole frame allows at 0.4: under the 0.5 threshold, above the margin.
    uncertain = Scene(lambda i: (100, 60, 120, 80), whole_sees={2}, gone_at=0, whole_score=0.4)
    assert released(StreamGuard(uncertain, StreamSettings(**FAST, confident_below=0.5)), 8) == [0, 1]
    sure = Scene(lambda i: (100, 60, 120, 80), whole_sees={2}, gone_at=0, whole_score=0.2)
    assert released(StreamGuard(sure, StreamSettings(**FAST, confident_below=0.5)), 8) == [0, 1, *range(3, 8)]
    # ...but before any block they are released like any allowed check.
    assert released(StreamGuard(uncertain, StreamSettings(**FAST)), 2) == [0, 1]


def test_a_plain_checker_gets_whole_frame_checks_only() -> None:
    class Plain:
        def check(self, frame: Frame) -> Verdict:
            return Verdict(Decision.BLOCK, 0.9) if frame.index == 2 else Verdict(Decision.ALLOW, 0.0)

    assert released(StreamGuard(Plain(), StreamSettings(**FAST)), 6) == [0, 1, 3, 4, 5]

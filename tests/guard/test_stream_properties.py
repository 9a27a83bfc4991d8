"""Property test of StreamGuard under real threads: the safety invariant for random streams.

A fake checker plays a random script per frame (allow, block, raise, hang past the deadline,
slow under it); frames come in random scenes (solid colours far apart, so a scene change is a
cut); settings and both schedules are random. Whatever the thread timing, every frame comes out
exactly once, in order, and a frame carries the camera's pixels only if the invariant of
``tests/support/invariant.py`` allows it. Deadlines are small so each example stays short.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Decision, Verdict
from captureguard.errors import DetectionError
from captureguard.guard.allowed import AllowedFrame
from captureguard.guard.stream import StreamGuard
from tests.support.invariant import Trace, violations

pytestmark = pytest.mark.fuzz

DEADLINE_S = 0.06
SCENES = [(60, 60, 60), (200, 200, 200), (60, 200, 120)]  # pairwise thumbnail difference > 0.25
OUTCOMES = ["allow", "allow", "allow", "slow", "unsure", "block", "error", "hang"]
ALLOWING = ("allow", "slow", "unsure")
UNSURE_SCORE = 0.7  # allowed, but above the margin when confident_below=0.5 (block_score 1.0)


@dataclass
class ScriptChecker:
    """Plays ``script[frame.index]``; records the frames it was asked about, in call order."""

    script: list[str]
    calls: list[int] = field(default_factory=list)
    block_score: float = 1.0

    def check(self, frame: Frame) -> Verdict:
        self.calls.append(frame.index)
        step = self.script[frame.index]
        if step == "error":
            raise DetectionError("scripted failure")
        if step == "hang":
            time.sleep(DEADLINE_S * 3)
        if step == "slow":
            time.sleep(DEADLINE_S / 6)
        if step == "block":
            return Verdict(Decision.BLOCK, 0.99)
        return Verdict(Decision.ALLOW, UNSURE_SCORE if step == "unsure" else 0.01)


def make_frames(scenes: list[int]) -> list[Frame]:
    out = []
    for i, scene in enumerate(scenes):
        pixels = np.empty((24, 32, 3), np.uint8)
        pixels[:] = SCENES[scene]
        pixels[0, 0] = i % 256  # every frame distinct, scene unchanged
        out.append(Frame.from_bgr(pixels, index=i, timestamp_s=i / 30))
    return out


def run_stream(guard: StreamGuard, frames: list[Frame], *, pace_s: float, timeout_s: float = 30) -> list[AllowedFrame]:
    out: list[AllowedFrame] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            for frame in frames:
                out.extend(guard.process(frame))
                if pace_s:
                    time.sleep(pace_s)
            out.extend(guard.finish(timeout_s=5.0))
        except BaseException as exc:  # surfaced below
            failure.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), "the stream guard hung"
    assert not failure, failure
    return out


@st.composite
def guarded_streams(draw: st.DrawFn) -> tuple[StreamSettings, list[int], list[str]]:
    max_gap = draw(st.integers(0, 4))
    stream = StreamSettings(
        max_gap=max_gap,
        reopen_checks=draw(st.integers(1, 3)),
        reopen_s=draw(st.sampled_from([0.0, 0.1])),
        max_delay_frames=max_gap + 2 + draw(st.integers(0, 6)),
        schedule=draw(st.sampled_from(["lockstep", "latest"])),
        withheld=draw(st.sampled_from(["placeholder", "drop"])),
        # The oracle (tests/support/invariant.py) knows each frame's scene: with reopen_on_cut, an
        # allowed check may reopen only on a scene none of the episode's blocks showed (the guard
        # also wants a hard cut since the previous check: stricter, so never a breach). The old
        # cut rule, measured against a stale reference, failed here (CAPTUREGUARD_HYPOTHESIS=long).
        # An "unsure" check allows at 0.7: not confident under the margin 0.5 (the oracle is told
        # which checks were unsure); following is tested in tests/guard/test_follow.py.
        reopen_on_cut=draw(st.booleans()),
        confident_below=draw(st.sampled_from([0.5, 1.0])),
        follow_region=False,
    )
    n = draw(st.integers(1, 30))
    scene_runs = draw(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 12)), min_size=1, max_size=6))
    scenes = [s for s, length in scene_runs for _ in range(length)][:n]
    scenes += [scenes[-1]] * (n - len(scenes))
    script = draw(st.lists(st.sampled_from(OUTCOMES), min_size=n, max_size=n))
    return stream, scenes, script


@settings(max_examples=max(5, settings().max_examples // 2))
@given(case=guarded_streams(), pace_ms=st.sampled_from([0, 5, 20]))
def test_stream_guard_releases_only_checked_or_covered_frames(
    case: tuple[StreamSettings, list[int], list[str]], pace_ms: int
) -> None:
    stream, scenes, script = case
    frames = make_frames(scenes)
    checker = ScriptChecker(script)
    with StreamGuard(checker, stream, deadline_s=DEADLINE_S) as guard:
        out = run_stream(guard, frames, pace_s=pace_ms / 1e3)

    assert [item.frame.index for item in out] == [f.index for f in frames]  # one fate each, in order
    trace = Trace(stream, scenes=dict(enumerate(scenes)))
    trace.added = [(f.index, f.timestamp_s, i > 0 and scenes[i] != scenes[i - 1]) for i, f in enumerate(frames)]
    # A timed-out or failed call is a block; the oracle treats every call scripted to allow as
    # allowed (a slow call may still time out on a busy machine: that only blocks more).
    trace.checks = [(i, script[i] in ALLOWING) for i in checker.calls]
    if stream.confident_below * checker.block_score <= UNSURE_SCORE:
        trace.unsure = {i for i in checker.calls if script[i] == "unsure"}
    trace.outcomes = [(item.frame.index, item.release.released, item.release.value) for item in out]
    note(f"script={script} scenes={scenes} calls={checker.calls} out={[o[2] for o in trace.outcomes]}")
    assert violations(trace, complete=True) == []
    for item, frame in zip(out, frames, strict=True):
        same = np.array_equal(item.frame.bgr, frame.bgr)
        assert same == item.release.released, (item.frame.index, item.release)
        if item.release.released:
            assert item.verdict.decision is Decision.ALLOW
    stats = guard.stats
    released = stats.released_checked + stats.released_covered
    assert released == sum(item.release.released for item in out)
    assert released + stats.placeholders + stats.dropped == len(frames)

"""Cut reopening measures the cut against what blocked, not against the previous or last checked frame.

Timelines through the real :class:`StreamGuard` (lockstep, solid-colour scenes far apart), with a
scripted checker. The earlier rule ("a cut between checks after the block, then a confident
check") reopened on the blocked scene when the camera cut away and back: these tests fail with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Decision, Verdict
from captureguard.guard.stream import MAX_BLOCKED_SCENES, StreamGuard

# Grey levels 60, 200, 127, 250: pairwise thumbnail differences > 0.12 (scene_cut).
COLOURS = {"S": (60, 60, 60), "A": (200, 200, 200), "B": (60, 200, 120), "C": (250, 250, 250)}
# K=30 checks over 2 s never completes in these short streams: only a new scene can reopen.
SETTINGS = StreamSettings(max_gap=1, reopen_checks=30, reopen_s=2.0, reopen_on_cut=True, confident_below=0.5)


@dataclass
class Script:
    """``verdicts[i]``: "B" block (0.9), "u" allowed but not confident (0.4), else allowed (0.05)."""

    verdicts: dict[int, str]
    block_score: float = 0.5
    calls: list[int] = field(default_factory=list)

    def check(self, frame: Frame) -> Verdict:
        self.calls.append(frame.index)
        v = self.verdicts.get(frame.index, "c")
        if v == "B":
            return Verdict(Decision.BLOCK, 0.9)
        return Verdict(Decision.ALLOW, 0.4 if v == "u" else 0.05)


def released(scenes: str, verdicts: dict[int, str], settings: StreamSettings = SETTINGS) -> list[int]:
    """Run frames whose scenes are the letters of ``scenes``; the indices released."""
    out = []
    checker = Script(verdicts)
    with StreamGuard(checker, settings) as guard:
        for i, scene in enumerate(scenes):
            pixels = np.empty((24, 32, 3), np.uint8)
            pixels[:] = COLOURS[scene]
            out += guard.process(Frame.from_bgr(pixels, index=i, timestamp_s=i / 30))
        out += guard.finish()
    assert [item.frame.index for item in out] == list(range(len(scenes)))
    return [item.frame.index for item in out if item.release.released]


def test_a_new_scene_checked_confidently_reopens() -> None:
    #          0123456789012345
    scenes = "SSSSAAAAAACCCCCC"
    assert released(scenes, {4: "B"}) == [0, 1, 2, *range(10, 16)]


def test_a_cut_away_and_back_across_a_second_block_does_not_reopen_on_the_blocked_scene() -> None:
    # A blocks at 4; the camera cuts to B (8, blocks too) and back to A (10): 10 is a cut from the
    # previous frame and is checked safe (the detector misses A this time). The old rule reopened
    # at 10, on the scene that blocked; the blocked scene is still A: shut. C (14) is new: open.
    #          0123456789012345678
    scenes = "SSSSAAAABBAAAACCCCC"
    assert released(scenes, {4: "B", 8: "B"}) == [0, 1, 2, *range(14, 19)]


def test_a_cut_away_with_an_uncertain_check_and_back_does_not_reopen() -> None:
    # 8 (B) is a new scene but its check is not confident; 10 (A again) is confident but is the
    # blocked scene: the old rule remembered the cut at 8 and reopened at 10.
    scenes = "SSSSAAAABBAAAA"
    assert released(scenes, {4: "B", 8: "u"}) == [0, 1, 2]


def test_with_reopen_on_cut_off_a_new_scene_waits_for_k_checks() -> None:
    settings = StreamSettings(max_gap=1, reopen_checks=30, reopen_s=2.0, reopen_on_cut=False, confident_below=0.5)
    assert released("SSSSAAAAAACCCCCC", {4: "B"}, settings) == [0, 1, 2]


@pytest.mark.parametrize("blocks", [MAX_BLOCKED_SCENES + 1, MAX_BLOCKED_SCENES + 3])
def test_an_episode_with_too_many_blocks_reopens_only_by_k_checks(blocks: int) -> None:
    # A stream that keeps blocking (every other frame on A) overflows the blocked scenes kept:
    # the new scene C then does not reopen it (its frames stay withheld).
    n = 2 * blocks
    scenes = "SS" + "A" * n + "CCCCCC"
    verdicts = {2 + 2 * k: "B" for k in range(blocks)}
    assert released(scenes, verdicts) == [0]


def drift(start: int, end: int, steps: int) -> list[int]:
    return [round(start + (end - start) * k / (steps - 1)) for k in range(steps)]


def test_drift_away_from_the_blocked_scene_without_a_cut_does_not_reopen() -> None:
    # After the block the frame brightens slowly (grey 200 -> 250 -> 60 over 30 frames, no frame
    # jumps by more than 0.12 from the one before), so it ends far from the blocked frame: a pan or
    # a moving background can do that while what blocked is still in view. No cut: no reopening.
    levels = [60] * 4 + [200] * 4 + drift(200, 60, 30)
    out = []
    with StreamGuard(Script({4: "B"}), SETTINGS) as guard:
        for i, level in enumerate(levels):
            pixels = np.full((24, 32, 3), level, np.uint8)
            out += guard.process(Frame.from_bgr(pixels, index=i, timestamp_s=i / 30))
        out += guard.finish()
    assert [item.frame.index for item in out if item.release.released] == [0, 1, 2]

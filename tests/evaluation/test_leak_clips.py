"""Bounded leak benchmark (``bench/leaks.py`` in small): real models, the bundled paintings.

Three short 720p H.264 clips film bundled public-domain nude paintings over safe stills: zooming
out from filling the frame to a small part of it, panning, sliding in from the edge. Each runs
through the shipped stream guard (live checker, default settings, file mode). No released frame
may show a *substantially visible* painting (>= 10% of the frame, >= 60% of the painting in
view, from the clip's geometry) that the photo check blocks as a still: issue 13's live target.
"""

from __future__ import annotations

import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Decision
from captureguard.evaluation.leaks import LeakClip, Motion, make_clip, run_clip, substantial_frames
from captureguard.guard.check import Checker
from captureguard.samples import Sample
from captureguard.sources.composite import Placed
from captureguard.sources.synthetic import Pan, Shot, Still

pytestmark = pytest.mark.models

#: (painting index among the bundled nude ones, motion, scale): the hard cases first.
PLAN: list[tuple[int, Motion, float]] = [(0, "zoom_out", 0.2), (1, "pan", 0.35), (2, "slide_in", 0.5)]


@pytest.fixture(scope="module")
def clips(samples: list[Sample]) -> list[LeakClip]:
    photo = Checker.create(mode="photo", profile="child")
    stills = [Still.from_path(s.path, unsafe=s.label == "nudity", name=s.path.stem) for s in samples]
    nude = [s for s in stills if s.unsafe]
    safe = [s for s in stills if not s.unsafe]
    out = []
    for n, (i, motion, scale) in enumerate(PLAN):
        art = nude[i]

        def background(seconds: float, part: int, n: int = n) -> Shot:
            return Pan(safe[(2 * n + part) % len(safe)], seconds, zoom=(1.0, 1.2))

        blocked = photo.check(Frame.from_bgr(art.bgr)).decision is Decision.BLOCK
        clip = make_clip(
            art,
            blocked_as_still=blocked,
            background=background,
            motion=motion,
            scale=scale,
            seconds=2.0,
            safe_s=0.5,
            fps=15.0,
        )
        out.append(clip)
    return out


def test_no_substantially_visible_painting_blocked_as_a_still_is_released(clips: list[LeakClip]) -> None:
    live = Checker.create(mode="live", profile="child")
    checked = [c for c in clips if c.blocked_as_still]
    assert len(checked) >= 2, "the photo check should block most bundled paintings as stills"
    leaks, shown, safe_released, safe = {}, 0, 0, 0
    for clip in checked:
        released = run_clip(clip, live, StreamSettings())
        leaks[clip.name] = [i for i, (r, s) in enumerate(zip(released, clip.substantial, strict=True)) if r and s]
        shown += sum(clip.substantial)
        lead = round(0.5 * clip.fps)  # the safe lead-in, before any painting shows
        safe_released += sum(released[:lead])
        safe += lead
    assert shown >= 40, "the clips should show the paintings substantially for many frames"
    assert all(not v for v in leaks.values()), f"released frames of substantially visible paintings: {leaks}"
    assert safe_released >= 0.9 * safe, "the safe lead-in should be shown"


def test_truth_counts_only_substantially_visible_frames() -> None:
    art = Still(np.zeros((100, 100, 3), np.uint8), unsafe=True)
    bg = Pan(Still(np.zeros((90, 160, 3), np.uint8), unsafe=False), 1.0)
    # Slides in from off-frame to the middle at 20% of the frame: hidden, partly in view, in view.
    shot = Placed(art, bg, 1.0, (0.2, 0.2), ((1.5, 0.5), (0.5, 0.5)))
    truth = substantial_frames([shot], fps=10, size=(160, 90))
    assert truth[0] is False and truth[-1] is True
    first = truth.index(True)
    g = shot.geometry(first, 10, (160, 90))
    assert g.visible >= 0.6 and g.frame_share >= 0.1
    assert shot.geometry(first - 1, 10, (160, 90)).visible < 0.6

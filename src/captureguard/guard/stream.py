"""StreamGuard: the threaded shell around :class:`~captureguard.stream.StreamLedger`.

The caller submits frames in order and collects :class:`AllowedFrame`s (released or placeholder)
in the same order. A worker thread runs the checks the ledger asks for. Failure modes all block:
a check that raises or returns a failure verdict blocks; a check that overruns ``deadline_s`` is
recorded as a timeout block by a watchdog; a dead worker turns every pending frame into a
placeholder and its exception is re-raised in the caller.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from captureguard.core.frame import Frame
from captureguard.core.ledger import Fate, StreamLedger, StreamSettings
from captureguard.core.scene import difference, thumbnail
from captureguard.core.verdict import Decision, Reason, Verdict
from captureguard.errors import DetectionError
from captureguard.guard.allowed import AllowedFrame, Release, mint_frame
from captureguard.guard.placeholder import placeholder

log = logging.getLogger(__name__)

_RELEASE = {Fate.CHECKED: Release.CHECKED, Fate.COVERED: Release.COVERED, Fate.PLACEHOLDER: Release.PLACEHOLDER}
STATS_WINDOW = 100_000
MAX_BLOCK_EVENTS = 10_000
UNCOVERED = Verdict(Decision.BLOCK, 1.0, (Reason("uncovered", 1.0, "", "not covered by safe checks on both sides"),))


class FrameChecker(Protocol):
    """Anything with ``check(frame) -> Verdict`` (a :class:`~captureguard.check.Checker`)."""

    def check(self, frame: Frame) -> Verdict:
        """Decide about one frame."""
        ...


@dataclass
class StreamStats:
    """Counters of one stream (no pixels). Latencies are wall-clock ms from submit to output."""

    frames_in: int = 0
    released_checked: int = 0
    released_covered: int = 0
    placeholders: int = 0
    dropped: int = 0
    checks: int = 0
    blocks: int = 0
    failures: int = 0
    #: ``(frame index, timestamp_s, reason codes)`` of the checks that did not allow their frame
    #: (the first 10,000; ``blocks`` counts them all).
    block_events: list[tuple[int, float, list[str]]] = field(default_factory=list, repr=False)
    #: The most recent samples only (about an hour at 30 fps), so a camera left running for days
    #: does not grow without bound; the quantiles describe that window.
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=STATS_WINDOW), repr=False)
    check_ms: deque[float] = field(default_factory=lambda: deque(maxlen=STATS_WINDOW), repr=False)
    started_s: float = field(default_factory=time.monotonic, repr=False)
    ended_s: float = 0.0

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready summary with p50/p99 latency and throughput."""
        elapsed = (self.ended_s or time.monotonic()) - self.started_s
        return {
            "frames_in": self.frames_in,
            "released": self.released_checked + self.released_covered,
            "released_checked": self.released_checked,
            "released_covered": self.released_covered,
            "placeholders": self.placeholders,
            "dropped": self.dropped,
            "checks": self.checks,
            "blocked_checks": self.blocks,
            "failed_checks": self.failures,
            "latency_ms_p50": round(_quantile(self.latency_ms, 0.5), 1),
            "latency_ms_p99": round(_quantile(self.latency_ms, 0.99), 1),
            "check_ms_p50": round(_quantile(self.check_ms, 0.5), 1),
            "throughput_fps": round(self.frames_in / elapsed, 2) if elapsed > 0 else 0.0,
        }


def _quantile(values: deque[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q * 100) - 1))]


class StreamGuard:
    """Guards one stream: submit frames in order, collect what may reach sinks in order.

    Args:
        checker: runs one check (normally ``Checker.create(mode="live")``).
        settings: the ledger's settings (gap, hysteresis, cuts, delay bound, live or file).
        deadline_s: a check running longer than this is recorded as a timeout block.
        placeholder: ``"black"`` or ``"blur"`` for frames that may not be shown.
        notice: the line drawn on placeholders.
    """

    def __init__(
        self,
        checker: FrameChecker,
        settings: StreamSettings | None = None,
        *,
        deadline_s: float = 0.5,
        placeholder: str = "black",
        notice: str = "Hidden by captureguard",
    ) -> None:
        self.settings = settings or StreamSettings()
        self.stats = StreamStats()
        self._checker, self._deadline_s = checker, deadline_s
        self._placeholder, self._notice = placeholder, notice
        self._ledger = StreamLedger(self.settings)
        self._cond = threading.Condition()
        self._frames: dict[int, tuple[Frame, float, np.ndarray]] = {}  # index -> (frame, submit time, thumb)
        self._verdicts: dict[int, Verdict] = {}
        self._prev_verdict: Verdict = UNCOVERED
        self._ready: deque[AllowedFrame] = deque()
        self._in_flight: tuple[int, float] | None = None  # (index, start time)
        self._last_thumb: np.ndarray | None = None  # of the last frame sent to a check
        self._prev_thumb: np.ndarray | None = None  # of the previous frame
        self._last_block: Verdict = UNCOVERED
        self._black: dict[tuple[int, int], np.ndarray] = {}
        self._generation = 0
        self._idle_at = -1  # frames_in when the worker last found nothing to check
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._worker = self._start_worker()

    def __enter__(self) -> StreamGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def blocked(self) -> bool:
        """True while the stream is in a block (hysteresis shut): show the notice."""
        return self._ledger.blocked

    def submit(self, frame: Frame) -> None:
        """Add the next frame. File mode (``settings.live=False``) runs in lockstep: it returns once
        every check this frame makes due has run, so outputs are reproducible.

        Raises:
            DetectionError: the worker died (pending frames became placeholders first).
        """
        with self._cond:
            self._raise_if_dead()
            thumb = thumbnail(frame.bgr)
            # A cut: a jump from the previous frame, or drift from the last frame sent to a check.
            cut = any(
                ref is not None and difference(thumb, ref) > self.settings.scene_cut
                for ref in (self._prev_thumb, self._last_thumb)
            )
            self._prev_thumb = thumb
            self._frames[frame.index] = (frame, time.monotonic(), thumb)
            self._ledger.add(frame.index, frame.timestamp_s, cut=cut)
            self.stats.frames_in += 1
            self._resolve()
            self._cond.notify_all()
            if not self.settings.live:
                self._wait_until_idle()

    def _wait_until_idle(self) -> None:
        """Lockstep (files): wait until every check the frames so far make due has run.

        So the checks chosen never depend on thread timing: the same file gives the same output.
        """
        while self._error is None and not (self._in_flight is None and self._idle_at == self.stats.frames_in):
            self._watchdog()
            self._cond.wait(0.02)
        self._raise_if_dead()

    def collect(self, timeout: float = 0.0) -> list[AllowedFrame]:
        """Frames now decided, in order; waits up to ``timeout`` s for at least one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._ready and self._error is None and (left := deadline - time.monotonic()) > 0:
                self._watchdog()
                self._cond.wait(min(left, 0.02))
            self._watchdog()
            out = list(self._ready)
            self._ready.clear()
            if not out:
                self._raise_if_dead()
            return out

    def process(self, frame: Frame) -> list[AllowedFrame]:
        """``submit`` then ``collect(0)``: the simple loop for files."""
        self.submit(frame)
        return self.collect()

    def finish(self, timeout_s: float = 30.0) -> list[AllowedFrame]:
        """End of stream: wait for the last checks; frames still undecided become placeholders."""
        with self._cond:
            self._ledger.end()
            self._cond.notify_all()
        out: list[AllowedFrame] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out += self.collect(timeout=0.05)
            with self._cond:
                if not self._ledger.pending or self._error is not None:
                    break
        with self._cond:
            self._give_up_pending()  # the stream ended before its checks finished
            out += list(self._ready)
            self._ready.clear()
        self.stats.ended_s = time.monotonic()
        return out

    def close(self) -> None:
        """Stop the worker (a hung check is abandoned: the thread is a daemon)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._worker.join(timeout=1.0)
        if not self.stats.ended_s:
            self.stats.ended_s = time.monotonic()

    # -- worker -----------------------------------------------------------------------------

    def _start_worker(self) -> threading.Thread:
        worker = threading.Thread(target=self._run, args=(self._generation,), name="captureguard-stream", daemon=True)
        worker.start()
        return worker

    def _run(self, generation: int) -> None:
        try:
            while (job := self._next_job(generation)) is not None:
                index, frame = job
                t0 = time.monotonic()
                verdict = self._check(frame)
                self._finish_check(generation, index, verdict, (time.monotonic() - t0) * 1e3)
        except BaseException as exc:  # surfaced in the caller; pending frames become placeholders
            log.error("stream guard worker died: %r", exc)
            with self._cond:
                self._error = exc
                self._give_up_pending()
                self._cond.notify_all()

    def _next_job(self, generation: int) -> tuple[int, Frame] | None:
        with self._cond:
            while not self._stop.is_set() and generation == self._generation:
                if self._in_flight is None:
                    if (index := self._ledger.next_check()) is not None:
                        frame, _, thumb = self._frames[index]
                        self._in_flight, self._last_thumb = (index, time.monotonic()), thumb
                        return index, frame
                    self._idle_at = self.stats.frames_in  # nothing due among the frames so far
                    self._cond.notify_all()
                self._cond.wait(0.05)
            return None

    def _check(self, frame: Frame) -> Verdict:
        try:
            return self._checker.check(frame)
        except Exception as exc:  # a checker that raises blocks, it does not stop the stream
            log.error("check of frame %d failed, blocked: %s", frame.index, exc)
            return Verdict.failure("error", f"{type(exc).__name__}: {exc}")

    def _finish_check(self, generation: int, index: int, verdict: Verdict, ms: float) -> None:
        with self._cond:
            if generation != self._generation or self._in_flight is None or self._in_flight[0] != index:
                return  # abandoned by the watchdog: its timeout block stands
            self._in_flight = None
            self._record(index, verdict, ms)
            self._resolve()
            self._cond.notify_all()

    # -- under the lock -----------------------------------------------------------------------

    def _record(self, index: int, verdict: Verdict, ms: float) -> None:
        self.stats.checks += 1
        self.stats.check_ms.append(ms)
        if verdict.decision is not Decision.ALLOW:
            self.stats.blocks += 1
            self.stats.failures += verdict.failed
            self._last_block = verdict
            frame = self._frames[index][0]
            if len(self.stats.block_events) < MAX_BLOCK_EVENTS:
                self.stats.block_events.append((index, frame.timestamp_s, [r.code for r in verdict.reasons]))
        self._verdicts[index] = verdict
        self._ledger.record(index, allowed=verdict.decision is Decision.ALLOW)

    def _watchdog(self) -> None:
        if self._in_flight is not None and time.monotonic() - self._in_flight[1] > self._deadline_s:
            index = self._in_flight[0]
            log.warning("check of frame %d exceeded %.0f ms: blocked", index, self._deadline_s * 1e3)
            self._in_flight, self._generation = None, self._generation + 1
            self._record(index, Verdict.failure("timeout", f"check took longer than {self._deadline_s} s"), 0.0)
            self._resolve()
            self._worker = self._start_worker()  # the hung thread is abandoned (daemon)
            self._cond.notify_all()
        elif not self._worker.is_alive() and not self._stop.is_set() and self._error is None:
            self._error = DetectionError("the stream guard's worker thread stopped unexpectedly")
            self._give_up_pending()

    def _resolve(self, fates: list[tuple[int, Fate]] | None = None) -> None:
        for index, fate in self._ledger.resolve() if fates is None else fates:
            frame, t_in, _ = self._frames.pop(index)
            verdict = self._verdicts.pop(index, None)
            if verdict is not None:
                self._prev_verdict = verdict
            if fate is Fate.DROPPED:
                self.stats.dropped += 1
                continue
            if fate is Fate.CHECKED and verdict is not None:
                item, self.stats.released_checked = (
                    mint_frame(frame, Release.CHECKED, verdict),
                    self.stats.released_checked + 1,
                )
            elif fate is Fate.COVERED:
                item = mint_frame(frame, Release.COVERED, self._prev_verdict)
                self.stats.released_covered += 1
            else:
                item = mint_frame(self._placeholder_of(frame), Release.PLACEHOLDER, verdict or self._last_block)
                self.stats.placeholders += 1
            self.stats.latency_ms.append((time.monotonic() - t_in) * 1e3)
            self._ready.append(item)

    def _give_up_pending(self) -> None:
        self._resolve(self._ledger.abandon())

    def _placeholder_of(self, frame: Frame) -> Frame:
        if self._placeholder == "blur":
            pixels = placeholder(frame.bgr, mode="blur", notice=self._notice)
        else:
            key = (frame.height, frame.width)
            if key not in self._black:
                self._black[key] = placeholder(frame.bgr, mode="black", notice=self._notice)
            pixels = self._black[key]
        return Frame.from_bgr(pixels, index=frame.index, timestamp_s=frame.timestamp_s, source=frame.source, copy=False)

    def _raise_if_dead(self) -> None:
        if self._error is not None:
            raise DetectionError(f"stream guard stopped: {self._error!r}") from self._error

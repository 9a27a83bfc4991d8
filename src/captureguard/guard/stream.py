"""StreamGuard: the threaded shell around :class:`~captureguard.core.ledger.StreamLedger`.

The caller submits frames in order and collects one :class:`AllowedFrame` per frame (released, or
withheld with the guard's placeholder pixels), in the same order. With a recording held apart
(``StreamSettings.record_hold_s``) a second ledger, fed the same frames and checks, decides a second
output for the sinks that keep the stream (:meth:`StreamGuard.collect_recording`; collect it, or it
grows). One worker thread runs the checks the ledger asks for through the one
:class:`~captureguard.guard.deadline.DeadlineRunner`. Every failure blocks: a check that raises or
returns a failure verdict blocks (``FAILED``); a check that overruns ``deadline_s`` is abandoned and
blocks as a ``timeout``; a dead worker turns every pending frame into a placeholder and its
exception is re-raised in the caller.

Schedules (:data:`~captureguard.core.ledger.Schedule`): ``lockstep`` (files, the web viewfinder)
returns from :meth:`StreamGuard.submit` only once every check the frame made due has run, so the
output never depends on thread timing; ``latest`` (live cameras) never waits and skips ahead.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from captureguard.core.detection import Detections
from captureguard.core.frame import Frame
from captureguard.core.ledger import Fate, Outcome, StreamLedger, StreamSettings
from captureguard.core.region import Box
from captureguard.core.scene import difference, thumbnail
from captureguard.core.verdict import Decision, Reason, Verdict
from captureguard.errors import DetectionError
from captureguard.guard.allowed import AllowedFrame, Release, mint_frame
from captureguard.guard.check import Inspection
from captureguard.guard.deadline import DeadlineExceededError, DeadlineRunner
from captureguard.guard.follow import FrameChecker, Look, look, next_focus, rule_for
from captureguard.guard.placeholder import Placeholder, placeholder

log = logging.getLogger(__name__)

STATS_WINDOW = 100_000
MAX_BLOCK_EVENTS = 10_000
#: Thumbnails of blocked frames kept per block episode; past this many, the episode can end only
#: by K confident checks (a stream that keeps blocking is not reopened by a guess about scenes).
MAX_BLOCKED_SCENES = 64
#: The verdict carried by a withheld frame that no check decided (not checked, not covered).
UNCOVERED = Verdict(Decision.BLOCK, 1.0, (Reason("uncovered", 1.0, "", "not covered by safe checks on both sides"),))


__all__ = ["FrameChecker", "StreamGuard", "StreamStats"]


@dataclass(frozen=True)
class _Pending:
    """A ledger payload: the frame, when it was submitted (monotonic s), and its thumbnail."""

    frame: Frame
    submitted_s: float
    thumb: np.ndarray


@dataclass
class StreamStats:
    """Counters of one stream (no pixels). Latencies are wall-clock ms from submit to output."""

    frames_in: int = 0
    released_checked: int = 0
    released_covered: int = 0
    placeholders: int = 0  # withheld frames sent on as placeholders
    dropped: int = 0  # withheld frames the sinks do not get (``withheld="drop"``)
    uncovered: int = 0  # of the withheld: not checked and not covered (the rest were blocked)
    checks: int = 0
    #: With a recording held apart (``StreamSettings.record_hold_s``): frames the recording output
    #: released, and those it withheld (more than the live output: the frames taken back).
    recorded_released: int | None = None
    recorded_withheld: int | None = None
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
        recording: dict[str, float | int] = {}
        if self.recorded_released is not None and self.recorded_withheld is not None:
            recording = {"recorded_released": self.recorded_released, "recorded_withheld": self.recorded_withheld}
        return {
            "frames_in": self.frames_in,
            "released": self.released_checked + self.released_covered,
            "released_checked": self.released_checked,
            "released_covered": self.released_covered,
            "placeholders": self.placeholders,
            "dropped": self.dropped,
            "uncovered": self.uncovered,
            "checks": self.checks,
            "blocked_checks": self.blocks,
            "failed_checks": self.failures,
            "latency_ms_p50": round(_quantile(self.latency_ms, 0.5), 1),
            "latency_ms_p99": round(_quantile(self.latency_ms, 0.99), 1),
            "check_ms_p50": round(_quantile(self.check_ms, 0.5), 1),
            "throughput_fps": round(self.frames_in / elapsed, 2) if elapsed > 0 else 0.0,
        } | recording


def _quantile(values: deque[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q * 100) - 1))]


class StreamGuard:
    """Guards one stream: submit frames in order, collect what may reach sinks in order.

    Args:
        checker: runs one check (normally ``Checker.create(mode="live")``). With ``inspect``
            (a :class:`~captureguard.guard.check.Checker`), the guard also re-checks the crop that
            caused a block while the stream is shut (``settings.follow_region``).
        settings: the ledger's settings (gap, hysteresis, cuts, schedule, withheld frames).
        deadline_s: a check running longer than this is abandoned and blocks as a timeout (a check
            that also looks at the crop of a block: twice this).
        placeholder: how withheld frames look (:data:`Placeholder`).
        notice: the line drawn on placeholders.
    """

    def __init__(
        self,
        checker: FrameChecker,
        settings: StreamSettings | None = None,
        *,
        deadline_s: float = 0.5,
        placeholder: Placeholder = "black",
        notice: str = "Hidden by captureguard",
    ) -> None:
        self.settings = settings or StreamSettings()
        self.stats = StreamStats()
        self._checker = checker
        self._deadline_ms = deadline_s * 1e3  # the whole frame's check (and its second look) must fit it
        self._runner = DeadlineRunner(self._look, deadline_s=deadline_s, name="captureguard-stream-check")
        # A check with a crop is two checks (whole frame + crop): twice the deadline.
        self._runner2 = DeadlineRunner(self._look, deadline_s=2 * deadline_s, name="captureguard-stream-crop")
        # A safe check counts toward reopening only below this fused score (the margin).
        self._confident_score = self.settings.confident_below * float(getattr(checker, "block_score", 1.0))
        self._rule = rule_for(checker)
        self._focus: Box | None = None  # the crop re-checked while shut (frame pixels)
        self._placeholder, self._notice = placeholder, notice
        self._ledger: StreamLedger[_Pending, Verdict] = StreamLedger(self.settings)
        # The recording's ledger (record_hold_s): same frames, same checks, a longer hold.
        self._record: StreamLedger[_Pending, Verdict] | None = None
        if self.settings.records_apart:
            self._record = StreamLedger(self.settings.for_recording())
            self.stats.recorded_released = self.stats.recorded_withheld = 0
        self._cond = threading.Condition()
        self._ready: deque[AllowedFrame] = deque()
        self._record_ready: deque[AllowedFrame] = deque()
        self._in_flight: int | None = None  # index of the frame being checked
        self._last_thumb: np.ndarray | None = None  # of the last frame sent to a check
        self._prev_thumb: np.ndarray | None = None  # of the previous frame
        self._last_block: Verdict = UNCOVERED  # the verdict withheld frames cite while the hysteresis is shut
        self._blocked_thumbs: list[np.ndarray] = []  # of the frames that blocked since the stream shut
        self._jumps: deque[int] = deque(maxlen=MAX_BLOCK_EVENTS)  # frames that jumped from the one before
        self._recorded = -1  # index of the last check recorded
        self._black: dict[tuple[int, int], np.ndarray] = {}
        # Blurred placeholders the live output made, until the recording's output (which withholds
        # every frame the live one did) takes them: a frame is blurred once, not once per output.
        self._blurred: dict[int, np.ndarray] = {}
        self._idle_at = -1  # frames_in when the worker last found nothing to check
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._run, name="captureguard-stream", daemon=True)
        self._worker.start()

    def __enter__(self) -> StreamGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def records_apart(self) -> bool:
        """The recording has an output of its own (:meth:`collect_recording`)."""
        return self._record is not None

    @property
    def blocked(self) -> bool:
        """True while the stream is in a block (hysteresis shut): show the notice."""
        return self._ledger.blocked

    def submit(self, frame: Frame) -> None:
        """Add the next frame. With ``schedule="lockstep"`` it returns once every check this frame
        makes due has run (at most ``deadline_s`` each), so outputs are reproducible.

        Raises:
            DetectionError: the worker died (pending frames became placeholders first).
        """
        with self._cond:
            self._raise_if_dead()
            thumb = thumbnail(frame.bgr)
            # A cut: a jump from the previous frame, or drift from the last frame sent to a check.
            limit = self.settings.scene_cut
            jump = self._prev_thumb is not None and difference(thumb, self._prev_thumb) > limit
            cut = jump or (self._last_thumb is not None and difference(thumb, self._last_thumb) > limit)
            if jump:
                self._jumps.append(frame.index)
            self._prev_thumb = thumb
            pending = _Pending(frame, time.monotonic(), thumb)
            for ledger in self._ledgers():
                ledger.add(frame.index, frame.timestamp_s, cut=cut, payload=pending)
            self.stats.frames_in += 1
            self._settle()
            self._cond.notify_all()
            if self.settings.schedule == "lockstep":
                while self._error is None and not (self._in_flight is None and self._idle_at == self.stats.frames_in):
                    self._cond.wait(0.05)
                self._raise_if_dead()

    def collect(self, timeout: float = 0.0) -> list[AllowedFrame]:
        """Frames now decided, in order; waits up to ``timeout`` s for at least one."""
        return self._collect(self._ready, timeout)

    def collect_recording(self, timeout: float = 0.0) -> list[AllowedFrame]:
        """The recording's frames now decided, in order (only with :attr:`records_apart`; waits up to
        ``timeout`` s for at least one). Each frame submitted comes out here too, exactly once; a
        frame released here was also released by :meth:`collect`."""
        if self._record is None:
            raise RuntimeError("this guard has no recording output of its own (StreamSettings.record_hold_s)")
        return self._collect(self._record_ready, timeout)

    def _collect(self, ready: deque[AllowedFrame], timeout: float) -> list[AllowedFrame]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not ready and self._error is None and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(min(left, 0.05))
            self._notice_dead_worker()
            out = list(ready)
            ready.clear()
            if not out:
                self._raise_if_dead()
            return out

    def process(self, frame: Frame) -> list[AllowedFrame]:
        """``submit`` then ``collect(0)``: the simple loop for files."""
        self.submit(frame)
        return self.collect()

    def finish(self, timeout_s: float = 30.0) -> list[AllowedFrame]:
        """End of stream: wait for the last checks; frames still undecided become placeholders.
        Returns the live output's last frames; the recording's (:attr:`records_apart`) are then
        all in :meth:`collect_recording`."""
        with self._cond:
            for ledger in self._ledgers():
                ledger.end()
            self._settle()  # frames held back (hold_s) whose last check is in
            self._cond.notify_all()
        out: list[AllowedFrame] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out += self.collect(timeout=0.05)
            with self._cond:
                if not any(ledger.pending for ledger in self._ledgers()) or self._error is not None:
                    break
                self._settle()
        with self._cond:
            self._abandon()  # the stream ended before its checks finished
            out += list(self._ready)
            self._ready.clear()
        self.stats.ended_s = time.monotonic()
        return out

    def close(self) -> None:
        """Stop the worker (a hung check is abandoned: its thread is a daemon)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._worker.join(timeout=1.0)
        self._runner.close()
        self._runner2.close()
        if not self.stats.ended_s:
            self.stats.ended_s = time.monotonic()

    # -- worker -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while (job := self._next_job()) is not None:
                index, frame, focus = job
                t0 = time.monotonic()
                seen = self._check(frame, focus)
                self._finish_check(index, frame, seen, (time.monotonic() - t0) * 1e3)
        except BaseException as exc:  # surfaced in the caller; pending frames become placeholders
            log.error("stream guard worker died: %r", exc)
            with self._cond:
                self._error = exc
                self._abandon()
                self._cond.notify_all()

    def _next_job(self) -> tuple[int, Frame, Box | None] | None:
        with self._cond:
            while not self._stop.is_set():
                if (index := self._ledger.next_check()) is not None:
                    if self._record is not None:
                        self._record.queue(index)  # the recording sees the same checks
                    pending = self._ledger.payload(index)
                    self._in_flight, self._last_thumb = index, pending.thumb
                    return index, pending.frame, self._focus if self.settings.follow_region else None
                self._idle_at = self.stats.frames_in  # nothing due among the frames so far
                self._cond.notify_all()
                self._cond.wait(0.05)
            return None

    def _look(self, job: tuple[Frame, Box | None]) -> Look:
        return look(self._checker, *job, within_ms=self._deadline_ms)

    def _check(self, frame: Frame, focus: Box | None) -> Look:
        try:
            return (self._runner if focus is None else self._runner2).run((frame, focus))
        except DeadlineExceededError as exc:
            log.warning("check of frame %d blocked: %s", frame.index, exc)
            return _failed(Verdict.failure("timeout", f"check {exc}"))
        except Exception as exc:  # a checker that raises blocks, it does not stop the stream
            log.error("check of frame %d failed, blocked: %s", frame.index, exc)
            return _failed(Verdict.failure("error", f"{type(exc).__name__}: {exc}"))

    def _finish_check(self, index: int, frame: Frame, seen: Look, ms: float) -> None:
        verdict = seen.verdict
        with self._cond:
            self._in_flight = None
            self.stats.checks += 1
            self.stats.check_ms.append(ms)
            if verdict.decision is not Decision.ALLOW:
                self._last_block = verdict
                self.stats.blocks += 1
                self.stats.failures += verdict.failed
                if len(self.stats.block_events) < MAX_BLOCK_EVENTS:
                    t_s = self._ledger.payload(index).frame.timestamp_s
                    self.stats.block_events.append((index, t_s, [r.code for r in verdict.reasons]))
            allowed = verdict.decision is Decision.ALLOW
            confident = seen.confident(self._confident_score)
            thumb = self._ledger.payload(index).thumb
            jumped = self._jumped_since_last_check(index)  # always: it also moves past this check
            new_scene = allowed and jumped and self._left_blocked_scene(thumb)
            warn = verdict.decision is Decision.WARN
            for ledger in self._ledgers():
                ledger.record(
                    index, allowed=allowed, result=verdict, confident=confident, new_scene=new_scene, warn=warn
                )
            self._remember_scene(thumb, allowed=allowed)
            self._follow(seen, frame)
            self._settle()
            self._cond.notify_all()

    # -- under the lock -----------------------------------------------------------------------

    def _ledgers(self) -> tuple[StreamLedger[_Pending, Verdict], ...]:
        return (self._ledger,) if self._record is None else (self._ledger, self._record)

    def _settle(self) -> None:
        """Pop every frame whose fate is settled, from the live ledger and the recording's."""
        self._resolve(self._ledger.resolve())
        if self._record is not None:
            self._resolve_recording(self._record.resolve())

    def _abandon(self) -> None:
        """Give up every undecided frame in both ledgers (none is released)."""
        self._resolve(self._ledger.abandon())
        if self._record is not None:
            self._resolve_recording(self._record.abandon())

    def _jumped_since_last_check(self, index: int) -> bool:
        """A frame after the previous check, up to this one, jumped from the frame before it (a cut).

        Drift does not count: a pan, a zoom or a moving background slowly changes the whole
        frame while the cause of the block may still be in view.
        """
        jumped = any(self._recorded < j <= index for j in self._jumps)
        while self._jumps and self._jumps[0] <= index:
            self._jumps.popleft()
        self._recorded = index
        return jumped

    def _left_blocked_scene(self, thumb: np.ndarray) -> bool:
        """The frame no longer looks like any frame that blocked since the stream shut (a new scene)."""
        kept = self._blocked_thumbs
        if not kept or len(kept) > MAX_BLOCKED_SCENES:
            return False
        return all(difference(thumb, blocked) > self.settings.scene_cut for blocked in kept)

    def _remember_scene(self, thumb: np.ndarray, *, allowed: bool) -> None:
        """Keep what blocked while the stream is shut; forget it once the stream reopens."""
        if not self._ledger.blocked:
            self._blocked_thumbs.clear()
        elif not allowed and len(self._blocked_thumbs) <= MAX_BLOCKED_SCENES:
            self._blocked_thumbs.append(thumb)  # one past the bound marks the overflow

    def _follow(self, seen: Look, frame: Frame) -> None:
        """Keep (and move) the focus while the stream is shut; forget it once it reopens."""
        if not self.settings.follow_region or not self._ledger.blocked:
            self._focus = None
            return
        if self._focus is None and seen.verdict.score < self.settings.follow_min_score:
            return  # weak evidence (a warn, a borderline block): the whole frame decides
        self._focus = next_focus(seen, self._focus, self._rule, width=frame.width, height=frame.height)

    def _resolve(self, outcomes: list[Outcome[_Pending, Verdict]]) -> None:
        for outcome in outcomes:
            frame = outcome.payload.frame
            if outcome.fate.released and outcome.result is not None:
                release = Release.CHECKED if outcome.fate is Fate.CHECKED else Release.COVERED
                item = mint_frame(frame, release, outcome.result)
                if release is Release.CHECKED:
                    self.stats.released_checked += 1
                else:
                    self.stats.released_covered += 1
            else:
                item = self._withheld(outcome)
                if self._record is not None:
                    self._record.withhold(outcome.index)  # the recording keeps none the viewer missed
            self.stats.latency_ms.append((time.monotonic() - outcome.payload.submitted_s) * 1e3)
            self._ready.append(item)

    def _resolve_recording(self, outcomes: list[Outcome[_Pending, Verdict]]) -> None:
        assert self.stats.recorded_released is not None and self.stats.recorded_withheld is not None
        for outcome in outcomes:
            frame = outcome.payload.frame
            if outcome.fate.released and outcome.result is not None:
                release = Release.CHECKED if outcome.fate is Fate.CHECKED else Release.COVERED
                self.stats.recorded_released += 1
                self._record_ready.append(mint_frame(frame, release, outcome.result))
            else:
                self.stats.recorded_withheld += 1
                self._record_ready.append(self._withheld(outcome, live=False))

    def _withheld(self, outcome: Outcome[_Pending, Verdict], *, live: bool = True) -> AllowedFrame:
        """The placeholder of a withheld frame (``live``: of the live output, in its counters; else of
        the recording's)."""
        verdict = outcome.result
        if outcome.fate is Fate.BLOCKED:
            if verdict is None or verdict.decision is Decision.ALLOW:
                verdict = self._last_block  # allowed, but the stream was still blocked (hysteresis)
            release = Release.FAILED if verdict.failed else Release.BLOCKED
        else:
            verdict, release = UNCOVERED, Release.UNCOVERED
            self.stats.uncovered += live
        if live and self.settings.withheld == "drop":
            self.stats.dropped += 1
        elif live:
            self.stats.placeholders += 1
        return mint_frame(self._placeholder_of(outcome.payload.frame, live=live), release, verdict)

    def _placeholder_of(self, frame: Frame, *, live: bool) -> Frame:
        if self._placeholder == "blur":
            pixels = None if live else self._blurred.pop(frame.index, None)
            if pixels is None:
                pixels = placeholder(frame.bgr, mode="blur", notice=self._notice)
            if live and self._record is not None:
                self._blurred[frame.index] = pixels
        else:
            key = (frame.height, frame.width)
            if key not in self._black:
                self._black[key] = placeholder(frame.bgr, mode="black", notice=self._notice)
            pixels = self._black[key]
        return Frame.from_bgr(pixels, index=frame.index, timestamp_s=frame.timestamp_s, source=frame.source, copy=False)

    def _notice_dead_worker(self) -> None:
        if not self._worker.is_alive() and not self._stop.is_set() and self._error is None:
            self._error = DetectionError("the stream guard's worker thread stopped unexpectedly")
            self._abandon()

    def _raise_if_dead(self) -> None:
        if self._error is not None:
            raise DetectionError(f"stream guard stopped: {self._error!r}") from self._error


def _failed(verdict: Verdict) -> Look:
    return Look(Inspection(verdict, Detections.empty()))

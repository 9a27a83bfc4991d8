"""Property tests of the stream ledger: the safety invariant holds for any frame sequence.

Random streams (scene cuts, check outcomes, check latencies in frames) under random settings
(``max_gap``, hysteresis, delay line) and both schedules are driven through
:class:`~captureguard.core.ledger.StreamLedger`; the invariant of ``tests/support/invariant.py``
must hold after every step, and every frame must get exactly one fate, in order. A rule-based
state machine then explores interleavings no driver would produce in order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from captureguard.core.ledger import Fate, Outcome, StreamLedger, StreamSettings
from tests.support.invariant import Trace, violations

pytestmark = pytest.mark.fuzz

FPS = 30.0


@st.composite
def stream_settings(draw: st.DrawFn) -> StreamSettings:
    max_gap = draw(st.integers(0, 6))
    return StreamSettings(
        max_gap=max_gap,
        reopen_checks=draw(st.integers(1, 4)),
        reopen_s=draw(st.sampled_from([0.0, 0.05, 0.1, 0.5])),
        max_delay_frames=max_gap + 2 + draw(st.integers(0, 8)),
        schedule=draw(st.sampled_from(["lockstep", "latest"])),
        reopen_on_cut=draw(st.booleans()),
        hold_s=draw(st.sampled_from([0.0, 0.0, 0.1, 0.3])),
        hold_after=draw(st.sampled_from(["shut", "flag"])),
    )


@dataclass(frozen=True)
class FrameSpec:
    scene: int  # what the frame shows; a change of scene is a cut
    cut: bool  # a cut flag anyway (the guard also flags drift from the last checked frame)
    allowed: bool  # what its check would say (block, error and hang all say "not allowed" here)
    latency: int  # frames that arrive while its check runs (latest schedule only)


frame_specs = st.builds(
    FrameSpec,
    scene=st.sampled_from([0, 0, 0, 1, 2]),
    cut=st.booleans().map(lambda b: b and True),
    allowed=st.sampled_from([True, True, True, False]),
    latency=st.integers(0, 5),
)


def _take(trace: Trace, outcomes: list[Outcome[int, str]]) -> None:
    for o in outcomes:
        assert o.payload == o.index  # the payload travels with its frame
        trace.outcomes.append((o.index, o.fate.released, o.fate.value))
        if o.fate.released:
            assert o.result is not None and o.result.startswith("allow"), o


class Ledgers:
    """The live ledger and, given a ``recording`` trace, the recording's (``record_hold_s``), fed
    as StreamGuard feeds them: the same frames and checks, the recording following the live
    schedule and withholding every frame the live output withheld."""

    def __init__(self, settings: StreamSettings, trace: Trace, recording: Trace | None) -> None:
        self.live: StreamLedger[int, str] = StreamLedger(settings)
        self.trace, self.recording = trace, recording
        self.twin: StreamLedger[int, str] | None = None
        if recording is not None:
            assert settings.records_apart
            self.twin = StreamLedger(settings.for_recording())
        self.all = [self.live] if self.twin is None else [self.live, self.twin]

    def add(self, index: int, t_s: float, *, cut: bool) -> None:
        for each in self.all:
            each.add(index, t_s, cut=cut, payload=index)

    def next_check(self) -> int | None:
        index = self.live.next_check()
        if index is not None and self.twin is not None:
            self.twin.queue(index)
        return index

    def record(self, index: int, *, allowed: bool, new_scene: bool) -> None:
        result = f"{'allow' if allowed else 'block'}:{index}"
        for each in self.all:
            each.record(index, allowed=allowed, result=result, new_scene=new_scene)

    def settle(self, *, abandon: bool = False) -> None:
        outcomes = self.live.abandon() if abandon else self.live.resolve()
        _take(self.trace, outcomes)
        if self.twin is not None and self.recording is not None:
            for o in outcomes:
                if not o.fate.released and not abandon:
                    self.twin.withhold(o.index)
            _take(self.recording, self.twin.abandon() if abandon else self.twin.resolve())

    def end(self) -> None:
        for each in self.all:
            each.end()

    @property
    def pending(self) -> bool:
        return any(each.pending for each in self.all)


def drive(settings: StreamSettings, frames: list[FrameSpec], recording: Trace | None = None) -> Trace:
    """Feed ``frames`` through a ledger the way StreamGuard does (lockstep: checks run between
    frames; latest: a check takes ``latency`` frame periods), then end the stream. ``recording``
    (with ``settings.records_apart``): filled with the outcomes of the recording's ledger."""
    trace = Trace(settings, scenes={i: f.scene for i, f in enumerate(frames)})
    ledgers = Ledgers(settings, trace, recording)
    in_flight: list[int] = []  # [index, frames left]
    blocked: set[int] = set()  # scenes that blocked since the stream shut (as StreamGuard keeps them)

    def finish(index: int) -> None:
        allowed, scene = frames[index].allowed, frames[index].scene
        ledgers.record(index, allowed=allowed, new_scene=allowed and bool(blocked) and scene not in blocked)
        trace.checks.append((index, allowed))
        if not ledgers.live.blocked:
            blocked.clear()
        elif not allowed:
            blocked.add(scene)

    def pump() -> None:
        nonlocal in_flight
        if settings.schedule == "lockstep":
            while (index := ledgers.next_check()) is not None:
                finish(index)
        else:
            if in_flight:
                in_flight[1] -= 1
                if in_flight[1] <= 0:
                    finish(in_flight[0])
                    in_flight = []
            if not in_flight and (index := ledgers.next_check()) is not None:
                in_flight = [index, frames[index].latency]
                if in_flight[1] == 0:
                    finish(index)
                    in_flight = []
        ledgers.settle()

    for i, spec in enumerate(frames):
        cut = spec.cut or (i > 0 and spec.scene != frames[i - 1].scene)
        ledgers.add(i, i / FPS, cut=cut)
        trace.added.append((i, i / FPS, cut))
        ledgers.settle()
        pump()
        assert not violations(trace), violations(trace)
    ledgers.end()
    for _ in range(4 * len(frames) + 10):
        pump()
        if not ledgers.pending:
            break
    ledgers.settle(abandon=True)
    return trace


@given(settings=stream_settings(), frames=st.lists(frame_specs, min_size=1, max_size=80))
def test_no_frame_is_released_unless_checked_safe_or_covered(settings: StreamSettings, frames: list[FrameSpec]) -> None:
    trace = drive(settings, frames)
    note(f"outcomes: {trace.outcomes}")
    assert violations(trace, complete=True) == []


@given(settings=stream_settings(), frames=st.lists(frame_specs, min_size=1, max_size=80))
def test_a_hold_only_takes_frames_back(settings: StreamSettings, frames: list[FrameSpec]) -> None:
    # The recording hold-back (hold_s) never releases a frame the same stream without it withholds:
    # the checks and the hysteresis are the same, only the release waits and may be taken back.
    # (Lockstep, the file schedule: under "latest" the delay line's overload bound counts only the
    # frames past the hold, so a live overload may give up other frames; the invariant still holds.)
    settings = dataclasses.replace(settings, schedule="lockstep")
    held = drive(dataclasses.replace(settings, hold_s=0.3), frames)
    plain = drive(dataclasses.replace(settings, hold_s=0.0), frames)
    released = {i for i, r, _ in held.outcomes if r}
    assert released <= {i for i, r, _ in plain.outcomes if r}
    assert [i for i, _, _ in held.outcomes] == [i for i, _, _ in plain.outcomes]


@given(
    settings=stream_settings(),
    frames=st.lists(frame_specs, min_size=1, max_size=80),
    record_hold_s=st.sampled_from([0.1, 0.3, 0.5]),
)
def test_a_recording_held_apart_is_the_stream_with_that_hold(
    settings: StreamSettings, frames: list[FrameSpec], record_hold_s: float
) -> None:
    # StreamSettings.record_hold_s: a second ledger follows the live one's schedule and is fed the
    # same checks. The live output is unchanged; the recording releases exactly what one ledger with
    # that hold releases, except the frames the live output withheld (both schedules: under "latest"
    # the live overload bound can give up a frame the held ledger would still see covered).
    live = dataclasses.replace(settings, hold_s=0.0)
    apart = dataclasses.replace(live, record_hold_s=record_hold_s)
    recording = Trace(apart.for_recording(), scenes={i: f.scene for i, f in enumerate(frames)})
    shown = drive(apart, frames, recording)
    recording.added, recording.checks = shown.added, shown.checks
    note(f"live: {shown.outcomes}\nrecording: {recording.outcomes}")
    assert shown.outcomes == drive(live, frames).outcomes
    held = drive(dataclasses.replace(live, hold_s=record_hold_s), frames).outcomes
    assert [i for i, _, _ in recording.outcomes] == [i for i, _, _ in held] == list(range(len(frames)))
    released_live = {i for i, r, _ in shown.outcomes if r}
    assert {i for i, r, _ in recording.outcomes if r} == {i for i, r, _ in held if r} & released_live
    assert violations(recording, complete=True) == []


@given(settings=stream_settings(), frames=st.lists(frame_specs, min_size=1, max_size=60))
def test_lockstep_decides_every_frame_without_abandoning(settings: StreamSettings, frames: list[FrameSpec]) -> None:
    # Lockstep is the file schedule: ending the stream settles every frame by checks alone.
    s = StreamSettings(
        max_gap=settings.max_gap,
        reopen_checks=settings.reopen_checks,
        reopen_s=settings.reopen_s,
        schedule="lockstep",
        hold_s=settings.hold_s,
        hold_after=settings.hold_after,
    )
    ledger: StreamLedger[int, str] = StreamLedger(s)
    fates: list[Outcome[int, str]] = []
    for i, spec in enumerate(frames):
        ledger.add(i, i / FPS, cut=spec.cut, payload=i)
        while (index := ledger.next_check()) is not None:
            ledger.record(index, allowed=frames[index].allowed, result="allow" if frames[index].allowed else "x")
        fates += ledger.resolve()
    ledger.end()
    while (index := ledger.next_check()) is not None:
        ledger.record(index, allowed=frames[index].allowed, result="allow" if frames[index].allowed else "x")
    fates += ledger.resolve()
    assert [o.index for o in fates] == list(range(len(frames)))
    assert ledger.pending == 0
    # With no blocks, no cuts and a gap that fits, lockstep releases everything.
    if all(f.allowed for f in frames) and not any(f.cut for f in frames):
        assert all(o.fate.released for o in fates), [o.fate for o in fates]


class LedgerMachine(RuleBasedStateMachine):
    """Any interleaving of add / check / record / resolve / end keeps the invariant."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger: StreamLedger[int, str] = StreamLedger()
        self.trace = Trace(StreamSettings())
        self.in_flight: list[int] = []
        self.next_index = 0
        self.t_s = 0.0
        self.ended = False
        self.blocked: set[int] = set()  # scenes that blocked since the stream shut

    @initialize(settings=stream_settings())
    def start(self, settings: StreamSettings) -> None:
        self.ledger = StreamLedger(settings)
        self.trace = Trace(settings)

    @precondition(lambda self: not self.ended)
    @rule(
        cut=st.booleans(),
        scene=st.integers(0, 2),
        skip=st.integers(1, 3),
        dt=st.sampled_from([1 / 30, 1 / 15, 0.2]),
    )
    def add(self, cut: bool, scene: int, skip: int, dt: float) -> None:
        # Indices increase but may jump (a source that drops frames), timestamps grow.
        index = self.next_index
        self.next_index += skip
        self.t_s += dt
        cut = cut or (bool(self.trace.added) and scene != self.trace.scenes[self.trace.added[-1][0]])
        self.ledger.add(index, self.t_s, cut=cut, payload=index)
        self.trace.added.append((index, self.t_s, cut))
        self.trace.scenes[index] = scene

    @rule()
    def schedule(self) -> None:
        index = self.ledger.next_check()
        if index is not None:
            assert not self.in_flight, "two checks in flight"
            self.in_flight.append(index)

    @precondition(lambda self: bool(self.in_flight))
    @rule(allowed=st.booleans())
    def record(self, allowed: bool) -> None:
        index = self.in_flight.pop()
        scene = self.trace.scenes[index]
        new = allowed and bool(self.blocked) and scene not in self.blocked
        self.ledger.record(index, allowed=allowed, result=f"{'allow' if allowed else 'block'}:{index}", new_scene=new)
        self.trace.checks.append((index, allowed))
        if not self.ledger.blocked:
            self.blocked.clear()
        elif not allowed:
            self.blocked.add(scene)

    @rule()
    def resolve(self) -> None:
        _take(self.trace, self.ledger.resolve())

    @precondition(lambda self: not self.ended)
    @rule()
    def end(self) -> None:
        self.ledger.end()
        self.ended = True

    @precondition(lambda self: self.ended)
    @rule()
    def abandon(self) -> None:
        outcomes = self.ledger.abandon()
        assert all(o.fate in (Fate.BLOCKED, Fate.UNCOVERED) for o in outcomes)
        _take(self.trace, outcomes)
        self.in_flight.clear()

    @invariant()
    def safe_and_in_order(self) -> None:
        assert violations(self.trace) == []
        assert self.ledger.pending == len(self.trace.added) - len(self.trace.outcomes)

    def teardown(self) -> None:
        # Finish the stream: every frame still in the line gets a fate, and the invariant holds.
        self.ledger.end()
        for _ in range(len(self.trace.added) + 2):
            if self.in_flight:
                self.record(True)
            self.schedule()
            self.resolve()
        _take(self.trace, self.ledger.abandon())
        assert violations(self.trace, complete=True) == []


TestLedgerMachine = LedgerMachine.TestCase

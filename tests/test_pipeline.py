"""The guarded pipeline with fakes: order, recording policy, faults, and no hangs."""

from __future__ import annotations

import threading

import pytest

from captureguard.core.ledger import StreamSettings
from captureguard.errors import BadInputError
from captureguard.guard.allowed import AllowedFrame
from captureguard.guard.stream import StreamGuard
from captureguard.pipeline import RunReport, run_guarded
from captureguard.testing import ListSource, MemorySink
from tests.guard.test_streamguard import NUDE, SAFE, ScriptedChecker, frames


def guarded(
    n: int,
    unsafe: set[int],
    *,
    on_block: str = "placeholder",
    source: ListSource | None = None,
    record_hold_s: float = 0.0,
    recorder: MemorySink | None = None,
) -> tuple[RunReport, MemorySink, ListSource]:
    src = source or ListSource(frames(n))
    sink = MemorySink()
    settings = StreamSettings(max_gap=1, reopen_checks=1, reopen_s=0, record_hold_s=record_hold_s)
    guard = StreamGuard(ScriptedChecker(lambda i: NUDE if i in unsafe else SAFE), settings)
    recorders = [] if recorder is None else [recorder]
    result: list[RunReport] = []
    error: list[BaseException] = []

    def body() -> None:
        try:
            result.append(run_guarded(src, guard, [sink], recorders=recorders, on_block=on_block))
        except BaseException as exc:
            error.append(exc)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "the pipeline hung"
    if error:
        raise error[0]
    return result[0], sink, src


def test_every_frame_reaches_the_sink_in_order() -> None:
    report, sink, src = guarded(25, set())
    assert [i.frame.index for i in sink.items] == list(range(25))
    assert report.written == 25 and report.stats["released"] == 25
    assert sink.closed and src.closed


def test_blocks_keep_recording_with_placeholders_by_default() -> None:
    report, sink, _ = guarded(20, {8, 9})
    assert len(sink.items) == 20
    assert {i.frame.index for i in sink.items if not i.release.released} >= {8, 9}
    assert any(i.release.is_block for i in sink.items)
    blocked_checks = {b[0] for b in report.blocks}
    assert blocked_checks and blocked_checks <= {8, 9}


def test_stop_on_block_ends_the_recording_before_the_block() -> None:
    report, sink, _ = guarded(40, {12}, on_block="stop")
    assert report.stopped_on_block
    assert all(i.release.released for i in sink.items)
    assert max(i.frame.index for i in sink.items) < 12
    assert sink.closed


def test_a_recording_held_apart_loses_the_frames_the_sinks_showed_just_before_a_block() -> None:
    # Checks at 0, 2, ...; the check of 20 blocks. The sinks (a viewfinder) show 0..18 at once; the
    # recorder, held 0.2 s (6 frames), gets 14..19 as placeholders too. Every frame reaches both.
    recorder = MemorySink()
    report, sink, _ = guarded(40, set(range(20, 26)), record_hold_s=0.2, recorder=recorder)
    assert [i.frame.index for i in sink.items] == [i.frame.index for i in recorder.items] == list(range(40))
    assert next(i.frame.index for i in sink.items if not i.release.released) == 19
    assert next(i.frame.index for i in recorder.items if not i.release.released) == 14
    assert report.written == report.recorded == 40 and recorder.closed
    assert report.stats["recorded_withheld"] == report.stats["placeholders"] + 5


def test_without_a_recording_hold_the_recorders_get_the_sinks_frames() -> None:
    recorder = MemorySink()
    report, sink, _ = guarded(20, {8, 9}, recorder=recorder)
    assert [(i.frame.index, i.release) for i in recorder.items] == [(i.frame.index, i.release) for i in sink.items]
    assert report.written == report.recorded == 20 and recorder.closed


def test_stop_on_block_ends_a_recording_held_apart_before_the_frames_it_takes_back() -> None:
    recorder = MemorySink()
    report, sink, _ = guarded(40, {20}, on_block="stop", record_hold_s=0.2, recorder=recorder)
    assert report.stopped_on_block and recorder.closed
    assert all(i.release.released for i in sink.items + recorder.items)
    assert max(i.frame.index for i in sink.items) < 20 and max(i.frame.index for i in recorder.items) < 14


def test_after_a_source_fault_the_sink_holds_only_frames_before_it() -> None:
    src = ListSource(frames(30), fail_after=17, fail_with=BadInputError("broken"))
    sink = MemorySink()
    guard = StreamGuard(ScriptedChecker(lambda i: SAFE), StreamSettings(max_gap=1))
    with pytest.raises(BadInputError):
        run_guarded(src, guard, [sink])
    assert [i.frame.index for i in sink.items] == list(range(17))
    assert sink.closed


class BrokenSink(MemorySink):
    def write(self, item: AllowedFrame) -> None:
        if item.frame.index == 5:
            raise OSError(28, "No space left on device")
        super().write(item)


def test_a_failing_sink_stops_the_run_without_hanging() -> None:
    sink, other = BrokenSink(), MemorySink()
    guard = StreamGuard(ScriptedChecker(lambda i: SAFE), StreamSettings(max_gap=1))
    with pytest.raises(OSError, match="No space"):
        run_guarded(ListSource(frames(200)), guard, [sink, other])
    assert sink.closed and other.closed
    assert max(i.frame.index for i in sink.items) < 5


def test_stop_event_ends_a_run_early() -> None:
    stop = threading.Event()
    sink = MemorySink()
    guard = StreamGuard(ScriptedChecker(lambda i: SAFE), StreamSettings(max_gap=1))
    report = run_guarded(
        ListSource(frames(100)), guard, [sink], on_frame=lambda f: stop.set() if f.index == 9 else None, stop=stop
    )
    assert 10 <= report.stats["frames_in"] <= 11
    assert len(sink.items) == report.stats["frames_in"]


def test_a_recording_output_without_recorders_is_drained() -> None:
    # A guard that holds a recording apart, run without recorders: its recording output must not
    # pile up (a camera with only a preview); the sinks get the live output.
    src = ListSource(frames(30))
    sink = MemorySink()
    guard = StreamGuard(ScriptedChecker(lambda i: SAFE), StreamSettings(max_gap=1, record_hold_s=0.3))
    report = run_guarded(src, guard, [sink])
    assert len(sink.items) == 30 and report.recorded == 30 and report.written == 30
    assert guard.collect_recording() == []  # nothing left behind

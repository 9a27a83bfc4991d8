"""StreamGuard with a scripted fake checker: order, blocks, failures, hangs, dead worker, overload."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Decision, Verdict
from captureguard.errors import DetectionError
from captureguard.guard.allowed import AllowedFrame, Release
from captureguard.guard.stream import StreamGuard
from tests.conftest import synthetic_bgr

SAFE = Verdict(Decision.ALLOW, 0.01)
NUDE = Verdict(Decision.BLOCK, 0.99)


class Die(BaseException):
    """Kills the worker thread (a bug outside the checker's own error handling)."""


@dataclass
class ScriptedChecker:
    """``script(index)`` returns a Verdict, raises, or sleeps; records what it checked."""

    script: Callable[[int], Verdict]
    delay_s: float = 0.0
    checked: list[int] = field(default_factory=list)

    def check(self, frame: Frame) -> Verdict:
        self.checked.append(frame.index)
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.script(frame.index)


def frames(n: int, *, cut_at: int | None = None) -> list[Frame]:
    base = synthetic_bgr(36, 64, seed=1)
    other = 255 - base  # a hard cut: every thumbnail sample changes
    out = []
    for i in range(n):
        pixels = (other if cut_at is not None and i >= cut_at else base).copy()
        pixels[0, 0] = i % 256  # each frame distinct, scene unchanged
        out.append(Frame.from_bgr(pixels, index=i, timestamp_s=i / 30))
    return out


def run(guard: StreamGuard, items: list[Frame], *, timeout_s: float = 10.0) -> list[AllowedFrame]:
    """Feed every frame and finish, in a thread, failing the test instead of hanging."""
    out: list[AllowedFrame] = []
    error: list[BaseException] = []

    def body() -> None:
        try:
            for f in items:
                out.extend(guard.process(f))
            out.extend(guard.finish(timeout_s=timeout_s))
        except BaseException as exc:
            error.append(exc)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(timeout_s + 5)
    assert not t.is_alive(), "the stream guard hung"
    guard.close()
    if error:
        raise error[0]
    return out


def test_file_mode_releases_every_safe_frame_in_order_with_the_same_pixels() -> None:
    src = frames(20)
    checker = ScriptedChecker(lambda i: SAFE)
    out = run(StreamGuard(checker, StreamSettings(max_gap=2)), src)
    assert [o.frame.index for o in out] == list(range(20))
    assert all(o.frame is f for o, f in zip(out, src, strict=True))
    assert {o.release for o in out} == {Release.CHECKED, Release.COVERED}
    assert checker.checked == [0, 3, 6, 9, 12, 15, 18, 19]


def test_unsafe_frames_become_placeholders_and_their_pixels_never_leave() -> None:
    src = frames(30)
    unsafe = set(range(10, 16))
    guard = StreamGuard(
        ScriptedChecker(lambda i: NUDE if i in unsafe else SAFE),
        StreamSettings(max_gap=1, reopen_checks=2, reopen_s=0.0),
    )
    out = run(guard, src)
    assert len(out) == 30
    for o, f in zip(out, src, strict=True):
        if f.index in unsafe:
            assert not o.release.released and o.release in (Release.BLOCKED, Release.UNCOVERED)
            assert not np.array_equal(o.frame.bgr, f.bgr)
            assert o.verdict.decision is Decision.BLOCK
    assert guard.stats.placeholders >= len(unsafe)
    assert guard.stats.to_dict()["blocked_checks"] >= 3


@pytest.mark.parametrize(("warn_shuts", "last_withheld"), [(True, 19), (False, 11)])
def test_a_warn_withholds_its_frames_and_shuts_the_stream_only_when_set(warn_shuts: bool, last_withheld: int) -> None:
    # max_gap 1: checks at 0, 2, 4...; the warn at 10 withholds 9..11 (its frame and the unchecked
    # ones beside it). Shutting, it withholds on until 5 safe checks over 0.2 s (12..20) reopen at 20.
    warn = Verdict(Decision.WARN, 0.4)
    settings = StreamSettings(max_gap=1, reopen_checks=5, reopen_s=0.2, warn_shuts=warn_shuts, warn_run=1)
    out = run(StreamGuard(ScriptedChecker(lambda i: warn if i == 10 else SAFE), settings), frames(30))
    assert [o.frame.index for o in out] == list(range(30))
    assert [o.frame.index for o in out if not o.release.released] == list(range(9, last_withheld + 1))


def test_a_hold_takes_back_the_frames_before_a_block_and_their_pixels_never_leave() -> None:
    # A picture comes into view at frame 14 and is first blocked by the check of frame 20
    # (max_gap 1: checks at 0, 2, ...). Held 0.2 s (6 frames), the frames 14..19 shown before
    # it are taken back: placeholders citing the block; frames 0..13 are released.
    src = frames(40)
    settings = StreamSettings(max_gap=1, reopen_checks=2, reopen_s=0.0, hold_s=0.2)
    guard = StreamGuard(ScriptedChecker(lambda i: NUDE if 20 <= i < 26 else SAFE), settings)
    out = run(guard, src)
    assert [o.frame.index for o in out] == list(range(40))
    withheld = [o.frame.index for o in out if not o.release.released]
    assert withheld[0] == 14 and set(range(14, 27)) <= set(withheld)
    for o in out[14:20]:
        assert o.release is Release.BLOCKED and o.verdict is NUDE
        assert not np.array_equal(o.frame.bgr, src[o.frame.index].bgr)
    assert all(o.release.released for o in out[:14])
    assert out[-1].release.released  # the last frames, still held when the stream ends, come out


def test_a_held_stream_ends_without_waiting_for_a_check() -> None:
    # Every frame checked by the end: the frames still held are settled at once, not at the timeout.
    guard = StreamGuard(ScriptedChecker(lambda i: SAFE), StreamSettings(max_gap=0, hold_s=0.5))
    t0 = time.monotonic()
    out = run(guard, frames(20), timeout_s=5.0)
    assert time.monotonic() - t0 < 2.0
    assert [o.frame.index for o in out] == list(range(20)) and all(o.release.released for o in out)


def test_a_recording_held_apart_loses_the_frames_before_a_block_while_the_viewer_waits_for_nothing() -> None:
    # The same slide-in as above, the hold on the recording only (record_hold_s): the live output
    # releases 0..18 at once (19 lies beside the block); the recording takes 14..19 back, citing
    # the block, and releases nothing the live output withheld. One check per frame checked, not two.
    src = frames(40)
    settings = StreamSettings(max_gap=1, reopen_checks=2, reopen_s=0.0, record_hold_s=0.2)
    checker = ScriptedChecker(lambda i: NUDE if 20 <= i < 26 else SAFE)
    guard = StreamGuard(checker, settings)
    assert guard.records_apart
    live: list[AllowedFrame] = []
    recorded: list[AllowedFrame] = []
    for f in src:
        guard.submit(f)
        live += guard.collect()
        recorded += guard.collect_recording()
        if f.index == 12:  # lockstep: 12 checked, shown at once; recorded up to 0.2 s (6 frames) before it
            assert [o.frame.index for o in live] == list(range(13))
            assert [o.frame.index for o in recorded] == list(range(7))
    live += guard.finish()
    recorded += guard.collect_recording()
    guard.close()
    assert [o.frame.index for o in live] == [o.frame.index for o in recorded] == list(range(40))
    assert next(o.frame.index for o in live if not o.release.released) == 19
    assert next(o.frame.index for o in recorded if not o.release.released) == 14
    for o in recorded[14:20]:
        assert o.release is Release.BLOCKED and o.verdict is NUDE
        assert not np.array_equal(o.frame.bgr, src[o.frame.index].bgr)
    kept = {o.frame.index for o in recorded if o.release.released}
    assert kept <= {o.frame.index for o in live if o.release.released}
    assert checker.checked == sorted(set(checker.checked))  # each frame checked once, for both outputs
    stats = guard.stats.to_dict()
    assert stats["recorded_released"] + stats["recorded_withheld"] == 40
    assert stats["recorded_withheld"] == stats["placeholders"] + 5  # 14..18 taken back


def test_a_recording_held_apart_blurs_each_withheld_frame_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # With blurred placeholders the recording reuses the live output's blur of a frame both withhold;
    # it blurs only the frames it alone takes back (14..18 here), and its placeholders hide the frame.
    import captureguard.guard.stream as stream_module

    blurred: list[int] = []
    real = stream_module.placeholder

    def counting(bgr: np.ndarray, **kw: object) -> np.ndarray:
        blurred.append(int(bgr[0, 0, 0]))  # frames() marks pixel (0, 0) with the index
        return real(bgr, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(stream_module, "placeholder", counting)
    src = frames(40)
    settings = StreamSettings(max_gap=1, reopen_checks=2, reopen_s=0.0, record_hold_s=0.2)
    guard = StreamGuard(ScriptedChecker(lambda i: NUDE if 20 <= i < 26 else SAFE), settings, placeholder="blur")
    live, recorded = [], []
    for f in src:
        guard.submit(f)
        live += guard.collect()
        recorded += guard.collect_recording()
    live += guard.finish()
    recorded += guard.collect_recording()
    guard.close()
    withheld_live = [o.frame.index for o in live if not o.release.released]
    withheld_rec = [o.frame.index for o in recorded if not o.release.released]
    assert sorted(blurred) == sorted(set(withheld_live) | set(withheld_rec))  # each once
    assert set(withheld_rec) - set(withheld_live) == {14, 15, 16, 17, 18}
    for o in recorded:
        if not o.release.released:
            assert not np.array_equal(o.frame.bgr, src[o.frame.index].bgr)
    assert guard._blurred == {}  # nothing left waiting for the recording


def test_without_a_recording_hold_the_guard_has_one_output() -> None:
    guard = StreamGuard(ScriptedChecker(lambda i: SAFE), StreamSettings(hold_s=0.3, record_hold_s=0.3))
    assert not guard.records_apart and "recorded_released" not in guard.stats.to_dict()
    with pytest.raises(RuntimeError, match="no recording output"):
        guard.collect_recording()
    guard.close()


def test_a_recording_held_apart_gets_placeholders_when_the_worker_dies() -> None:
    def script(i: int) -> Verdict:
        if i == 6:
            raise Die
        return SAFE

    guard = StreamGuard(ScriptedChecker(script), StreamSettings(max_gap=0, record_hold_s=0.5))
    with pytest.raises(DetectionError):
        run(guard, frames(12))
    recorded = guard.collect_recording()
    assert recorded and not any(o.release.released for o in recorded)  # nothing held is let out


@pytest.mark.parametrize(
    ("flagged", "last_withheld"),
    [
        ({10}, 11),  # a lone warn: its own frames only
        ({10, 14}, 15),  # two warns with a safe check between: each its own frames
        ({10, 12}, 21),  # two in a row: the second shuts; 5 safe checks 14..22 reopen at 22
    ],
)
def test_with_warn_run_2_a_warn_shuts_only_after_a_flagged_check(flagged: set[int], last_withheld: int) -> None:
    warn = Verdict(Decision.WARN, 0.4)
    settings = StreamSettings(max_gap=1, reopen_checks=5, reopen_s=0.2, warn_run=2, warn_window=0)  # in a row only
    out = run(StreamGuard(ScriptedChecker(lambda i: warn if i in flagged else SAFE), settings), frames(30))
    withheld = [o.frame.index for o in out if not o.release.released]
    assert withheld[0] == 9 and withheld[-1] == last_withheld
    if flagged == {10, 14}:
        assert withheld == [9, 10, 11, 13, 14, 15]


def test_with_warn_run_2_a_block_still_shuts_alone() -> None:
    block = Verdict(Decision.BLOCK, 0.9)
    settings = StreamSettings(max_gap=1, reopen_checks=5, reopen_s=0.2, warn_run=2)
    out = run(StreamGuard(ScriptedChecker(lambda i: block if i == 10 else SAFE), settings), frames(30))
    assert [o.frame.index for o in out if not o.release.released] == list(range(9, 20))


def test_a_checker_that_raises_blocks_and_the_stream_goes_on() -> None:
    def script(i: int) -> Verdict:
        if i == 4:
            raise RuntimeError("model crashed")
        return SAFE

    out = run(StreamGuard(ScriptedChecker(script), StreamSettings(max_gap=0, reopen_checks=1, reopen_s=0)), frames(10))
    assert out[4].release is Release.FAILED and out[4].verdict.reasons[0].code == "error"
    assert [o.release for o in out[5:]] == [Release.CHECKED] * 5


def test_a_hung_check_times_out_as_a_block_and_a_new_worker_takes_over() -> None:
    release = threading.Event()

    def script(i: int) -> Verdict:
        if i == 3:
            release.wait(10)
        return SAFE

    guard = StreamGuard(ScriptedChecker(script), StreamSettings(max_gap=0, reopen_checks=1, reopen_s=0), deadline_s=0.1)
    out = run(guard, frames(8))
    release.set()
    assert out[3].release is Release.FAILED and out[3].verdict.reasons[0].code == "timeout"
    assert [o.release for o in out[4:]] == [Release.CHECKED] * 4
    assert guard.stats.failures == 1


def test_a_dead_worker_blocks_pending_frames_and_reraises_in_the_caller() -> None:
    def script(i: int) -> Verdict:
        if i == 5:
            raise Die("boom")
        return SAFE

    guard = StreamGuard(ScriptedChecker(script), StreamSettings(max_gap=0, max_delay_frames=4))
    collected: list[AllowedFrame] = []
    with pytest.raises(DetectionError, match="stream guard stopped") as err:
        for f in frames(50):
            guard.submit(f)
            collected += guard.collect(timeout=0.05)
        collected += guard.finish(timeout_s=2)
    assert isinstance(err.value.__cause__, Die)
    released = [o for o in collected if o.release.released]
    assert all(o.frame.index < 5 for o in released)
    guard.close()


def test_live_overload_drops_to_stay_current_and_never_releases_unchecked() -> None:
    checker = ScriptedChecker(lambda i: SAFE, delay_s=0.03)
    settings = StreamSettings(max_gap=1, schedule="latest", max_delay_frames=6, reopen_checks=1, reopen_s=0)
    guard = StreamGuard(checker, settings)
    out: list[AllowedFrame] = []
    for f in frames(60):
        guard.submit(f)
        out += guard.collect()
        time.sleep(0.005)  # a camera faster than the checker
    out += guard.finish()
    guard.close()
    checked = set(checker.checked)
    for o in out:
        if o.release is Release.CHECKED:
            assert o.frame.index in checked
        elif o.release is Release.COVERED:
            i = o.frame.index
            assert max(c for c in checked if c < i) >= i - 1 and min(c for c in checked if c > i) <= i + 1
    assert guard.stats.placeholders > 0
    assert guard.stats.to_dict()["latency_ms_p99"] < 1000


def test_a_scene_cut_is_checked_off_the_grid() -> None:
    checker = ScriptedChecker(lambda i: SAFE)
    run(StreamGuard(checker, StreamSettings(max_gap=5)), frames(14, cut_at=8))
    assert 8 in checker.checked


def test_blur_placeholder_shows_nothing_of_the_frame() -> None:
    src = frames(3)
    out = run(StreamGuard(ScriptedChecker(lambda i: NUDE), StreamSettings(max_gap=0), placeholder="blur"), src)
    assert all(o.release is Release.BLOCKED for o in out)
    assert not np.array_equal(out[0].frame.bgr, src[0].bgr)


def test_stats_are_counted() -> None:
    guard = StreamGuard(ScriptedChecker(lambda i: SAFE), StreamSettings(max_gap=1))
    run(guard, frames(10))
    s = guard.stats.to_dict()
    assert s["frames_in"] == 10 and s["released"] == 10 and s["placeholders"] == 0
    assert s["checks"] == guard.stats.checks >= 5
    assert s["latency_ms_p99"] >= s["latency_ms_p50"] >= 0


def test_file_mode_is_reproducible_whatever_the_thread_timing() -> None:
    """Lockstep: the checks chosen (and so the output) never depend on how fast the checker is."""
    import random

    src = frames(60, cut_at=33)
    outcomes = []
    for seed in (1, 2, 3):
        rng = random.Random(seed)

        def script(i: int, rng: random.Random = rng) -> Verdict:
            time.sleep(rng.random() * 0.004)
            return NUDE if 20 <= i < 24 else SAFE

        checker = ScriptedChecker(script)
        out = run(StreamGuard(checker, StreamSettings(max_gap=2)), src)
        outcomes.append((checker.checked, [o.release for o in out]))
    assert outcomes[0] == outcomes[1] == outcomes[2]

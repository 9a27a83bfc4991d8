"""Timeline tests of the stream guard's state machine (no threads, no models)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from captureguard.core.ledger import Fate, Hysteresis, StreamLedger, StreamSettings
from captureguard.errors import ConfigError

FPS = 30.0
RELEASED = (Fate.CHECKED, Fate.COVERED)


def run(
    n: int,
    unsafe: Callable[[int], bool],
    settings: StreamSettings,
    *,
    cuts: set[int] | None = None,
    check_frames: int = 0,
) -> tuple[dict[int, Fate], list[int], int]:
    """Play ``n`` frames; a check takes ``check_frames`` frame intervals. Returns fates, checked frames, max pending."""
    ledger = StreamLedger(settings)
    fates: dict[int, Fate] = {}
    checked: list[int] = []
    in_flight: tuple[int, int] | None = None  # (frame, frame index at which the result arrives)
    max_pending = 0

    def step(now: int) -> None:
        nonlocal in_flight
        if in_flight and now >= in_flight[1]:
            ledger.record(in_flight[0], allowed=not unsafe(in_flight[0]), result=in_flight[0])
            in_flight = None
        if in_flight is None:
            nxt = ledger.next_check()
            if nxt is not None:
                checked.append(nxt)
                in_flight = (nxt, now + check_frames)
                if check_frames == 0:
                    step(now)
        for outcome in ledger.resolve():
            index, fate = outcome.index, outcome.fate
            assert index not in fates, f"frame {index} resolved twice"
            assert outcome.payload == f"frame {index}"
            fates[index] = fate

    for i in range(n):
        ledger.add(i, i / FPS, cut=i in (cuts or set()), payload=f"frame {i}")
        max_pending = max(max_pending, ledger.pending)
        step(i)
    ledger.end()
    t = n
    while ledger.pending:
        step(t)
        t += 1
        assert t < n + 1000, "ledger did not drain"
    return fates, checked, max_pending


def released(fates: dict[int, Fate]) -> set[int]:
    return {i for i, f in fates.items() if f in RELEASED}


def test_check_every_frame_when_max_gap_is_zero() -> None:
    fates, checked, _ = run(10, lambda i: False, StreamSettings(max_gap=0))
    assert checked == list(range(10))
    assert all(f is Fate.CHECKED for f in fates.values())


def test_gap_frames_are_covered_between_safe_checks() -> None:
    fates, checked, _ = run(10, lambda i: False, StreamSettings(max_gap=2))
    assert checked == [0, 3, 6, 9]
    assert [fates[i] for i in range(4)] == [Fate.CHECKED, Fate.COVERED, Fate.COVERED, Fate.CHECKED]
    assert set(fates) == set(range(10))


def test_first_frame_is_checked_first_even_if_later_frames_are_already_waiting() -> None:
    ledger = StreamLedger(StreamSettings(max_gap=2))
    for i in range(5):
        ledger.add(i, i / FPS, cut=False, payload=i)
    assert ledger.next_check() == 0


def test_end_of_stream_checks_the_last_frame_off_grid() -> None:
    fates, checked, _ = run(8, lambda i: False, StreamSettings(max_gap=2))
    assert checked == [0, 3, 6, 7]
    assert released(fates) == set(range(8))


def test_frames_next_to_a_block_are_not_released() -> None:
    fates, checked, _ = run(12, lambda i: 5 <= i <= 6, StreamSettings(max_gap=2, reopen_checks=1, reopen_s=0))
    assert checked == [0, 3, 6, 9, 11]
    # 4..5 lie between safe 3 and unsafe 6; 7..8 between unsafe 6 and safe 9 (which reopens).
    assert released(fates) == {0, 1, 2, 3, 9, 10, 11}


def test_hysteresis_needs_k_safe_checks_over_t_seconds() -> None:
    settings = StreamSettings(max_gap=0, reopen_checks=3, reopen_s=1.0)
    fates, _, _ = run(80, lambda i: i == 10, settings)
    first_after = min(i for i in released(fates) if i > 10)
    # safe checks restart at 11 (t=0.367 s); 3 checks and >= 1.0 s => frame 41 (t=1.367 s).
    assert first_after == 41
    assert not released(fates) & set(range(10, 41))


def test_hysteresis_timeline() -> None:
    h = Hysteresis(reopen_checks=2, reopen_s=0.5)
    steps = [(True, 0.0), (False, 0.1), (True, 0.2), (True, 0.3), (True, 0.7), (True, 0.8)]
    assert [h.update(safe, t) for safe, t in steps] == [True, False, False, False, True, True]


def test_scene_cut_forces_an_off_grid_check() -> None:
    fates, checked, _ = run(12, lambda i: i == 4, StreamSettings(max_gap=3, reopen_checks=1, reopen_s=0), cuts={4})
    assert 4 in checked
    assert 4 not in released(fates)


def test_one_frame_flash_without_a_cut_is_the_documented_bound() -> None:
    # A single unsafe frame strictly between two safe checks, with no scene cut, is covered:
    # this is what max_gap means; cuts (and max_gap=0) are what close it.
    fates, checked, _ = run(8, lambda i: i == 2, StreamSettings(max_gap=3))
    assert checked == [0, 4, 7]
    assert 2 in released(fates)
    fates0, _, _ = run(8, lambda i: i == 2, StreamSettings(max_gap=0))
    assert 2 not in released(fates0)


def test_slow_detector_file_mode_covers_everything_eventually() -> None:
    fates, _checked, max_pending = run(
        40, lambda i: False, StreamSettings(max_gap=1, max_delay_frames=40), check_frames=3
    )
    assert released(fates) == set(range(40))
    assert max_pending <= 40


def test_live_overload_catches_up_and_never_releases_unchecked() -> None:
    settings = StreamSettings(max_gap=1, schedule="latest", max_delay_frames=6)
    fates, checked, max_pending = run(60, lambda i: False, settings, check_frames=4)
    rel = released(fates)
    assert set(fates) == set(range(60))
    for i in rel - set(checked):  # every covered frame sits between two checks <= max_gap apart
        before, after = max(c for c in checked if c < i), min(c for c in checked if c > i)
        assert after - before - 1 <= 1
    assert max_pending <= settings.max_delay_frames + 1
    assert any(f is Fate.UNCOVERED for f in fates.values())  # could not keep up: some not shown


def test_frames_beside_a_block_are_blocked_too() -> None:
    fates, checked, _ = run(10, lambda i: i in (4, 5), StreamSettings(max_gap=1, reopen_checks=1, reopen_s=0))
    assert checked == [0, 2, 4, 6, 8, 9]
    assert [fates[i] for i in range(10)] == [
        Fate.CHECKED,
        Fate.COVERED,
        Fate.CHECKED,
        Fate.BLOCKED,  # between a safe check and a block: withheld because of the block
        Fate.BLOCKED,  # checked unsafe
        Fate.BLOCKED,  # unsafe, unchecked, next to the block
        Fate.CHECKED,
        Fate.COVERED,
        Fate.CHECKED,
        Fate.CHECKED,
    ]


@pytest.mark.parametrize("seed", range(200))
def test_random_streams_never_release_an_unsafe_frame(seed: int) -> None:
    """Property: an unsafe run that is longer than max_gap, or starts with a scene cut, never leaks."""
    rng = random.Random(seed)
    n = 150
    max_gap = rng.choice([0, 1, 2, 3])
    unsafe: set[int] = set()
    cuts: set[int] = set()
    i = rng.randrange(0, 10)
    while i < n:
        length = rng.randrange(1, 15)
        if length <= max_gap:
            cuts.add(i)  # a short flash is only catchable as a cut
        elif rng.random() < 0.5:
            cuts.add(i)
        unsafe.update(range(i, min(n, i + length)))
        i += length + rng.randrange(1, 25)
    settings = StreamSettings(
        max_gap=max_gap,
        reopen_checks=rng.choice([1, 2, 3]),
        reopen_s=rng.choice([0.0, 0.2]),
        schedule="latest" if rng.random() < 0.5 else "lockstep",
        max_delay_frames=max_gap + 2 + rng.randrange(0, 8),
    )
    fates, _, _ = run(n, lambda k: k in unsafe, settings, cuts=cuts, check_frames=rng.choice([0, 1, 2, 4]))
    assert set(fates) == set(range(n)), "every frame gets exactly one fate"
    assert not released(fates) & unsafe, f"leaked {sorted(released(fates) & unsafe)}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_gap": -1}, "max_gap"),
        ({"reopen_checks": 0}, "reopen_checks"),
        ({"scene_cut": 0}, "scene_cut"),
        ({"max_gap": 5, "max_delay_frames": 6}, "max_delay_frames"),
        ({"withheld": "show"}, "withheld"),
        ({"schedule": "live"}, "schedule"),
    ],
    ids=["gap", "reopen", "cut", "delay", "withheld", "schedule"],
)
def test_settings_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StreamSettings(**kwargs)  # type: ignore[arg-type]


def test_ledger_rejects_out_of_order_frames_and_unknown_results() -> None:
    ledger = StreamLedger(StreamSettings())
    ledger.add(3, 0.1, cut=False, payload=None)
    with pytest.raises(ValueError, match="arrived after"):
        ledger.add(3, 0.2, cut=False, payload=None)
    with pytest.raises(ValueError, match="not waiting"):
        ledger.record(3, allowed=True, result=None)


# ----------------------------------------------------------------------------- recording hold-back


def play(verdicts: str, settings: StreamSettings) -> tuple[str, list[tuple[int, int]]]:
    """Lockstep through one verdict per frame ('a' allow, 'w' warn, 'b' block; checks as the ledger
    schedules them). Returns each frame's fate as '+' (released) or '.' and, per frame released,
    ``(its index, frames added when it came out)``."""
    ledger: StreamLedger[int, str] = StreamLedger(settings)
    fates: dict[int, bool] = {}
    when: list[tuple[int, int]] = []

    def pump(added: int) -> None:
        while (index := ledger.next_check()) is not None:
            v = verdicts[index]
            ledger.record(index, allowed=v == "a", warn=v == "w", result=f"{v}{index}")
        for o in ledger.resolve():
            fates[o.index] = o.fate.released
            if o.fate.released:
                assert o.result is not None and o.result.startswith("a")
                when.append((o.index, added))

    for i in range(len(verdicts)):
        ledger.add(i, i / FPS, cut=False, payload=i)
        pump(i + 1)
    ledger.end()
    pump(len(verdicts))
    assert ledger.pending == 0 and sorted(fates) == list(range(len(verdicts)))
    return "".join("+" if fates[i] else "." for i in range(len(verdicts))), when


def test_hold_takes_back_the_frames_shown_just_before_a_slide_in_was_caught() -> None:
    # A nude picture slides in; the checks catch it at frame 60 and the stream shuts.
    verdicts = "a" * 60 + "b" * 30
    plain, _ = play(verdicts, StreamSettings())
    held, when = play(verdicts, StreamSettings(hold_s=0.3))
    assert plain == "+" * 59 + "." * 31  # frame 59 lies beside the blocking check
    assert held == "+" * 51 + "." * 39  # 0.3 s (9 frames) before the check at frame 60: taken back
    # ...and each released frame came out only once the checks had reached 0.3 s past it
    assert all(added - 1 >= index + 9 for index, added in when), when


def test_shut_hold_reaches_back_from_the_first_check_of_the_run_that_shut() -> None:
    # Warns from frame 40 shut the stream at the 4th flagged check in a row (warn_run 4, max_gap 1:
    # checks at 40, 42, 44, 46): the hold reaches 0.2 s (6 frames) before frame 40.
    verdicts = "a" * 40 + "w" * 20 + "a" * 60
    held, _ = play(verdicts, StreamSettings(hold_s=0.2))
    assert held[:34] == "+" * 34 and held[34:40] == "......"


def test_shut_hold_leaves_a_run_of_warns_that_never_shut_alone() -> None:
    # Two warns in a row (fewer than warn_run) withhold their own frames and the ones beside them;
    # "shut" takes nothing more back, "flag" takes back 0.2 s before each.
    verdicts = "a" * 40 + "wwww" + "a" * 40
    plain, _ = play(verdicts, StreamSettings())
    shut, _ = play(verdicts, StreamSettings(hold_s=0.2))
    flag, _ = play(verdicts, StreamSettings(hold_s=0.2, hold_after="flag"))
    assert shut == plain
    assert plain[:39] == "+" * 39
    assert flag[:34] == "+" * 34 and flag[34:40] == "......"


def test_without_a_hold_frames_come_out_at_once() -> None:
    _, when = play("a" * 30, StreamSettings())
    assert all(added - 1 <= index + 2 for index, added in when), when


@pytest.mark.parametrize("bad", [{"hold_s": -0.1}, {"hold_s": 6.0}, {"hold_after": "later"}])
def test_hold_settings_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        StreamSettings(**bad)  # type: ignore[arg-type]


def test_a_frame_taken_back_cites_the_check_that_shut_the_stream() -> None:
    ledger: StreamLedger[int, str] = StreamLedger(StreamSettings(hold_s=0.1))
    out = []
    for i in range(12):
        ledger.add(i, i / FPS, cut=False, payload=i)
        while (index := ledger.next_check()) is not None:
            ledger.record(index, allowed=index < 8, result=f"{'allow' if index < 8 else 'block'}:{index}")
        out += ledger.resolve()
    # 5 and 6 were cleared (6 checked safe, 5 covered) and taken back within 0.1 s of the block at
    # 8; 7 lies beside that block (withheld without a hold, citing no check of its own)
    fates = {o.index: (o.fate, o.result) for o in out}
    assert fates[4][0].released
    assert [fates[i] for i in (5, 6, 7)] == [(Fate.BLOCKED, "block:8")] * 2 + [(Fate.BLOCKED, None)]


def test_a_hold_lengthens_a_live_delay_line_by_the_hold_only() -> None:
    # Live schedule, a slow detector (each check takes 15 frame intervals): the delay line's bound
    # (max_delay_frames) counts the frames past the hold, so it holds at most the hold's 9 more.
    def longest(hold_s: float) -> tuple[int, list[Fate]]:
        s = StreamSettings(hold_s=hold_s, max_delay_frames=4, schedule="latest")
        ledger: StreamLedger[int, str] = StreamLedger(s)
        in_flight: tuple[int, int] | None = None
        most, fates = 0, []
        for i in range(300):
            ledger.add(i, i / FPS, cut=False, payload=i)
            if in_flight is not None and i >= in_flight[1]:
                ledger.record(in_flight[0], allowed=True, result=f"allow:{in_flight[0]}")
                in_flight = None
            if in_flight is None and (index := ledger.next_check()) is not None:
                in_flight = (index, i + 15)
            fates += [o.fate for o in ledger.resolve()]
            most = max(most, ledger.pending)
        return most, fates

    plain, plain_fates = longest(0.0)
    held, held_fates = longest(0.3)
    assert held <= plain + 9, (held, plain)
    assert Fate.UNCOVERED in held_fates and Fate.UNCOVERED in plain_fates  # overloaded: frames given up


# --------------------------------------------------------------- a recording held apart (record_hold_s)


@pytest.mark.parametrize("bad", [{"record_hold_s": -0.1}, {"record_hold_s": 6.0}])
def test_recording_hold_is_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        StreamSettings(**bad)  # type: ignore[arg-type]


def test_a_recording_is_held_apart_only_when_it_is_held_longer() -> None:
    assert StreamSettings(record_hold_s=0.5).records_apart
    assert not StreamSettings(hold_s=0.5, record_hold_s=0.5).records_apart
    assert not StreamSettings().records_apart
    recording = StreamSettings(max_gap=3, record_hold_s=0.5).for_recording()
    assert (recording.hold_s, recording.record_hold_s, recording.max_gap) == (0.5, 0.0, 3)


def test_a_recording_ledger_follows_the_live_schedule_and_refuses_another() -> None:
    live: StreamLedger[int, str] = StreamLedger(StreamSettings(max_gap=1))
    twin: StreamLedger[int, str] = StreamLedger(StreamSettings(max_gap=1, hold_s=0.5))
    for i in range(3):
        live.add(i, i / FPS, cut=False, payload=i)
        twin.add(i, i / FPS, cut=False, payload=i)
    assert live.next_check() == 0
    twin.queue(0)
    with pytest.raises(ValueError, match="frame 2 cannot"):
        twin.queue(2)  # one check at a time
    for each in (live, twin):
        each.record(0, allowed=True, result="allow:0")
    with pytest.raises(ValueError, match="frame 0 cannot"):
        twin.queue(0)  # checked already
    with pytest.raises(ValueError, match="frame 9 is not"):
        twin.withhold(9)


def test_a_frame_the_live_ledger_withheld_is_never_released_by_the_recording() -> None:
    ledger: StreamLedger[int, str] = StreamLedger(StreamSettings(max_gap=0, hold_s=0.1))
    for i in range(10):
        ledger.add(i, i / FPS, cut=False, payload=i)
        if i == 4:
            ledger.withhold(4)  # e.g. given up by the live ledger's overload bound
        while (index := ledger.next_check()) is not None:
            ledger.record(index, allowed=True, result=f"allow:{index}")
    ledger.end()
    while (index := ledger.next_check()) is not None:
        ledger.record(index, allowed=True, result=f"allow:{index}")
    fates = {o.index: o.fate for o in ledger.resolve()}
    assert fates[4] is Fate.UNCOVERED and all(fates[i].released for i in range(10) if i != 4)


def test_a_warn_window_shuts_on_warns_that_never_run() -> None:
    # A small picture read as warn and allow by turns (checks at every frame): no run of 4 forms,
    # so each warn withholds its own frame; with a window of 8, the 4th warn within 8 checks shuts
    # the stream (K5 over 1 s reopens it at frame 51: 5 safe checks spanning 30 frames after 21).
    verdicts = "a" * 10 + "wa" * 6 + "a" * 60
    run_only, _ = play(verdicts, StreamSettings(max_gap=0, warn_window=0))
    windowed, _ = play(verdicts, StreamSettings(max_gap=0, warn_window=8))
    assert run_only == "+" * 10 + ".+" * 6 + "+" * 60
    assert windowed == "+" * 10 + ".+" * 3 + "." * 35 + "+" * 31
    # ...and a hold takes back the allowed frames between those warns (11, 13, 15: still held
    # when 16 shut the stream); frames before the first warn had waited their 0.2 s already.
    held, _ = play(verdicts, StreamSettings(max_gap=0, warn_window=8, hold_s=0.2))
    assert held[:51] == "+" * 10 + "." * 41


def test_a_warn_window_no_longer_than_the_run_changes_nothing() -> None:
    verdicts = "a" * 10 + "wa" * 6 + "wwww" + "a" * 60
    in_a_row = StreamSettings(max_gap=0, warn_window=0)
    assert play(verdicts, StreamSettings(max_gap=0, warn_window=4)) == play(verdicts, in_a_row)

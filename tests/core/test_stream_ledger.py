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

"""Timelines of the reopening rule: after a block, a cut or K *confident* safe checks over T s."""

from __future__ import annotations

import pytest

from captureguard.core.ledger import Fate, Hysteresis, StreamLedger, StreamSettings
from captureguard.errors import ConfigError

FPS = 30.0

# One check per step: "B" blocks, "u" allowed but uncertain, "c" confidently safe;
# a "|" before a step says that step's frame is a new scene (it no longer looks like what blocked).
Timeline = str


def play(timeline: Timeline, h: Hysteresis, *, dt: float = 0.1) -> str:
    """Feed the checks; returns one char per check: "o" released at it, "x" shut."""
    out, new, t = [], False, 0.0
    for ch in timeline:
        if ch == "|":
            new = True
            continue
        released = h.update(ch != "B", t, confident=ch == "c", new_scene=new)
        out.append("o" if released else "x")
        new, t = False, t + dt
    return "".join(out)


@pytest.mark.parametrize(
    ("timeline", "k", "t_s", "on_cut", "expected"),
    [
        ("cBccc", 3, 0.0, True, "oxxxo"),
        ("cBuuccc", 3, 0.0, True, "oxxxxxo"),  # uncertain checks do not count...
        ("cBcucccc", 3, 0.0, True, "oxxxxxoo"),  # ...and restart the count
        ("cBcccccc", 3, 0.45, True, "oxxxxxxo"),  # 3 checks span only 0.2 s: wait for T
        ("cB|c", 3, 0.0, True, "oxo"),  # a confident check of a new scene reopens
        ("cB|c", 3, 0.0, False, "oxx"),  # unless new scenes do not reopen
        ("cB|u", 3, 0.0, True, "oxx"),  # an uncertain check of a new scene does not
        ("cB|ucc", 3, 0.0, True, "oxxxx"),  # nor does a new scene seen once, then gone (no memory)
        ("cB|B|c", 3, 0.0, True, "oxxo"),  # a block of the new scene, then another new scene
        ("c|Bcc", 3, 0.0, True, "oxxx"),  # the blocked frame being new does not reopen anything
        ("cBcBccc", 3, 0.0, True, "oxxxxxo"),  # a block in the streak starts it again
        ("uuuu", 3, 0.0, True, "oooo"),  # open: uncertain checks still release
    ],
    ids=[
        "k3",
        "uncertain-not-counted",
        "uncertain-restarts",
        "span",
        "new-scene",
        "new-scene-off",
        "new-scene-uncertain",
        "new-scene-not-remembered",
        "new-scene-after-block",
        "new-blocked-frame",
        "block-restarts",
        "open-uncertain",
    ],
)
def test_reopening_timelines(timeline: Timeline, k: int, t_s: float, on_cut: bool, expected: str) -> None:
    assert play(timeline, Hysteresis(k, t_s, reopen_on_cut=on_cut)) == expected


def run(
    n: int, verdict: dict[int, str], settings: StreamSettings, cuts: set[int], new: set[int] | None = None
) -> dict[int, Fate]:
    """Lockstep ledger over ``n`` frames; ``verdict[i]`` is "B", "w" (a warn), "u" or "c" (default "c");
    ``new``: the frames that no longer look like what blocked (default: the cut frames)."""
    new = cuts if new is None else new
    ledger: StreamLedger[int, str] = StreamLedger(settings)
    fates: dict[int, Fate] = {}
    for i in range(n + 1):
        if i < n:
            ledger.add(i, i / FPS, cut=i in cuts, payload=i)
        else:
            ledger.end()
        while (j := ledger.next_check()) is not None:
            v = verdict.get(j, "c")
            ledger.record(j, allowed=v not in "Bw", confident=v == "c", result=v, new_scene=j in new, warn=v == "w")
        fates.update((o.index, o.fate) for o in ledger.resolve())
    return fates


@pytest.mark.parametrize(
    ("timeline", "expected"),
    [
        ("ccwcc", "ooxoo"),  # open: a warn withholds its own frame only
        ("cBccwccc", "oxxxxxxo"),  # shut: a warn restarts the count of safe checks...
        ("cBwwccc", "oxxxxxo"),  # ...and does not count towards reopening
        ("cwBccc", "oxxxxo"),  # a block after a warn shuts as before
    ],
    ids=["open", "shut-restarts", "shut-not-counted", "block-after-warn"],
)
def test_a_warn_that_does_not_shut(timeline: Timeline, expected: str) -> None:
    """``warn_shuts`` off: "w" is a check that was not allowed but does not shut the hysteresis."""
    h, out, t = Hysteresis(3, 0.0), [], 0.0
    for ch in timeline:
        released = h.update(ch not in "Bw", t, confident=ch == "c", shut=ch == "B")
        out.append("o" if released else "x")
        t += 0.1
    assert "".join(out) == expected


@pytest.mark.parametrize(
    ("verdict", "warn_shuts", "warn_run", "window", "withheld"),
    [
        ({5: "w"}, True, 1, 0, {5, 6}),  # every warn shuts: 6 is the first of the 2 safe checks
        ({5: "w"}, True, 2, 0, {5}),  # a lone warn: its own frame only
        ({5: "w", 6: "w"}, True, 2, 0, {5, 6, 7}),  # the second in a row shuts; 7, 8 reopen
        ({5: "w", 6: "c", 7: "w"}, True, 2, 0, {5, 7}),  # a safe check between: the run restarts
        ({5: "w", 6: "c", 7: "w"}, True, 2, 4, {5, 7, 8}),  # ...but 2 of the last 4 shut (warn_window)
        ({5: "w", 6: "c", 7: "c", 8: "c", 9: "w"}, True, 2, 4, {5, 9}),  # 2 of 5: not within 4
        ({5: "B", 6: "w"}, True, 2, 0, {5, 6, 7}),  # a warn after a block ends a run of 2
        ({5: "w", 6: "w"}, False, 1, 0, {5, 6}),  # warns never shut
        ({5: "w", 6: "c", 7: "w"}, False, 1, 8, {5, 7}),  # ...not even by the window
    ],
)
def test_the_ledger_applies_the_warn_rule(
    verdict: dict[int, str], warn_shuts: bool, warn_run: int, window: int, withheld: set[int]
) -> None:
    settings = StreamSettings(
        max_gap=0, reopen_checks=2, reopen_s=0.0, warn_shuts=warn_shuts, warn_run=warn_run, warn_window=window
    )
    fates = run(12, verdict, settings, cuts=set())
    assert {i for i, f in fates.items() if not f.released} == withheld


def test_uncertain_checks_after_a_block_keep_frames_withheld() -> None:
    settings = StreamSettings(max_gap=0, reopen_checks=2, reopen_s=0.0)
    verdict = {5: "B", **dict.fromkeys(range(6, 12), "u")}
    fates = run(16, verdict, settings, cuts=set())
    assert [fates[i].released for i in range(16)] == [True] * 5 + [False] * 8 + [True] * 3  # 12, 13 count


def test_plain_allowed_checks_reopen_when_the_margin_is_off() -> None:
    # confident=None (callers that know no scores): every allowed check counts, as before.
    ledger: StreamLedger[int, str] = StreamLedger(StreamSettings(max_gap=0, reopen_checks=1, reopen_s=0.0))
    for i, allowed in enumerate([False, True]):
        ledger.add(i, i / FPS, cut=False, payload=i)
        assert ledger.next_check() == i
        ledger.record(i, allowed=allowed, result="")
    assert [o.fate for o in ledger.resolve()] == [Fate.BLOCKED, Fate.CHECKED]


def test_a_confident_check_of_a_new_scene_reopens() -> None:
    settings = StreamSettings(max_gap=1, reopen_checks=30, reopen_s=2.0, reopen_on_cut=True)
    fates = run(20, {4: "B"}, settings, cuts={9})
    released = {i for i, f in fates.items() if f.released}
    # 4 blocks (3, between 2 and 4, with it); 5..8 withheld (K=30 not reached); 9 is a cut to a new
    # scene and is checked (confident): open.
    assert released == set(range(3)) | set(range(9, 20))


def test_a_cut_back_to_the_blocked_scene_does_not_reopen() -> None:
    # 9 is a cut (away), 11 a cut back to what blocked: only 9 is a new scene, and its check is
    # uncertain; 11 is confident but not new: still shut (the old rule reopened at 11).
    settings = StreamSettings(max_gap=1, reopen_checks=30, reopen_s=2.0, reopen_on_cut=True)
    fates = run(20, {4: "B", 9: "u"}, settings, cuts={9, 11}, new={9})
    assert {i for i, f in fates.items() if f.released} == set(range(3))


def test_without_reopen_on_cut_a_cut_does_not_shorten_the_block() -> None:
    settings = StreamSettings(max_gap=1, reopen_checks=30, reopen_s=2.0, reopen_on_cut=False)
    fates = run(20, {4: "B"}, settings, cuts={9})
    assert {i for i, f in fates.items() if f.released} == set(range(3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"confident_below": 0.0}, "confident_below"),
        ({"confident_below": -0.1}, "confident_below"),
        ({"confident_below": 1.01}, "confident_below"),
        ({"follow_min_score": -0.1}, "follow_min_score"),
        ({"follow_min_score": 1.5}, "follow_min_score"),
        ({"warn_run": 0}, "warn_run"),
        ({"warn_run": 11}, "warn_run"),
    ],
    ids=[
        "margin-zero",
        "margin-negative",
        "margin-above-one",
        "follow-negative",
        "follow-above-one",
        "warn-run-zero",
        "warn-run-long",
    ],
)
def test_new_settings_are_validated(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StreamSettings(**kwargs)  # type: ignore[arg-type]

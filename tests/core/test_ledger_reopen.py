"""Timelines of the reopening rule: after a block, a cut or K *confident* safe checks over T s."""

from __future__ import annotations

import pytest

from captureguard.core.ledger import Fate, Hysteresis, StreamLedger, StreamSettings
from captureguard.errors import ConfigError

FPS = 30.0

# One check per step: "B" blocks, "u" allowed but uncertain, "c" confidently safe;
# a "|" before a step puts a scene cut between the previous check and that one.
Timeline = str


def play(timeline: Timeline, h: Hysteresis, *, dt: float = 0.1) -> str:
    """Feed the checks; returns one char per check: "o" released at it, "x" shut."""
    out, cut, t = [], False, 0.0
    for ch in timeline:
        if ch == "|":
            cut = True
            continue
        released = h.update(ch != "B", t, confident=ch == "c", cut=cut)
        out.append("o" if released else "x")
        cut, t = False, t + dt
    return "".join(out)


@pytest.mark.parametrize(
    ("timeline", "k", "t_s", "on_cut", "expected"),
    [
        ("cBccc", 3, 0.0, True, "oxxxo"),
        ("cBuuccc", 3, 0.0, True, "oxxxxxo"),  # uncertain checks do not count...
        ("cBcucccc", 3, 0.0, True, "oxxxxxoo"),  # ...and restart the count
        ("cBcccccc", 3, 0.45, True, "oxxxxxxo"),  # 3 checks span only 0.2 s: wait for T
        ("cB|c", 3, 0.0, True, "oxo"),  # a cut, then a confident check: a new scene
        ("cB|c", 3, 0.0, False, "oxx"),  # unless cuts do not reopen
        ("cB|uc", 3, 0.0, True, "oxxo"),  # the cut is remembered past an uncertain check
        ("cB|Bc", 3, 0.0, True, "oxxx"),  # a block after the cut forgets it
        ("c|Bcc", 3, 0.0, True, "oxxx"),  # a cut *into* the block does not reopen it
        ("cBcBccc", 3, 0.0, True, "oxxxxxo"),  # a block in the streak starts it again
        ("uuuu", 3, 0.0, True, "oooo"),  # open: uncertain checks still release
    ],
    ids=[
        "k3",
        "uncertain-not-counted",
        "uncertain-restarts",
        "span",
        "cut",
        "cut-off",
        "cut-remembered",
        "cut-then-block",
        "cut-into-block",
        "block-restarts",
        "open-uncertain",
    ],
)
def test_reopening_timelines(timeline: Timeline, k: int, t_s: float, on_cut: bool, expected: str) -> None:
    assert play(timeline, Hysteresis(k, t_s, reopen_on_cut=on_cut)) == expected


def run(n: int, verdict: dict[int, str], settings: StreamSettings, cuts: set[int]) -> dict[int, Fate]:
    """Lockstep ledger over ``n`` frames; ``verdict[i]`` is "B", "u" or "c" (default "c")."""
    ledger: StreamLedger[int, str] = StreamLedger(settings)
    fates: dict[int, Fate] = {}
    for i in range(n + 1):
        if i < n:
            ledger.add(i, i / FPS, cut=i in cuts, payload=i)
        else:
            ledger.end()
        while (j := ledger.next_check()) is not None:
            v = verdict.get(j, "c")
            ledger.record(j, allowed=v != "B", confident=v == "c", result=v)
        fates.update((o.index, o.fate) for o in ledger.resolve())
    return fates


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


def test_a_cut_between_checks_reopens_at_the_next_confident_check() -> None:
    settings = StreamSettings(max_gap=1, reopen_checks=30, reopen_s=2.0, reopen_on_cut=True)
    fates = run(20, {4: "B"}, settings, cuts={9})
    released = {i for i, f in fates.items() if f.released}
    # 4 blocks (3, between 2 and 4, with it); 5..8 withheld (K=30 not reached); 9 is a cut and
    # is checked (confident): open.
    assert released == set(range(3)) | set(range(9, 20))


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
    ],
    ids=["margin-zero", "margin-negative", "margin-above-one", "follow-negative", "follow-above-one"],
)
def test_new_settings_are_validated(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StreamSettings(**kwargs)  # type: ignore[arg-type]

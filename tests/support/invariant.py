"""The stream safety invariant, written once, independently of the ledger, for the property tests.

A frame may be released (carry the camera's pixels) only if

* it was checked, the check allowed it and the hysteresis was open at that check ("safe"), or
* it lies between two safe checks at most ``max_gap`` frames apart, and no unchecked frame
  between those checks is a scene cut;

and every frame added gets exactly one fate, in order. The hysteresis here is re-derived from
the settings (shut at a block; open again after ``reopen_checks`` allowed checks in a row that
span ``reopen_s``, or with ``reopen_on_cut`` at an allowed check of a frame whose scene differs
from the scene of every check that blocked since the stream shut), so a ledger that released on
its own idea of "safe" would be caught.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from captureguard.core.ledger import StreamSettings


@dataclass
class Trace:
    """What happened to one stream, as the test saw it.

    Attributes:
        settings: the stream's settings.
        added: frame indices in the order they were added, with their timestamps and cut flags.
        checks: ``(index, allowed)`` of every check recorded, in the order they were recorded.
        outcomes: ``(index, released, how)`` in the order the ledger/guard gave them; ``how`` is
            ``"checked"`` or ``"covered"`` for released frames, anything for withheld ones.
        scenes: index -> what the frame shows (a scene id), needed with ``reopen_on_cut``.
        unsure: the checks that allowed their frame but not confidently (score above the margin):
            they keep a shut stream shut and restart the count.
    """

    settings: StreamSettings
    added: list[tuple[int, float, bool]] = field(default_factory=list)
    checks: list[tuple[int, bool]] = field(default_factory=list)
    outcomes: list[tuple[int, bool, str]] = field(default_factory=list)
    scenes: dict[int, int] = field(default_factory=dict)
    unsure: set[int] = field(default_factory=set)


def safe_checks(trace: Trace) -> dict[int, bool]:
    """Index -> whether that check was safe (allowed, and the re-derived hysteresis open).

    The hysteresis: after a block, shut until ``reopen_checks`` allowed checks in a row spanning
    ``reopen_s``, or (``reopen_on_cut``) until an allowed check of a frame whose scene is none of
    the scenes that blocked since the stream shut. An allowed check in ``unsure`` counts for
    neither: it keeps the stream shut and restarts the count.
    """
    t_of = {i: t for i, t, _ in trace.added}
    s = trace.settings
    if s.reopen_on_cut and not all(i in trace.scenes for i, _ in trace.checks):
        raise ValueError("reopen_on_cut needs the scene of every checked frame (Trace.scenes)")
    is_open, streak, start = True, 0, 0.0
    blocked_scenes: set[int] = set()
    safe: dict[int, bool] = {}
    for index, allowed in trace.checks:
        if not allowed:
            is_open, streak = False, 0
            blocked_scenes.add(trace.scenes.get(index, -1))
        elif not is_open and index in trace.unsure:
            streak = 0
        elif not is_open:
            if s.reopen_on_cut and trace.scenes[index] not in blocked_scenes:
                is_open, streak = True, 0
            else:
                if streak == 0:
                    start = t_of[index]
                streak += 1
                if streak >= s.reopen_checks and t_of[index] - start >= s.reopen_s - 1e-6:
                    is_open, streak = True, 0
        if is_open:
            blocked_scenes.clear()
        safe[index] = allowed and is_open
    return safe


def violations(trace: Trace, *, complete: bool = False) -> list[str]:
    """Every breach of the invariant (empty: it held). ``complete``: every added frame must have a fate."""
    problems: list[str] = []
    order = [i for i, _, _ in trace.added]
    got = [i for i, _, _ in trace.outcomes]
    if got != order[: len(got)]:
        problems.append(f"fates out of order or duplicated: {got[:40]} vs added {order[:40]}")
    if complete and len(got) != len(order):
        problems.append(f"{len(order) - len(got)} frames never got a fate")
    safe = safe_checks(trace)
    checked = sorted(safe)
    cut = {i: c for i, _, c in trace.added}
    for index, released, how in trace.outcomes:
        if not released:
            continue
        if index in safe:
            if not safe[index]:
                problems.append(f"frame {index} released although its check was not safe ({how})")
            continue
        k = bisect.bisect_left(checked, index)
        if k == 0 or k == len(checked):
            problems.append(f"frame {index} released with no check on {'both sides' if not checked else 'one side'}")
            continue
        prev, nxt = checked[k - 1], checked[k]
        if not (safe[prev] and safe[nxt]):
            problems.append(f"frame {index} released between checks {prev} and {nxt}, not both safe")
        if nxt - prev - 1 > trace.settings.max_gap:
            problems.append(f"frame {index} released in a gap of {nxt - prev - 1} > max_gap {trace.settings.max_gap}")
        cuts = [j for j in order if prev < j < nxt and cut[j]]
        if cuts:
            problems.append(f"frame {index} released across unchecked cut(s) {cuts} between {prev} and {nxt}")
    return problems

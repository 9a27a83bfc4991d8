"""The stream guard's state machine (stdlib only): which frames to check, and each frame's fate.

One object, changed by a few calls, tested with timelines (no threads, no models):

* :meth:`StreamLedger.add` puts a frame (and the caller's payload, e.g. the pixels) in the delay line;
* :meth:`StreamLedger.next_check` says which frame the detector should check next;
* :meth:`StreamLedger.record` takes a check's result (and the caller's result, e.g. the verdict);
* :meth:`StreamLedger.resolve` pops, in order, every frame whose fate is settled, with its payload.

The rule: a frame is released only if it was checked safe, or it lies between two safe checks at
most ``max_gap`` frames apart with no unchecked scene cut between them. "Safe" means the check
allowed the frame **and** the hysteresis was open: after a block, :class:`Hysteresis` stays shut
until a confidently safe check of a frame that no longer looks like what blocked (``reopen_on_cut``;
the caller says so with ``new_scene``), or until ``reopen_checks`` consecutive
*confidently* safe checks (fused score well below the block threshold) spanning ``reopen_s``
seconds. An allowed but uncertain check keeps it shut and restarts the count. Everything else
is withheld (the guard shows a placeholder or drops it); nothing is ever released unchecked.
Every frame added gets exactly one :class:`Outcome`, in order.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from captureguard.errors import ConfigError

Schedule = Literal["lockstep", "latest"]
"""``lockstep``: every check the frames make due runs before the next frame is taken (files, the
web viewfinder: reproducible, nothing skipped). ``latest``: a live camera that will not wait; when
checks fall behind, the next check jumps to the newest frame and the frames it cannot cover, or
that wait longer than the delay line allows, are withheld (never released)."""

Withheld = Literal["placeholder", "drop"]
"""What sinks get for a frame that may not be shown: the guard's placeholder, or nothing."""

HoldAfter = Literal["shut", "flag"]
"""What takes back held frames (:attr:`StreamSettings.hold_s`): ``shut``, a check that shuts the
stream (a block, or a warn ending a run of ``warn_run``), back to ``hold_s`` before the first check
of its flagged run; ``flag``, any check that does not allow its frame, back to ``hold_s`` before it."""

#: The longest hold-back (:attr:`StreamSettings.hold_s`): its frames stay in memory.
MAX_HOLD_S = 5.0
#: The hold of recordings (``captureguard video``'s ``hold_s``; ``record_hold_s`` of ``captureguard
#: camera --record`` and of the web viewfinder's recordings): the shortest hold that took back every
#: late-caught leaked frame in-sample (bench/results/stream_calibration_hold_insample8.md), for
#: +0.13 s/min of safe video withheld (stream_calibration_hold_videos.md).
RECORDING_HOLD_S = 0.5

P = TypeVar("P")
R = TypeVar("R")


class Fate(enum.Enum):
    """What happens to one frame."""

    CHECKED = "checked"  # checked, allowed, hysteresis open: released
    COVERED = "covered"  # between two safe checks <= max_gap apart, no cut between: released
    BLOCKED = "blocked"  # not safe: its check, or the check beside it, blocked (or the hysteresis was shut)
    UNCOVERED = "uncovered"  # not checked and not covered though no check blocked (a cut, overload, cut short)

    @property
    def released(self) -> bool:
        """True for the fates that let the camera's pixels through."""
        return self in (Fate.CHECKED, Fate.COVERED)


class _State(enum.Enum):
    NEW = "new"  # waiting; may still be chosen for a check
    QUEUED = "queued"  # handed to the detector
    DONE = "done"  # its check finished
    SKIPPED = "skipped"  # passed over by the schedule: never checked


@dataclass(frozen=True)
class StreamSettings:
    """How the stream guard trades checks, latency and strictness.

    Attributes:
        max_gap: at most this many unchecked frames between two safe checks (0: check all).
        reopen_checks: after a block, confidently safe checks in a row needed to release frames
            again (K). See ``reopen_s``.
        reopen_s: ...and the seconds those checks must span (T). K, T, the margin and cut
            reopening are chosen by ``python bench/stream_calibrate.py --apply`` (re-run it when
            the live models or head change; it rewrites these four defaults). Measured with the
            v2 live checker (bench/results/stream_calibration.md: 74 leak clips, 50 of artworks
            the photo check blocks as stills, 2,602 substantially visible frames; 35 safe
            videos): K3 over 0.5 s leaked 70 frames of still-blocked artworks, K4 over 0.75 s 35,
            K5 over 1.0 s 17; safe videos 10.66 / 11.51 / 12.16 s/min withheld. K4 over 0.75 s
            was the most evidence within +10% of K3's withholding. Re-measured with the v2.2 live
            checker, each clip checked by the models fitted without its artwork
            (bench/results/stream_calibration_v22.md, ``--held-out shipped``: 62 still-blocked
            artworks, 3,285 frames): K4 over 0.75 s leaked 259, K5 over 1.0 s 235; safe videos
            4.38 / 4.61 s/min: K5 over 1.0 s ships.
        confident_below: a safe check counts toward reopening only when its fused score is below
            this fraction of the block threshold (the margin); 1.0 counts every allowed check.
            An ``allow`` is already below the profile's warn score (v2 live child: 0.36 of 0.5),
            so values from 0.72 to 1.0 are the same today. Measured (v2 live, K4 T0.75): 0.6
            leaked 18 frames instead of 35 but withheld 12.05 s/min and left 0.7% of the 681 dev
            photos of people allowed-but-unsure, i.e. a scene that can never reopen after a
            block (0.5: 1.6%; a suited portrait at 0.34 kept the CLI test stream shut for good).
            The calibration allows at most 0.5%: 1.0 ships.
        warn_shuts: a ``warn`` verdict (fused score between the profile's warn and block scores)
            shuts the hysteresis like a block (True), or withholds only its own frame and the
            unchecked frames beside it (False; while shut it restarts the count of safe checks).
            In a stream a warn is never released: there is no one to confirm it. Measured
            (bench/results/stream_calibration_v26.md, v2.5 live checker, held out, K5 T1): off
            cut the safe videos' withheld time from 5.60 to 4.32 s/min but doubled the leaked
            frames of still-blocked artworks, 119 -> 242 of 3,585 (*The Dance* cut in: 7 -> 44;
            *Susanna*: 23 -> 42; a vase of runners: 0 -> 38): a small artwork in view reads as a
            warn on many checks and a block on few. On ships.
        warn_run: with ``warn_shuts``, a warn shuts the hysteresis only when it ends a run of at
            least this many checks in a row that were not allowed (warns and blocks); an earlier
            warn of the run withholds only its own frames, as with ``warn_shuts`` off. 1: every
            warn shuts (v2.5). A lone warn on a safe video then costs its own frames, not a
            second of them; a small artwork in view is flagged on most checks. Measured
            (bench/results/stream_calibration_fine14_run.md, v2.6 live checker, held out, K5 T1):
            1: 84 leaked frames of still-blocked artworks, 6.58 s/min of safe video withheld; 2:
            97 and 4.97 (v2.5 with 1: 119 and 5.60); 3: 102 and 4.88. 2 shipped with v2.6. With
            v2.7's live checker (the locator's outer crop; bench/results/stream_calibration_outer_warn.md):
            2: 51 and 6.24; 3: 52 and 5.67; 4: 81 and 5.46 (6 the same); warns never shutting: 82
            and 5.30; one safe video (a hand holding bottles at a desk) is flagged on more checks.
            Held to v2.6's 4.97 s/min + 10% (``--budget 4.97``), the tool picks 4: 4 ships.
        warn_window: with ``warn_shuts``, a warn also shuts when at least ``warn_run`` of the last
            ``warn_window`` checks (this one included) were not allowed, in a row or not (0, or at
            most ``warn_run``: in a row only). A small picture in view can be read as a warn and an
            allow by turns, so no run forms: the runners' vase panned at 20% of the frame, *Cleopatra*
            sliding in at 10%. Measured held out (bench/results/stream_calibration_window_heldout8.md,
            the 8 clips that leak; ``_videos.md``, the 35 safe videos), leaked frames / safe s/min,
            without and with the 0.5 s hold: in a row only (v2.14) 109 / 2.19, 84 / 2.32; 4 of 6
            94 / 2.25, 72 / 2.39; **4 of 8** 93 / 2.25, 71 / 2.39; 3 of 5 93 / 2.41, 71 / 2.72;
            3 of 8 89 / 2.41, 60 / 2.72. 4 of 8 is the setting with the fewest leaks whose safe
            videos stay within the budget (2.19 + 0.25 s/min) on both paths, live and held: 8 ships.
        reopen_on_cut: a confidently safe check of a *new scene* reopens at once (a new scene owes
            nothing to the old one). A new scene: a hard cut (a frame that jumps by more than
            ``scene_cut`` from the one before it) since the previous check, **and** the checked
            frame's thumbnail differs by more than ``scene_cut`` from the thumbnail of every frame
            whose check blocked since the stream shut (the blocked scene itself, not the previous
            or the last checked frame). Without the cut, drift alone (a moving background behind
            an artwork at 20% of the frame) reopened on frames still showing it (first 30 leak
            clips: 25 leaked frames instead of 3). Off: even with the cut it leaks more, because
            a cut *in the background* behind a small artwork changes the whole thumbnail while
            the artwork stays (v2 live, K4 T0.75: 35 -> 55 leaked frames; it halves the safe
            frames withheld after an artwork cuts away, 2,010 -> 1,358).
            The earlier rule (a cut flagged between checks, then any confident check) could reopen
            on the very scene that was blocked: the stream guard's property test found it when
            the cut was flagged against a stale reference, and a cut away and back across an
            uncertain check did the same (tests/guard/test_reopen_scene.py).
        follow_region: after a block, also re-check a crop around the evidence that caused it on
            every check while shut, following it (:mod:`captureguard.core.region`); the stream
            stays shut while the crop blocks. Needs a checker with ``inspect``. Measured: ungated,
            29 -> 28 leaked frames but +0.36 s/min on the safe videos (crops of signers blocked again).
        follow_min_score: only a block with at least this fused score starts following (strong
            evidence: a crop, seen larger, also finds more in an ordinary picture). Measured: of the
            safe videos' 51 blocking checks only 4 score >= 0.6 (max 0.67); the leak clips'
            blocking checks have median 0.51. Gated at 0.6, the ASL "bird" clip withholds 33 frames
            (as without following; ungated 43). The leak benefit of following is not shown on
            this benchmark (its leaks come from artworks the live check never blocks).
        scene_cut: thumbnail difference (0..1) from the previous frame, or from the last checked
            one, that forces a check; and from every blocked frame, that makes a checked frame a
            new scene for ``reopen_on_cut``. Measured: ordinary motion in the safe eval videos stays
            <= 0.074 frame to frame (p99), cuts between different stills are >= 0.161.
        max_delay_frames: delay-line bound for the ``latest`` schedule: older undecided frames are
            given up (never released). (``lockstep`` never fills it.)
        schedule: ``lockstep`` (files, viewfinder) or ``latest`` (live cameras): :data:`Schedule`.
        withheld: ``placeholder`` or ``drop``: what sinks get for a withheld frame (:data:`Withheld`).
        hold_s: a hold-back for recordings (0: none, as for a viewfinder): a frame cleared for
            release waits until the stream's checks have reached ``hold_s`` seconds past it, and
            is withheld after all when, in that time, the stream shut (``hold_after``). A nude
            picture sliding or zooming into view is flagged only some checks after it became
            substantially visible; the hold takes back the frames shown just before. It adds
            ``hold_s`` of latency and keeps that much video in memory; nothing is released
            earlier or more often than without it.
        hold_after: what takes held frames back (:data:`HoldAfter`): ``shut`` (default) or ``flag``.
        record_hold_s: a hold for the recording only (0: none). When longer than ``hold_s`` the
            stream guard keeps a second ledger, fed the same frames and checks, whose output goes to
            the sinks that keep the stream (a recording file) while the viewfinder, a virtual camera
            or a web client get the live output at once: the recording loses the frames shown just
            before a shut, the viewer waits for nothing. Its take-backs follow ``hold_after``.
    """

    max_gap: int = 1
    reopen_checks: int = 5
    reopen_s: float = 1.0
    confident_below: float = 1.0
    warn_shuts: bool = True
    warn_run: int = 4
    warn_window: int = 8
    reopen_on_cut: bool = False
    follow_region: bool = True
    follow_min_score: float = 0.6
    scene_cut: float = 0.12
    max_delay_frames: int = 12
    schedule: Schedule = "lockstep"
    withheld: Withheld = "placeholder"
    hold_s: float = 0.0
    hold_after: HoldAfter = "shut"
    record_hold_s: float = 0.0

    @property
    def records_apart(self) -> bool:
        """The recording is held longer than the live output: it needs a ledger of its own."""
        return self.record_hold_s > self.hold_s

    def for_recording(self) -> StreamSettings:
        """The settings of the recording's ledger (its hold: ``record_hold_s``)."""
        return dataclasses.replace(self, hold_s=self.record_hold_s, record_hold_s=0.0)

    def __post_init__(self) -> None:
        ranges: tuple[tuple[str, float, float, str], ...] = (
            ("max_gap", 0, 30, "frames"),
            ("warn_run", 1, 10, "checks"),
            ("warn_window", 0, 30, "checks"),
            ("hold_s", 0.0, MAX_HOLD_S, "seconds"),
            ("record_hold_s", 0.0, MAX_HOLD_S, "seconds"),
        )
        for name, low, high, unit in ranges:
            if not low <= getattr(self, name) <= high:
                raise ConfigError(f"{name} must be {low:g}..{high:g} {unit}, got {getattr(self, name)}")
        if self.reopen_checks < 1 or self.reopen_s < 0:
            raise ConfigError("reopen_checks must be >= 1 and reopen_s >= 0")
        if not 0 < self.confident_below <= 1:
            raise ConfigError(f"confident_below must be in (0, 1] (of the block score), got {self.confident_below}")
        if not 0 <= self.follow_min_score <= 1:
            raise ConfigError(f"follow_min_score must be in [0, 1], got {self.follow_min_score}")
        if not 0 < self.scene_cut <= 1:
            raise ConfigError(f"scene_cut must be in (0, 1], got {self.scene_cut}")
        if self.max_delay_frames < self.max_gap + 2:
            raise ConfigError(f"max_delay_frames must be at least max_gap + 2 = {self.max_gap + 2}")
        choices = (
            ("schedule", ("lockstep", "latest")),
            ("withheld", ("placeholder", "drop")),
            ("hold_after", ("shut", "flag")),
        )
        for name, allowed in choices:
            if (value := getattr(self, name)) not in allowed:
                raise ConfigError(f"{name} must be {' or '.join(repr(a) for a in allowed)}, got {value!r}")


@dataclass
class Hysteresis:
    """Stay shut after a block until a confident check of a new scene, or K confident checks over T seconds.

    ``safe``: the check allowed its frame. ``confident``: its score was well below the block
    threshold (see :attr:`StreamSettings.confident_below`). ``new_scene``: the checked frame itself
    no longer looks like any frame that blocked since the stream shut (the caller measures it; see
    :class:`~captureguard.guard.stream.StreamGuard`). Nothing about scenes is remembered between
    checks: a cut seen at one check and a confident check of the blocked scene later do not add up
    to a reopening. Defaults keep the plain rule (every safe check is confident, no new scene).
    """

    reopen_checks: int
    reopen_s: float
    reopen_on_cut: bool = False
    is_open: bool = True
    _streak: int = 0
    _streak_start_s: float = 0.0

    def update(
        self, safe: bool, t_s: float, *, confident: bool = True, new_scene: bool = False, shut: bool = True
    ) -> bool:
        """Feed one check (in stream order); returns whether frames may be released at it.

        ``shut``: an unsafe check shuts the hysteresis (a block); False for a check that withholds
        only its own frame (a warn with ``StreamSettings.warn_shuts`` off): it does not shut an
        open hysteresis, and while shut it counts as an uncertain check (the streak restarts)."""
        if not safe:
            if shut:
                self.is_open = False
            self._streak = 0
            return False
        if self.is_open:
            return True
        if not confident:
            self._streak = 0  # uncertain: not evidence that the cause has gone; count again
            return False
        if self.reopen_on_cut and new_scene:
            self._open()
            return True
        if self._streak == 0:
            self._streak_start_s = t_s
        self._streak += 1
        # 1 µs of slack: timestamps from pts * time_base are not exact in binary.
        if self._streak >= self.reopen_checks and t_s - self._streak_start_s >= self.reopen_s - 1e-6:
            self._open()
        return self.is_open

    def _open(self) -> None:
        self.is_open, self._streak = True, 0


@dataclass
class _Slot(Generic[P, R]):
    index: int
    t_s: float
    cut: bool
    payload: P
    state: _State = _State.NEW
    safe: bool = False  # check allowed it and the hysteresis was open
    result: R | None = None  # the caller's record of its check (e.g. the verdict)
    vetoed: bool = False  # another ledger withheld it (:meth:`StreamLedger.withhold`)


@dataclass(frozen=True)
class Outcome(Generic[P, R]):
    """One frame's settled fate.

    Attributes:
        index: the frame's index.
        fate: what happens to it.
        payload: what the caller added with it (e.g. the frame).
        result: the caller's result of the check that decided it: the frame's own check
            (CHECKED, a checked BLOCKED), the check before it (COVERED), or None (unchecked
            BLOCKED: the caller cites the check that blocked; UNCOVERED).
    """

    index: int
    fate: Fate
    payload: P
    result: R | None


@dataclass
class StreamLedger(Generic[P, R]):
    """The delay line and the decision rule of one stream; ``P`` payloads, ``R`` check results."""

    settings: StreamSettings = field(default_factory=StreamSettings)
    _slots: deque[_Slot[P, R]] = field(default_factory=deque)
    _hysteresis: Hysteresis = field(init=False)
    _last_scheduled: int = -1  # index of the last frame handed to the detector
    _last_check: _Slot[P, R] | None = None  # the newest finished check before the delay line's front
    _ended: bool = False
    _flagged_run: int = 0  # checks in a row, up to the latest recorded, that were not allowed (warn_run)
    _run_start_s: float | None = None  # time of the first check of that run (None: the last check allowed)
    #: (time, flagged) of the last ``warn_window`` checks (``StreamSettings.warn_window``)
    _window: deque[tuple[float, bool]] = field(default_factory=deque)
    _last_record_s: float = float("-inf")  # time of the newest recorded check
    #: (from_s, to_s, result): held frames in that time are taken back, citing the check's result
    _takebacks: deque[tuple[float, float, R]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        s = self.settings
        self._hysteresis = Hysteresis(s.reopen_checks, s.reopen_s, reopen_on_cut=s.reopen_on_cut)

    @property
    def pending(self) -> int:
        """Frames in the delay line."""
        return len(self._slots)

    @property
    def blocked(self) -> bool:
        """The hysteresis is shut (the last check found, or followed, something unsafe)."""
        return not self._hysteresis.is_open

    def add(self, index: int, t_s: float, *, cut: bool, payload: P) -> None:
        """A new frame arrived (indices must increase). ``cut``: it differs a lot from the last check."""
        if self._slots and index <= self._slots[-1].index:
            raise ValueError(f"frame {index} arrived after frame {self._slots[-1].index}")
        self._slots.append(_Slot(index, t_s, cut, payload))

    def payload(self, index: int) -> P:
        """The payload of a frame still in the delay line (e.g. to hand it to the detector)."""
        return self._slot(index).payload

    def end(self) -> None:
        """The stream ended: the last frame gets checked even if off the check grid."""
        self._ended = True

    def next_check(self) -> int | None:
        """The frame the detector should check now, or None (marks it queued)."""
        candidates = [s for s in self._slots if s.state is _State.NEW and s.index > self._last_scheduled]
        if not candidates:
            return None
        if self._queued():
            return None  # one check at a time, in stream order
        target = self._last_scheduled + self.settings.max_gap + 1
        if self._must_check_front(candidates):
            chosen = candidates[0]  # nothing behind it can cover it: check it first
        elif self.settings.schedule == "latest" and candidates[-1].index - target > self.settings.max_gap:
            chosen = candidates[-1]  # behind: catch up; frames in between cannot be covered
        else:
            due = [s for s in candidates if s.index >= target or s.cut]
            if due:
                chosen = due[0]
            elif self._ended:
                chosen = candidates[-1]
            else:
                return None
        self._hand_over(chosen, candidates)
        return chosen.index

    def queue(self, index: int) -> None:
        """Hand frame ``index`` to the detector because another ledger's :meth:`next_check` chose it.

        A recording ledger (:attr:`StreamSettings.record_hold_s`) is fed the same frames and checks
        as the live one and follows its schedule, so both see exactly the same checks and only the
        hold differs. Raises ValueError if this ledger could not have chosen ``index`` now."""
        candidates = [s for s in self._slots if s.state is _State.NEW and s.index > self._last_scheduled]
        chosen = next((s for s in candidates if s.index == index), None)
        if chosen is None or self._queued():
            raise ValueError(f"frame {index} cannot be handed to the detector now")
        self._hand_over(chosen, candidates)

    def withhold(self, index: int) -> None:
        """Another ledger withheld frame ``index``: never release it here either.

        The recording's ledger holds frames longer, so under ``latest`` the live ledger's overload
        bound can give up a frame (never checked, not yet covered) that the recording's, still
        holding the frames before it, would see covered later. A recording keeps no frame the live
        output withheld. Raises ValueError if the frame is no longer in this delay line."""
        slot = self._slot_or_none(index)
        if slot is None:
            raise ValueError(f"frame {index} is not in the delay line")
        slot.vetoed = True

    def _hand_over(self, chosen: _Slot[P, R], candidates: list[_Slot[P, R]]) -> None:
        for s in candidates:
            if s.index < chosen.index:
                s.state = _State.SKIPPED
        chosen.state = _State.QUEUED
        self._last_scheduled = chosen.index

    def _queued(self) -> bool:
        return any(s.state is _State.QUEUED for s in self._slots)

    def _must_check_front(self, candidates: list[_Slot[P, R]]) -> bool:
        # The first frame of a stream has no check behind it.
        return self._last_check is None and self._last_scheduled < 0 and self._slots[0] is candidates[0]

    def record(
        self,
        index: int,
        *,
        allowed: bool,
        result: R,
        confident: bool | None = None,
        new_scene: bool = False,
        warn: bool = False,
    ) -> None:
        """The check of frame ``index`` finished: ``allowed`` is the verdict's decision == ALLOW;
        ``confident`` (default: ``allowed``) that its score was well below the block threshold;
        ``new_scene`` that the checked frame no longer looks like what blocked (``reopen_on_cut``);
        ``warn`` (read only when not allowed) that it was a warn, not a block. A block shuts the
        hysteresis; a warn only with :attr:`StreamSettings.warn_shuts` and when it ends
        :attr:`StreamSettings.warn_run` checks in a row that were not allowed. Either way the
        frame itself is not released, nor the unchecked frames beside it."""
        slot = self._slot_or_none(index)
        if slot is None or slot.state is not _State.QUEUED:
            raise ValueError(f"frame {index} was not waiting for a check")
        slot.state, slot.result = _State.DONE, result
        sure = allowed if confident is None else allowed and confident
        self._flagged_run = 0 if allowed else self._flagged_run + 1
        s = self.settings
        window = self._window
        if s.warn_window > s.warn_run:
            window.append((slot.t_s, not allowed))
            while len(window) > s.warn_window:
                window.popleft()
        flagged = [t for t, f in window if f]
        dense = len(flagged) >= s.warn_run  # (empty unless warn_window > warn_run)
        shuts = not warn or (s.warn_shuts and (self._flagged_run >= s.warn_run or dense))
        slot.safe = self._hysteresis.update(allowed, slot.t_s, confident=sure, new_scene=new_scene, shut=shuts)
        self._last_record_s = slot.t_s
        if allowed:
            self._run_start_s = None
            return
        if self._run_start_s is None:
            self._run_start_s = slot.t_s
        if s.hold_s > 0 and (s.hold_after == "flag" or shuts):
            since = slot.t_s if s.hold_after == "flag" else self._run_start_s
            if s.hold_after == "shut" and dense:
                since = min(since, flagged[0])  # the window is full: from its first flagged check
            self._takebacks.append((since - s.hold_s, slot.t_s, result))

    def resolve(self) -> list[Outcome[P, R]]:
        """Pop every frame at the front whose fate is settled, in order."""
        out: list[Outcome[P, R]] = []
        while self._slots:
            fate = self._fate_of_front()
            taken: tuple[float, float, R] | None = None
            if fate is None:
                if not self._overloaded():
                    break
                fate = Fate.UNCOVERED  # live overload: give up the oldest, never release it
            elif fate.released and self._slots[0].vetoed:
                fate = Fate.UNCOVERED  # the live output gave it up: the recording does too
            elif fate.released and self.settings.hold_s > 0:
                taken = self._taken_back(self._slots[0].t_s)
                if taken is not None:
                    fate = Fate.BLOCKED  # the stream shut within the hold: taken back
                elif not self._hold_over(self._slots[0].t_s):
                    if not self._overloaded(held=True):
                        break
                    fate = Fate.UNCOVERED  # live overload while held: given up, never released
            slot = self._slots.popleft()
            if slot.state is _State.DONE:
                self._last_check = slot
            result = taken[2] if taken is not None else self._result_for(slot, fate)
            out.append(Outcome(slot.index, fate, slot.payload, result))
        return out

    def _taken_back(self, t_s: float) -> tuple[float, float, R] | None:
        """The take-back (:attr:`StreamSettings.hold_s`) whose time span holds ``t_s``, if any.
        Frames resolve in order, so spans that end before ``t_s`` are forgotten."""
        while self._takebacks and self._takebacks[0][1] < t_s:
            self._takebacks.popleft()
        return next((tb for tb in self._takebacks if tb[0] - 1e-6 <= t_s <= tb[1]), None)

    def _hold_over(self, t_s: float) -> bool:
        """Whether a frame at ``t_s`` cleared for release has been held long enough: a check at
        least ``hold_s`` after it is recorded, and (``hold_after = "shut"``) no flagged run that
        began within the hold is still open (it may yet shut the stream); or the stream ended
        with no check left to come."""
        s = self.settings
        reached = self._last_record_s >= t_s + s.hold_s - 1e-6
        run = self._run_start_s
        if reached and (s.hold_after == "flag" or run is None or run > t_s + s.hold_s + 1e-6):
            return True
        return self._ended and not any(x.state in (_State.NEW, _State.QUEUED) for x in self._slots)

    def abandon(self) -> list[Outcome[P, R]]:
        """Give up every frame in the delay line (worker died, stream cut short): none is released."""
        out = [
            Outcome(s.index, Fate.BLOCKED if s.state is _State.DONE else Fate.UNCOVERED, s.payload, s.result)
            for s in self._slots
        ]
        self._slots.clear()
        return out

    def _result_for(self, slot: _Slot[P, R], fate: Fate) -> R | None:
        if fate is Fate.COVERED:
            return self._last_check.result if self._last_check is not None else None
        return slot.result

    def _slot(self, index: int) -> _Slot[P, R]:
        if (slot := self._slot_or_none(index)) is None:
            raise KeyError(f"frame {index} is not in the delay line")
        return slot

    def _slot_or_none(self, index: int) -> _Slot[P, R] | None:
        return next((s for s in self._slots if s.index == index), None)

    def _overloaded(self, *, held: bool = False) -> bool:
        # Only frames nobody is checking are given up: a check in flight still moves the
        # hysteresis (a block found late must still shut it). A held frame (``held``) waits for
        # the checks after it; the frames within the hold behind it do not count toward the bound.
        if self.settings.schedule != "latest":
            return False
        if held:
            end = self._slots[0].t_s + self.settings.hold_s + 1e-6
            waiting = sum(1 for x in self._slots if x.t_s > end)
            return waiting > self.settings.max_delay_frames
        return len(self._slots) > self.settings.max_delay_frames and self._slots[0].state in (
            _State.NEW,
            _State.SKIPPED,
        )

    def _fate_of_front(self) -> Fate | None:
        front = self._slots[0]
        if front.state is _State.DONE:
            return Fate.CHECKED if front.safe else Fate.BLOCKED
        if front.state is _State.QUEUED:
            return None
        nxt = next((s for s in self._slots if s.state in (_State.QUEUED, _State.DONE)), None)
        if nxt is None:
            return None  # next_check will schedule a check at or after it (at the end: the last frame)
        if nxt.state is _State.QUEUED:
            return None
        prev = self._last_check
        if prev is None:
            return Fate.UNCOVERED
        if not prev.safe or not nxt.safe:
            return Fate.BLOCKED  # withheld because a check beside it blocked (or the stream was still shut)
        gap = nxt.index - prev.index - 1
        cut_between = any(s.cut and s.state is not _State.DONE for s in self._slots if s.index < nxt.index)
        return Fate.COVERED if gap <= self.settings.max_gap and not cut_between else Fate.UNCOVERED

"""The stream guard's state machine (stdlib only): which frames to check, and each frame's fate.

One object, changed by a few calls, tested with timelines (no threads, no models):

* :meth:`StreamLedger.add` puts a frame in the delay line;
* :meth:`StreamLedger.next_check` says which frame the detector should check next;
* :meth:`StreamLedger.record` takes a check's result;
* :meth:`StreamLedger.resolve` pops, in order, every frame whose fate is settled.

The rule: a frame is released only if it was checked safe, or it lies between two safe checks at
most ``max_gap`` frames apart with no unchecked scene cut between them. "Safe" means the check
allowed the frame **and** the hysteresis was open: after a block, :class:`Hysteresis` stays shut
until ``reopen_checks`` consecutive safe checks spanning ``reopen_s`` seconds. Everything else
becomes a placeholder (or is dropped); nothing is ever released unchecked.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from captureguard.errors import ConfigError


class Fate(enum.Enum):
    """What happens to one frame."""

    CHECKED = "checked"  # checked, allowed, hysteresis open: released
    COVERED = "covered"  # between two safe checks <= max_gap apart: released
    PLACEHOLDER = "placeholder"  # not shown; replaced by the guard's placeholder
    DROPPED = "dropped"  # not shown at all (live overload, or on_block="drop")


@dataclass(frozen=True)
class StreamSettings:
    """How the stream guard trades checks, latency and strictness.

    Attributes:
        max_gap: at most this many unchecked frames between two safe checks (0: check all).
        reopen_checks: after a block, safe checks in a row needed to release frames again.
        reopen_s: ...and the seconds those checks must span. Measured (bench/hysteresis.py): with
            no hysteresis (1 check, 0 s) a frame flickering between allow and block leaked;
            3 checks over 0.5 s leaked none and still showed 93-94% of the clean frames
            (1 s: 86-90%).
        scene_cut: thumbnail difference (0..1) from the previous frame, or from the last checked
            one, that forces a check. Measured: ordinary motion in the safe eval videos stays
            <= 0.074 frame to frame (p99), cuts between different stills are >= 0.161.
        max_delay_frames: delay-line bound for live sources: older undecided frames are given
            up (never released). (Files run in lockstep and never fill it.)
        live: a live source (catch up by skipping to the newest frame) vs a file (check all).
        unreleasable: what happens to a frame that may not be shown: ``placeholder`` or ``drop``.
    """

    max_gap: int = 1
    reopen_checks: int = 3
    reopen_s: float = 0.5
    scene_cut: float = 0.12
    max_delay_frames: int = 12
    live: bool = False
    unreleasable: str = "placeholder"

    def __post_init__(self) -> None:
        if not 0 <= self.max_gap <= 30:
            raise ConfigError(f"max_gap must be 0..30 frames, got {self.max_gap}")
        if self.reopen_checks < 1 or self.reopen_s < 0:
            raise ConfigError("reopen_checks must be >= 1 and reopen_s >= 0")
        if not 0 < self.scene_cut <= 1:
            raise ConfigError(f"scene_cut must be in (0, 1], got {self.scene_cut}")
        if self.max_delay_frames < self.max_gap + 2:
            raise ConfigError(f"max_delay_frames must be at least max_gap + 2 = {self.max_gap + 2}")
        if self.unreleasable not in ("placeholder", "drop"):
            raise ConfigError(f"unreleasable must be 'placeholder' or 'drop', got {self.unreleasable!r}")


@dataclass
class Hysteresis:
    """Stay shut after a block until enough safe checks, over enough time, have passed."""

    reopen_checks: int
    reopen_s: float
    is_open: bool = True
    _streak: int = 0
    _streak_start_s: float = 0.0

    def update(self, safe: bool, t_s: float) -> bool:
        """Feed one check (in stream order); returns whether frames may be released at it."""
        if not safe:
            self.is_open, self._streak = False, 0
            return False
        if not self.is_open:
            if self._streak == 0:
                self._streak_start_s = t_s
            self._streak += 1
            # 1 µs of slack: timestamps from pts * time_base are not exact in binary.
            if self._streak >= self.reopen_checks and t_s - self._streak_start_s >= self.reopen_s - 1e-6:
                self.is_open, self._streak = True, 0
        return self.is_open


@dataclass
class _Slot:
    index: int
    t_s: float
    cut: bool
    state: str = "new"  # new -> queued -> done, or skipped (never checked)
    safe: bool = False  # check allowed it and the hysteresis was open


@dataclass
class StreamLedger:
    """The delay line and the decision rule of one stream."""

    settings: StreamSettings = field(default_factory=StreamSettings)
    _slots: deque[_Slot] = field(default_factory=deque)
    _hysteresis: Hysteresis = field(init=False)
    _last_scheduled: int = -1  # index of the last frame handed to the detector
    _last_check: _Slot | None = None  # the newest finished check before the delay line's front
    _ended: bool = False

    def __post_init__(self) -> None:
        self._hysteresis = Hysteresis(self.settings.reopen_checks, self.settings.reopen_s)

    @property
    def pending(self) -> int:
        """Frames in the delay line."""
        return len(self._slots)

    @property
    def blocked(self) -> bool:
        """The hysteresis is shut (the last check found, or followed, something unsafe)."""
        return not self._hysteresis.is_open

    def add(self, index: int, t_s: float, *, cut: bool) -> None:
        """A new frame arrived (indices must increase). ``cut``: it differs a lot from the last check."""
        if self._slots and index <= self._slots[-1].index:
            raise ValueError(f"frame {index} arrived after frame {self._slots[-1].index}")
        self._slots.append(_Slot(index, t_s, cut))

    def end(self) -> None:
        """The stream ended: the last frame gets checked even if off the check grid."""
        self._ended = True

    def next_check(self) -> int | None:
        """The frame the detector should check now, or None (marks it queued)."""
        candidates = [s for s in self._slots if s.state == "new" and s.index > self._last_scheduled]
        if not candidates:
            return None
        if self._queued():
            return None  # one check at a time, in stream order
        target = self._last_scheduled + self.settings.max_gap + 1
        if self._must_check_front(candidates):
            chosen = candidates[0]  # nothing behind it can cover it: check it first
        elif self.settings.live and candidates[-1].index - target > self.settings.max_gap:
            chosen = candidates[-1]  # behind: catch up; frames in between cannot be covered
        else:
            due = [s for s in candidates if s.index >= target or s.cut]
            if due:
                chosen = due[0]
            elif self._ended:
                chosen = candidates[-1]
            else:
                return None
        for s in candidates:
            if s.index < chosen.index:
                s.state = "skipped"
        chosen.state = "queued"
        self._last_scheduled = chosen.index
        return chosen.index

    def _queued(self) -> bool:
        return any(s.state == "queued" for s in self._slots)

    def _must_check_front(self, candidates: list[_Slot]) -> bool:
        # The first frame of a stream has no check behind it.
        return self._last_check is None and self._last_scheduled < 0 and self._slots[0] is candidates[0]

    def record(self, index: int, *, allowed: bool) -> None:
        """The check of frame ``index`` finished: ``allowed`` is the verdict's decision == ALLOW."""
        slot = next((s for s in self._slots if s.index == index), None)
        if slot is None or slot.state != "queued":
            raise ValueError(f"frame {index} was not waiting for a check")
        slot.state = "done"
        slot.safe = self._hysteresis.update(allowed, slot.t_s)

    def resolve(self) -> list[tuple[int, Fate]]:
        """Pop every frame at the front whose fate is settled, in order."""
        out: list[tuple[int, Fate]] = []
        while self._slots:
            fate = self._fate_of_front()
            if fate is None:
                if not self._overloaded():
                    break
                fate = self._unreleasable()  # live overload: give up the oldest, never release it
            slot = self._slots.popleft()
            if slot.state == "done":
                self._last_check = slot
            out.append((slot.index, fate))
        return out

    def abandon(self) -> list[tuple[int, Fate]]:
        """Give up every frame in the delay line (worker died, stream cut short): none is released."""
        out = [(s.index, self._unreleasable()) for s in self._slots]
        self._slots.clear()
        return out

    def _overloaded(self) -> bool:
        # Only frames nobody is checking are given up: a check in flight still moves the
        # hysteresis (a block found late must still shut it).
        return (
            self.settings.live
            and len(self._slots) > self.settings.max_delay_frames
            and self._slots[0].state in ("new", "skipped")
        )

    def _fate_of_front(self) -> Fate | None:
        front = self._slots[0]
        if front.state == "done":
            return Fate.CHECKED if front.safe else self._unreleasable()
        if front.state == "queued":
            return None
        nxt = next((s for s in self._slots if s.state in ("queued", "done")), None)
        if nxt is None:
            return None  # next_check will schedule a check at or after it (at the end: the last frame)
        if nxt.state == "queued":
            return None
        prev = self._last_check
        if prev is None or not prev.safe or not nxt.safe:
            return self._unreleasable()
        gap = nxt.index - prev.index - 1
        cut_between = any(s.cut and s.state != "done" for s in self._slots if s.index < nxt.index)
        return Fate.COVERED if gap <= self.settings.max_gap and not cut_between else self._unreleasable()

    def _unreleasable(self) -> Fate:
        return Fate.DROPPED if self.settings.unreleasable == "drop" else Fate.PLACEHOLDER

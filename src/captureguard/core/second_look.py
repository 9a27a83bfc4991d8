"""The live check's second look: the photo check on the picture the locator found (pure).

The live check misses nude artworks that fill 10-20% of a camera frame, which the photo check
blocks as stills (the held-out leak benchmark's leaks, docs/accuracy.md). The picture locator
already finds where such a picture sits (its outer box, ``PICTURE_OUTER``); the photo check run
on that crop sees the artwork much as it sees the still. :class:`PictureRule` says when that
second look runs and how much its score counts (and whether the tighter picture found inside the
crop is read too: ``refine``, measured and off as shipped); :func:`second_look` joins the two verdicts.

Measured on the dev stills (out of fold), the photo check on small crops of people photos (a
face or a shoulder blown up) false-blocks, and on photos of safe paintings it blocks what the
photo check blocks on them. So the second look runs only when the live check is unsure (its score
reaches ``from_score``) and the box is a real share of the frame (``min_share``), and its score is
moved down by ``offset`` (logit) before the profile's thresholds apply.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from captureguard.core.policy import Profile
from captureguard.core.verdict import Decision, Reason, Verdict
from captureguard.errors import ConfigError

#: the reason code of a verdict the second look decided
PICTURE_CHECK = "PICTURE_CHECK"
#: the timing key of a tighter crop left out on time (its value: the estimate that did not fit)
SKIPPED_TIGHTER = "skipped:picture2"
#: the reason code of a frame withheld because its second look would not fit the check's deadline
PICTURE_LATE = "PICTURE_LATE"
#: the timing key of a second look left out on time (its value: the ms the check had left for it)
SKIPPED_PICTURE = "skipped:picture"
#: what a rule does with a second look when the check has a deadline (:attr:`PictureRule.late`)
LATE_CHOICES = ("withhold", "run")
#: the share of the deadline a check with its second look may take (the rest: the join, handing the
#: verdict back, a busy machine's scheduling)
FIT_SHARE = 0.95

_SEVERITY = {Decision.ALLOW: 0, Decision.WARN: 1, Decision.BLOCK: 2}
_KEYS = {"mode", "from_score", "min_share", "offset", "refine", "refine_within_ms", "people_input", "late", "note"}


@dataclass(frozen=True)
class PictureRule:
    """When the second look runs and how its score counts.

    Attributes:
        mode: the checker run on the crop (``photo``: the photo check, its own detectors and head;
            the live check's own mode: its full detector set and head, without the cascade).
        from_score: run only when the live verdict allows or warns with a score of at least this.
        min_share: run only when the located box covers at least this share of the frame.
        offset: the crop check's score counts as ``sigmoid(logit(score) - offset)`` against the
            profile's warn and block scores (0: as the photo check decides it).
        refine: when the crop does not block and the picture located *in the crop* covers less than
            this share of it, the same check reads that tighter crop too (0: never). The locator's
            box on a camera frame is coarse (its cells are a tenth of the frame), so a small
            artwork fills only part of the first crop.
        refine_within_ms: the tighter crop is read only when the check's time so far plus that
            read, estimated as the first crop's own time, stays within this many milliseconds
            (0: no limit). The tighter crop is an extra look on top of a frame the check has
            already decided: leaving it out when the check would run past a live deadline keeps
            the first look's verdict instead of turning the frame into a timeout block.
        people_input: the crop check's person detectors (its ``nsfw_probe``) read people at this
            input size (a multiple of 32; 0: as its table configures them). The photo check reads
            people at 960, but a located picture is a 300-800 px crop of a 720p frame, which 960
            only blows up. Measured, off as shipped: at 640 the live check's p99 is 8% lower, and
            held out it leaks a few frames more (docs/accuracy.md, "After v2.10, third").
        late: what a check with a deadline (a stream's) does with the look. ``run`` (shipped, as
            v2.10): it runs regardless; a check past the deadline blocks as a timeout, which shuts
            the stream for >= 1 s. ``withhold`` (measured, not shipped): the look is held to what is
            left of the deadline (:meth:`time_left`); a look that runs past that, or that the recent
            looks say cannot fit (:meth:`may_start`), is left out and the frame withheld as a warn
            (:func:`withheld_late`), which does not shut the stream by itself. On a machine half as
            fast as v2.10's it withheld less safe video and leaked a few frames more
            (docs/accuracy.md, "After v2.10, fifth").
    """

    mode: str = "photo"
    from_score: float = 0.0
    min_share: float = 0.0
    offset: float = 0.0
    refine: float = 0.0
    refine_within_ms: float = 0.0
    people_input: int = 0
    late: str = "run"

    def __post_init__(self) -> None:
        for key in ("from_score", "min_share", "refine"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"picture_check: {key} must be a number in [0, 1], got {value!r}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int | float) or not math.isfinite(self.offset):
            raise ConfigError(f"picture_check: offset must be a finite number, got {self.offset!r}")
        within = self.refine_within_ms
        if isinstance(within, bool) or not isinstance(within, int | float) or not 0.0 <= within < math.inf:
            raise ConfigError(f"picture_check: refine_within_ms must be a number >= 0 (0: no limit), got {within!r}")
        if within and not self.refine:
            raise ConfigError("picture_check: refine_within_ms limits the tighter crop, which is off (refine = 0)")
        people = self.people_input
        if (
            isinstance(people, bool)
            or not isinstance(people, int)
            or (people and not 64 <= people <= 2048)
            or people % 32
        ):
            raise ConfigError(f"picture_check: people_input must be 0 or a multiple of 32 in 64..2048, got {people!r}")
        if not isinstance(self.mode, str) or not self.mode or "@" in self.mode:
            raise ConfigError(f"picture_check: mode must name a detector table, got {self.mode!r}")
        if self.late not in LATE_CHOICES:
            raise ConfigError(f"picture_check: late must be one of {list(LATE_CHOICES)}, got {self.late!r}")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, origin: str = "picture_check") -> PictureRule:
        """The rule of a ``[MODE.picture_check]`` table (``note`` is free text).

        Raises:
            ConfigError: unknown keys or values out of range.
        """
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ConfigError(f"{origin}: unknown keys {unknown}; allowed: {sorted(_KEYS)}")
        return cls(**{k: v for k, v in table.items() if k != "note"})

    @classmethod
    def from_spec(cls, spec: str) -> PictureRule:
        """The rule written ``[MODE[@PEOPLE]:]FROM/MIN_SHARE/OFFSET[/REFINE[@WITHIN_MS]]`` (the
        benchmarks' grids; mode ``photo``, people as configured, refine 0 and no time limit when left
        out), the inverse of :attr:`spec`.

        Raises:
            ConfigError: not that form, or values out of range.
        """
        form = "[MODE[@PEOPLE]:]FROM/MIN_SHARE/OFFSET[/REFINE[@WITHIN_MS]]"
        head, _, rest = spec.rpartition(":")
        numbers, at, within = rest.partition("@")
        try:
            values = [float(x) for x in numbers.split("/")]
            limit = float(within) if at else 0.0
            mode, size = cls.split_inner(head or "photo")
        except (ValueError, ConfigError):
            values, limit, mode, size = [], 0.0, "", 0
        if len(values) not in (3, 4) or (at and len(values) != 4):
            raise ConfigError(f"a second-look rule is {form}, got {spec!r}")
        refine = values[3] if len(values) == 4 else 0.0
        return cls(mode, values[0], values[1], values[2], refine, refine_within_ms=limit, people_input=size)

    @property
    def inner(self) -> str:
        """The crop check this rule runs, as a key: its mode, and ``@PEOPLE`` when it sets :attr:`people_input`."""
        return f"{self.mode}@{self.people_input}" if self.people_input else self.mode

    @staticmethod
    def split_inner(key: str) -> tuple[str, int]:
        """The mode and people input of an :attr:`inner` key (``photo@640`` -> ``("photo", 640)``,
        ``live`` -> ``("live", 0)``).

        Raises:
            ConfigError: not ``MODE`` or ``MODE@PEOPLE`` with a positive whole number.
        """
        mode, at, people = key.partition("@")
        size = int(people) if at and people.isdigit() else 0
        if not mode or (at and size <= 0):
            raise ConfigError(f"a crop check is MODE or MODE@PEOPLE, got {key!r}")
        return mode, size

    @property
    def spec(self) -> str:
        """The rule as :meth:`from_spec` reads it (the crop check only when not ``photo``, refine when on)."""
        prefix = "" if self.inner == "photo" else f"{self.inner}:"
        refine = f"/{self.refine:g}" if self.refine else ""
        within = f"@{self.refine_within_ms:g}" if self.refine and self.refine_within_ms else ""
        return f"{prefix}{self.from_score:g}/{self.min_share:g}/{self.offset:g}{refine}{within}"

    def wants(self, live: Verdict, share: float) -> bool:
        """Whether the second look runs after ``live`` with a located box of ``share`` of the frame."""
        return live.decision is not Decision.BLOCK and live.score >= self.from_score and share >= self.min_share

    def refines(self, joined: Verdict, share_of_crop: float) -> bool:
        """Whether the tighter crop is read too, after the first crop's ``joined`` verdict, the
        picture located in the crop covering ``share_of_crop`` of it."""
        return self.refine > 0.0 and joined.decision is not Decision.BLOCK and share_of_crop < self.refine

    def refine_fits(self, spent_ms: float, crop_ms: float) -> bool:
        """Whether the tighter crop's read fits :attr:`refine_within_ms`: the check has spent
        ``spent_ms`` on the whole frame and ``crop_ms`` on the first crop, and the tighter crop
        (the same check on a crop resized to the same input) is estimated to cost ``crop_ms`` again.
        A time that is not a finite number >= 0 does not fit (no limit: always fits)."""
        if not self.refine_within_ms:
            return True
        if not all(math.isfinite(t) and t >= 0.0 for t in (spent_ms, crop_ms)):
            return False
        return self.refine_estimate(spent_ms, crop_ms) <= self.refine_within_ms

    def time_left(self, spent_ms: float, budget_ms: float | None) -> float | None:
        """The ms the look may take after the check's ``spent_ms``, the check held to ``budget_ms``:
        :data:`FIT_SHARE` of the budget less what is spent (<= 0: none left). None: no limit (no
        deadline, or ``late = "run"``). A time that is not a finite number >= 0 leaves none."""
        if self.late == "run" or budget_ms is None:
            return None
        if not all(math.isfinite(t) and t >= 0.0 for t in (spent_ms, budget_ms)):
            return 0.0
        return FIT_SHARE * budget_ms - spent_ms

    def may_start(self, left_ms: float | None, fastest_ms: float | None) -> bool:
        """Whether a look with ``left_ms`` left (:meth:`time_left`; None: no limit) is worth starting,
        the fastest recent look having taken ``fastest_ms`` (None: none timed lately). One that
        cannot finish in time would only take the cores from the next checks."""
        if left_ms is None:
            return True
        return left_ms > 0.0 and (fastest_ms is None or fastest_ms <= left_ms)

    @staticmethod
    def refine_estimate(spent_ms: float, crop_ms: float) -> float:
        """The check's estimated time with the tighter crop read (:meth:`refine_fits`)."""
        return spent_ms + 2.0 * crop_ms

    def counted(self, score: float) -> float:
        """The crop check's score as it counts against the profile (moved by ``offset`` in logit)."""
        if self.offset == 0.0 or score in (0.0, 1.0):
            return score
        z = math.log(score / (1.0 - score)) - self.offset
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


@dataclass
class LookTimes:
    """The second look's recent times (the caller's clock, in s): the fastest of the last
    ``window_s`` seconds (at most ``keep`` looks) is a floor under the next one's.

    Times age out, so a burst of slow looks (a busy machine) holds looks back for ``window_s`` at
    most: with no recent time the next look starts and is timed. Not thread-safe (the caller locks).
    """

    window_s: float = 10.0
    keep: int = 16
    _times: deque[tuple[float, float]] = field(default_factory=deque, repr=False)

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and math.isfinite(self.window_s)) or self.keep < 1:
            raise ConfigError(f"LookTimes: window_s must be > 0 and keep >= 1, got {self.window_s}, {self.keep}")

    def record(self, at_s: float, ms: float) -> None:
        """A look that took ``ms`` ended at ``at_s`` (a time that is not finite and >= 0 is not kept)."""
        if not (math.isfinite(ms) and ms >= 0.0):
            return
        self._times.append((at_s, ms))
        while len(self._times) > self.keep:
            self._times.popleft()

    def fastest(self, at_s: float) -> float | None:
        """The fastest recent look's ms at ``at_s``; None when none is recent."""
        while self._times and self._times[0][0] < at_s - self.window_s:
            self._times.popleft()
        return min(ms for _, ms in self._times) if self._times else None


def withheld_late(live: Verdict, rule: PictureRule, profile: Profile, *, share: float, left_ms: float) -> Verdict:
    """The verdict of a frame whose second look did not fit the check's deadline (it had ``left_ms``:
    :meth:`PictureRule.time_left`): withheld as a warn (the profile's warn score at least), its
    reasons led by :data:`PICTURE_LATE`, ``left_ms`` under :data:`SKIPPED_PICTURE` in its timings.

    The live check allowed this frame but was unsure of it (the rule wanted the look), so it is not
    released without the look (fail closed). A warn, not a block: in a stream a warn withholds its
    frame, and it shuts the stream only when it ends a run of checks that were not allowed
    (:class:`~captureguard.core.ledger.StreamSettings`), where a timeout block shuts it at once.
    """
    if live.decision is Decision.BLOCK or live.failed:
        return live
    score = max(live.score, profile.warn_score)
    why = Reason(
        PICTURE_LATE,
        score,
        rule.mode,
        f"the picture in view ({share:.0%} of the frame) could not be checked in time: withheld",
    )
    timings = {**live.timings_ms, SKIPPED_PICTURE: left_ms}
    return Verdict(Decision.WARN, score, (why, *live.reasons), profile.name, timings)


def second_look(
    live: Verdict, crop: Verdict, rule: PictureRule, profile: Profile, *, share: float, stage: str = "picture"
) -> Verdict:
    """``live`` joined with the crop check's verdict ``crop``: the stricter decision, the larger score.

    The crop's score counts as :meth:`PictureRule.counted` under ``profile``'s block and warn scores
    (its region rules are not re-applied). A failed crop check blocks (fail closed), citing its
    failure. When the crop decides, its reasons follow a ``PICTURE_CHECK`` reason; otherwise the
    live verdict stands, its score raised to the crop's counted score if that is higher (a frame
    the second look found suspicious is not a confident safe check).
    """
    timings = {**live.timings_ms, **{f"{stage}:{k}": v for k, v in crop.timings_ms.items()}}
    if crop.failed:
        return Verdict(Decision.BLOCK, 1.0, crop.reasons, profile.name, timings)
    score = rule.counted(crop.score)
    decision = (
        Decision.BLOCK
        if score >= profile.block_score
        else Decision.WARN
        if score >= profile.warn_score
        else Decision.ALLOW
    )
    if _SEVERITY[decision] > _SEVERITY[live.decision]:
        why = Reason(
            PICTURE_CHECK,
            score,
            rule.mode,
            f"the {rule.mode} check on the picture in view ({share:.0%} of the frame)",
        )
        return Verdict(decision, max(score, live.score), (why, *crop.reasons), profile.name, timings)
    return replace(live, score=max(score, live.score), timings_ms=timings)

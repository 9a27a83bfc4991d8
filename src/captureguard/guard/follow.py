"""One stream check that remembers: the whole frame, plus the crop that caused the last block.

After a block the stream guard keeps a *focus*: a crop around the evidence that blocked
(:func:`~captureguard.core.region.focus_of`). While the stream is shut, each check looks at the
whole frame **and** at that crop; the crop's verdict wins when it blocks, and the focus moves to
where the evidence is found next, so it follows a painting or a person that the camera pans
across or zooms away from. A checker without :meth:`~captureguard.guard.check.Checker.inspect`
(a plain ``check(frame) -> Verdict``) gets whole-frame checks only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from captureguard.core.detection import DEFAULT_BLOCK_CLASSES, Detections
from captureguard.core.frame import Frame
from captureguard.core.region import Box, FocusRule, focus_of
from captureguard.core.verdict import Decision, Verdict
from captureguard.guard.check import Inspection


class FrameChecker(Protocol):
    """Anything with ``check(frame) -> Verdict`` (a :class:`~captureguard.guard.check.Checker`)."""

    def check(self, frame: Frame) -> Verdict:
        """Decide about one frame."""
        ...


@runtime_checkable
class Inspector(Protocol):
    """A checker that can say why and check a crop (:class:`~captureguard.guard.check.Checker`)."""

    def inspect(self, frame: Frame, *, region: Box | None = None, within_ms: float | None = None) -> Inspection:
        """Decide about the frame (or the crop ``region``) with the detections behind it, within
        ``within_ms`` (the caller's deadline, None: the checker's own)."""
        ...


@dataclass(frozen=True)
class Look:
    """The result of one stream check: the whole frame's inspection and, after a block, the crop's."""

    whole: Inspection
    crop: Inspection | None = None

    @property
    def verdict(self) -> Verdict:
        """The crop's verdict when it did not allow (the cause is still there), else the whole frame's."""
        if self.crop is not None and self.crop.verdict.decision is not Decision.ALLOW:
            return self.crop.verdict
        return self.whole.verdict

    def confident(self, below_score: float) -> bool:
        """Every verdict allowed with a fused score under ``below_score`` (well below the threshold)."""
        parts = [self.whole] + ([self.crop] if self.crop is not None else [])
        return all(p.verdict.decision is Decision.ALLOW and p.verdict.score < below_score for p in parts)


def look(checker: FrameChecker, frame: Frame, focus: Box | None, *, within_ms: float | None = None) -> Look:
    """Check ``frame`` whole, and the crop ``focus`` too when there is one (the checker can).
    ``within_ms``: the whole frame's check is held to this deadline (its second look must fit it)."""
    if not isinstance(checker, Inspector):
        return Look(Inspection(checker.check(frame), Detections.empty()))
    whole = checker.inspect(frame, within_ms=within_ms)
    crop = checker.inspect(frame, region=focus) if focus is not None else None
    return Look(whole, crop)


def rule_for(checker: FrameChecker) -> FocusRule:
    """The focus rule for ``checker``: its blocking region labels (default: the exposed parts)."""
    labels = getattr(checker, "region_labels", None)
    return FocusRule(frozenset(labels) if labels else frozenset(DEFAULT_BLOCK_CLASSES))


def next_focus(seen: Look, old: Box | None, rule: FocusRule, *, width: int, height: int) -> Box | None:
    """Where to look next while shut: the crop's evidence, else the whole frame's, else where we looked."""
    for part in (seen.crop, seen.whole):
        if part is not None and (box := focus_of(part.detections, rule, width=width, height=height)) is not None:
            return box
    return old

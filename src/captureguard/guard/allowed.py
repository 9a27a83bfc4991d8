"""The safety rule as a type: sinks accept only frames a guard has let through.

:class:`AllowedFrame` and :class:`AllowedPhoto` can be made only by the guards in this package
(they need a private capability); every sink's ``write`` takes one of them, so code that hands a
sink an unchecked frame does not type-check, and fails at run time if it tries to forge one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from captureguard.core.frame import Frame
from captureguard.core.verdict import Decision, Verdict

_CAPABILITY = object()


class Release(enum.Enum):
    """Why a stream frame may reach a sink, and with which pixels.

    Released (the camera's pixels): ``CHECKED``, the frame itself was checked and allowed;
    ``COVERED``, it lies between two allowed checks at most ``max_gap`` frames apart.
    Withheld (the guard's placeholder pixels instead): ``BLOCKED``, its check, or the check beside
    it, found nudity, or it came while the stream was still blocked (hysteresis); ``FAILED``, the
    check that withheld it failed (error, timeout, overload); ``UNCOVERED``, it was not checked and
    is not covered although no check blocked (a scene cut, live overload, a stream cut short).
    """

    CHECKED = "checked"
    COVERED = "covered"
    BLOCKED = "blocked"
    FAILED = "failed"
    UNCOVERED = "uncovered"

    @property
    def released(self) -> bool:
        """True when the frame carries the camera's pixels (checked or covered)."""
        return self in (Release.CHECKED, Release.COVERED)

    @property
    def is_block(self) -> bool:
        """True when a check decided to withhold it (blocked or failed), not a gap in coverage."""
        return self in (Release.BLOCKED, Release.FAILED)


@dataclass(frozen=True, eq=False)
class AllowedPhoto:
    """A full-resolution photo the photo guard checked and allowed (or a confirmed warning)."""

    frame: Frame
    verdict: Verdict
    _capability: object

    def __post_init__(self) -> None:
        if self._capability is not _CAPABILITY:
            raise TypeError("AllowedPhoto is made only by a captureguard guard")
        if self.verdict.decision is Decision.BLOCK:
            raise TypeError("a blocked frame cannot become AllowedPhoto")


@dataclass(frozen=True, eq=False)
class AllowedFrame:
    """A stream frame the stream guard let through to sinks.

    Attributes:
        frame: the pixels to show/record (the camera's, or the guard's placeholder).
        release: why it may pass (:class:`Release`).
        verdict: the verdict that decided it (withheld frames: the one that blocked, or a
            synthetic ``uncovered`` block).
    """

    frame: Frame
    release: Release
    verdict: Verdict
    _capability: object

    def __post_init__(self) -> None:
        if self._capability is not _CAPABILITY:
            raise TypeError("AllowedFrame is made only by a captureguard guard")
        if self.release.released and self.verdict.decision is not Decision.ALLOW:
            raise TypeError(f"a frame whose verdict is {self.verdict.decision.value} can only pass as a placeholder")


def mint_photo(frame: Frame, verdict: Verdict) -> AllowedPhoto:
    """For guards only: wrap an allowed photo."""
    return AllowedPhoto(frame, verdict, _CAPABILITY)


def mint_frame(frame: Frame, release: Release, verdict: Verdict) -> AllowedFrame:
    """For guards only: wrap a stream frame that may reach sinks."""
    return AllowedFrame(frame, release, verdict, _CAPABILITY)

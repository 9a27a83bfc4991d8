"""The safety rule as a type: sinks accept only frames the guard has allowed.

:class:`AllowedFrame` and :class:`AllowedPhoto` can be made only by the guards in this package
(they need a private capability); every sink's ``write`` takes one of them, so code that hands a
sink an unchecked frame does not type-check, and fails at run time if it tries to forge one.
"""

from __future__ import annotations

from dataclasses import dataclass

from captureguard.frame import Frame
from captureguard.verdict import Decision, Verdict

_CAPABILITY = object()


@dataclass(frozen=True, eq=False)
class _Allowed:
    frame: Frame
    verdict: Verdict
    _capability: object

    def __post_init__(self) -> None:
        if self._capability is not _CAPABILITY:
            raise TypeError(f"{type(self).__name__} is made only by a captureguard guard")
        if self.verdict.decision is Decision.BLOCK:
            raise TypeError(f"a blocked frame cannot become {type(self).__name__}")


class AllowedFrame(_Allowed):
    """A stream frame released by the stream guard (checked safe, or covered by safe checks)."""


class AllowedPhoto(_Allowed):
    """A full-resolution photo the photo guard checked and allowed (or a confirmed warning)."""


def mint_photo(frame: Frame, verdict: Verdict) -> AllowedPhoto:
    """For guards only: wrap an allowed photo."""
    return AllowedPhoto(frame, verdict, _CAPABILITY)


def mint_frame(frame: Frame, verdict: Verdict) -> AllowedFrame:
    """For guards only: wrap a released stream frame."""
    return AllowedFrame(frame, verdict, _CAPABILITY)

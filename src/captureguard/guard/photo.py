"""The photo guard: check the exact full-resolution frame, then save it only if allowed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from captureguard.core.frame import Frame
from captureguard.core.verdict import Decision, Verdict
from captureguard.guard.allowed import AllowedPhoto, mint_photo
from captureguard.guard.check import Checker

log = logging.getLogger(__name__)


class PhotoSink(Protocol):
    """Where allowed photos go (e.g. :class:`~captureguard.sinks.photo_store.PhotoStore`).

    Its ``write`` takes an :class:`AllowedPhoto`, which only a guard can make: the safety rule
    as a type, without the guard depending on any one store.
    """

    def write(self, photo: AllowedPhoto, name: str) -> Path:
        """Keep one allowed photo as ``name``; returns where it went."""
        ...


@dataclass(frozen=True)
class PhotoResult:
    """What happened to one photo.

    Attributes:
        verdict: the checker's verdict.
        photo: the allowed photo, or ``None`` when it was blocked (or warned, unconfirmed).
        path: where it was saved, or ``None`` when nothing was written.
    """

    verdict: Verdict
    photo: AllowedPhoto | None = None
    path: Path | None = None


class PhotoGuard:
    """Checks photos before they are kept.

    Args:
        checker: the checker to use (normally ``Checker.create(mode="photo")``).
        store: where allowed photos go (optional for check-only use).
    """

    def __init__(self, checker: Checker, store: PhotoSink | None = None) -> None:
        self.checker = checker
        self.store = store

    def check(self, frame: Frame, *, confirm_warning: bool = False) -> PhotoResult:
        """Check one photo. ``confirm_warning`` lets a warned photo through (a person confirmed).

        The frame must be the exact pixels that will be kept (EXIF orientation already applied,
        as :func:`captureguard.sources.image.load_image` does).
        """
        verdict = self.checker.check(frame)
        ok = verdict.decision is Decision.ALLOW or (verdict.decision is Decision.WARN and confirm_warning)
        return PhotoResult(verdict, mint_photo(frame, verdict) if ok else None)

    def save(self, frame: Frame, name: str, *, confirm_warning: bool = False) -> PhotoResult:
        """Check one photo and, only if allowed, write it to the store as ``name``.

        A blocked photo never touches disk. Raises nothing for detection failures (they block);
        raises :class:`~captureguard.errors.CaptureGuardError` if the store cannot write.
        """
        if self.store is None:
            raise ValueError("PhotoGuard.save needs a store (e.g. PhotoStore(directory))")
        result = self.check(frame, confirm_warning=confirm_warning)
        if result.photo is None:
            log.info("photo %s not saved: %s", name, result.verdict.decision.value)
            return result
        path = self.store.write(result.photo, name)
        return PhotoResult(result.verdict, result.photo, path)

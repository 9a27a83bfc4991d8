"""The photo store: writes allowed photos atomically (temp file in the target dir + rename)."""

from __future__ import annotations

import re
from pathlib import Path

from captureguard._atomic import write_atomic
from captureguard.errors import BadInputError, CaptureGuardError
from captureguard.guard.allowed import AllowedPhoto
from captureguard.sinks.encode import encode

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.(jpg|jpeg|png|webp)$", re.IGNORECASE)


class PhotoStore:
    """A directory of photos that only ever receives :class:`AllowedPhoto`.

    Args:
        directory: created if missing.
        jpeg_quality: quality of ``.jpg``/``.webp`` files.
    """

    def __init__(self, directory: str | Path, *, jpeg_quality: int = 95) -> None:
        self.directory = Path(directory)
        self.jpeg_quality = jpeg_quality

    def write(self, photo: AllowedPhoto, name: str) -> Path:
        """Encode in memory, write to a temp file beside the target, fsync, rename.

        Raises:
            TypeError: ``photo`` is not an :class:`AllowedPhoto`.
            BadInputError: ``name`` is not a plain file name ending in .jpg/.png/.webp.
            CaptureGuardError: the directory cannot be written.
        """
        if not isinstance(photo, AllowedPhoto):
            raise TypeError(f"PhotoStore accepts only AllowedPhoto, got {type(photo).__name__}")
        if not _SAFE_NAME.match(name):
            raise BadInputError(
                f"photo name {name!r} must be a plain file name (letters, digits, ._-) ending in .jpg, .png or .webp"
            )
        data = encode(photo.frame.bgr, suffix=Path(name).suffix, jpeg_quality=self.jpeg_quality)
        target = self.directory / name
        try:
            write_atomic(target, data)
        except OSError as exc:
            raise CaptureGuardError(f"cannot save photo to {target}: {exc.strerror or exc}") from exc
        return target

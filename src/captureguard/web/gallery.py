"""The gallery: allowed photos in ``DATA/gallery/photos``, recordings in ``DATA/gallery/videos``.

Only plain, safe file names are ever listed, served or deleted: no hidden files, no partial
recordings (``*.partial.*``), no symlinks, nothing that resolves outside its directory.
"""

from __future__ import annotations

import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from captureguard.errors import CaptureGuardError
from captureguard.sinks.photo_store import PhotoStore

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "photos": (".jpg", ".jpeg", ".png", ".webp"),
    "videos": (".mp4",),
}
_NEW_NAME = {"photos": ("photo", ".jpg"), "videos": ("video", ".mp4")}


class GalleryNotFoundError(CaptureGuardError):
    """No listed gallery file of that kind and name (the web app answers 404)."""


@dataclass(frozen=True)
class GalleryItem:
    """One gallery file.

    Attributes:
        kind: ``photos`` or ``videos``.
        name: plain file name.
        bytes: size in bytes.
        modified: modification time, unix seconds.
    """

    kind: str
    name: str
    bytes: int
    modified: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: ``{kind, name, bytes, modified}``."""
        return {"kind": self.kind, "name": self.name, "bytes": self.bytes, "modified": self.modified}


def is_listable(kind: str, name: str) -> bool:
    """True when ``name`` is a safe name the gallery may list for ``kind`` (a pure name check)."""
    return (
        kind in _SUFFIXES
        and isinstance(name, str)
        and _SAFE_NAME.fullmatch(name) is not None
        and ".partial." not in name.lower()
        and name.lower().endswith(_SUFFIXES[kind])
    )


class Gallery:
    """Photos and videos under one root directory.

    Args:
        root: ``DATA/gallery``; ``root/photos`` and ``root/videos`` are created.
    """

    KINDS: tuple[str, ...] = ("photos", "videos")

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for kind in self.KINDS:
            (self.root / kind).mkdir(parents=True, exist_ok=True)

    def directory(self, kind: str) -> Path:
        """The directory of ``kind``.

        Raises:
            GalleryNotFoundError: ``kind`` is not ``photos`` or ``videos``.
        """
        if kind not in self.KINDS:
            raise GalleryNotFoundError(f"unknown gallery kind {kind!r}; expected one of {', '.join(self.KINDS)}")
        return self.root / kind

    def photo_store(self) -> PhotoStore:
        """A :class:`PhotoStore` writing into ``root/photos``."""
        return PhotoStore(self.directory("photos"))

    def new_name(self, kind: str, *, now: float | None = None) -> str:
        """A fresh name: ``photo-YYYYMMDD-HHMMSS-xxxx.jpg`` or ``video-...-xxxx.mp4`` (local time).

        The 4 hex digits are random; a name already in the directory is never returned.
        """
        directory = self.directory(kind)
        prefix, suffix = _NEW_NAME[kind]
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
        while True:
            name = f"{prefix}-{stamp}-{secrets.token_hex(2)}{suffix}"
            if not (directory / name).exists() and not (directory / name).is_symlink():
                return name

    def _entry(self, kind: str, path: Path) -> GalleryItem | None:
        """The item for ``path`` if it is a listable regular file (symlinks never are)."""
        if not is_listable(kind, path.name):
            return None
        try:
            info = path.lstat()
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return GalleryItem(kind, path.name, info.st_size, info.st_mtime)

    def items(self) -> list[GalleryItem]:
        """Every listable file of both kinds, newest first (then by name)."""
        found = []
        for kind in self.KINDS:
            for path in self.directory(kind).iterdir():
                item = self._entry(kind, path)
                if item is not None:
                    found.append(item)
        return sorted(found, key=lambda i: (-i.modified, i.name))

    def resolve(self, kind: str, name: str) -> Path:
        """The path of a listed file.

        Raises:
            GalleryNotFoundError: unknown kind; an unsafe name (``..``, slashes, hidden, partial,
                wrong suffix...); a symlink; a path outside the directory; or no such file.
        """
        directory = self.directory(kind)
        if not is_listable(kind, name):
            raise GalleryNotFoundError(f"no {kind} file named {name!r}")
        path = directory / name
        if self._entry(kind, path) is None:
            raise GalleryNotFoundError(f"no {kind} file named {name!r}")
        try:
            real = path.resolve(strict=True)
        except OSError:
            raise GalleryNotFoundError(f"no {kind} file named {name!r}") from None
        if real.parent != directory.resolve():
            raise GalleryNotFoundError(f"no {kind} file named {name!r}")
        return path

    def delete(self, kind: str, name: str) -> None:
        """Delete a listed file.

        Raises:
            GalleryNotFoundError: as :meth:`resolve`, or the file vanished meanwhile.
        """
        path = self.resolve(kind, name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise GalleryNotFoundError(f"no {kind} file named {name!r}") from None

"""Frame sources: image files, video files, cameras and network streams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from captureguard.core.frame import Frame


@runtime_checkable
class Source(Protocol):
    """Frames in capture order.

    Attributes:
        fps: nominal frames per second (0.0 when unknown).
        live: True for cameras and network streams: the source keeps only the latest frame, so
            a slow consumer sees fewer frames instead of a growing queue.
        name: a short description for logs and reports (a path, ``camera:0``...).
    """

    fps: float
    live: bool
    name: str

    def __iter__(self) -> Iterator[Frame]:
        """Yield frames (with ``index`` and ``timestamp_s`` set) until the stream ends.

        Raises:
            BadInputError: the stream cannot be read or broke off; frames yielded before the
                fault stay valid.
        """
        ...

    def close(self) -> None:
        """Release the device or file (idempotent)."""
        ...

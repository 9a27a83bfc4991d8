"""A contact sheet: a PNG grid of the guarded output, for a person to see what was let through.

It is a sink like any other: it receives only :class:`AllowedFrame`, so it can never show a frame
the guard withheld (placeholders appear as placeholders, labelled).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from captureguard.errors import CaptureGuardError
from captureguard.guard.allowed import AllowedFrame, Release
from captureguard.sinks import require_allowed

_WITHHELD = (60, 60, 230)
_COLOURS = {Release.CHECKED: (80, 200, 80), Release.COVERED: (200, 160, 60)}


class ContactSheetSink:
    """Keeps a small copy of every ``every``-th frame and writes them as a grid on close.

    Args:
        path: the ``.png`` to write.
        every: keep one frame in this many (choose it from the clip length).
        tile_width: width of each thumbnail in pixels.
        columns: thumbnails per row.
    """

    def __init__(self, path: str | Path, *, every: int = 10, tile_width: int = 240, columns: int = 6) -> None:
        self.path = Path(path)
        self.every, self.tile_width, self.columns = max(1, every), tile_width, columns
        self._tiles: list[np.ndarray] = []
        self._seen = 0
        self._closed = False

    def write(self, item: AllowedFrame) -> None:
        """Keep a labelled thumbnail of every ``every``-th frame."""
        item = require_allowed(item, "ContactSheetSink")
        self._seen += 1
        if (self._seen - 1) % self.every:
            return
        bgr = item.frame.bgr
        h = max(1, round(bgr.shape[0] * self.tile_width / bgr.shape[1]))
        tile = cv2.resize(bgr, (self.tile_width, h), interpolation=cv2.INTER_AREA)
        label = f"#{item.frame.index} {item.frame.timestamp_s:.1f}s {item.release.value}"
        cv2.rectangle(tile, (0, h - 22), (self.tile_width - 1, h - 1), (0, 0, 0), -1)
        cv2.rectangle(tile, (0, 0), (self.tile_width - 1, h - 1), _COLOURS.get(item.release, _WITHHELD), 3)
        cv2.putText(tile, label, (8, h - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        self._tiles.append(tile)

    def close(self) -> None:
        """Write the grid (nothing when no frame came); idempotent."""
        if self._closed:
            return
        self._closed = True
        if not self._tiles:
            return
        h = max(t.shape[0] for t in self._tiles)
        tiles = [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0))) for t in self._tiles]
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % self.columns)
        rows = [np.hstack(tiles[i : i + self.columns]) for i in range(0, len(tiles), self.columns)]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(self.path), np.vstack(rows)):
            raise CaptureGuardError(f"cannot write contact sheet {self.path}")

"""A viewfinder session's recording: guard-released frames into an MP4 in the gallery."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from captureguard.errors import CaptureGuardError
from captureguard.guard.allowed import AllowedFrame
from captureguard.sinks.mp4 import Mp4Sink
from captureguard.web.gallery import Gallery
from captureguard.web.settings import RecordOnBlock

log = logging.getLogger(__name__)

#: Nominal rate in the file header; real timing comes from the frames' timestamps.
RECORD_FPS = 15.0

Status = dict[str, object]


def status(*, on: bool, name: str | None, reason: str | None) -> Status:
    """The ``{"type": "recording", ...}`` message."""
    return {"type": "recording", "on": on, "name": name, "reason": reason}


class Recorder:
    """Starts, feeds and finalises one recording at a time; thread-safe.

    Args:
        gallery: where videos go (``gallery.directory("videos")``).
        mode: returns the current ``record_on_block`` setting: ``placeholder`` writes
            placeholders, ``pause`` skips them, ``stop`` ends the recording at the first one.
    """

    def __init__(self, gallery: Gallery, *, mode: Callable[[], RecordOnBlock]) -> None:
        self._gallery = gallery
        self._mode = mode
        self._lock = threading.Lock()
        self._sink: Mp4Sink | None = None
        self._name: str | None = None

    @property
    def recording(self) -> bool:
        """True while a recording is open."""
        return self._sink is not None

    def start(self) -> Status:
        """Open a new recording (no-op if one is open). Blocking (creates folders): run in a thread."""
        with self._lock:
            if self._sink is not None:
                return status(on=True, name=self._name, reason=None)
            name = self._gallery.new_name("videos")
            try:
                folder = self._gallery.directory("videos")
                folder.mkdir(parents=True, exist_ok=True)
                self._sink = Mp4Sink(folder / name, fps=RECORD_FPS)
            except (CaptureGuardError, OSError) as exc:
                log.error("cannot start a recording: %s", exc)
                return status(on=False, name=None, reason="error")
            self._name = name
            log.info("recording %s started", name)
            return status(on=True, name=name, reason=None)

    def stop(self, reason: str = "stopped") -> Status:
        """Finalise the open recording (flush, fsync, rename). Blocking: run in a thread."""
        with self._lock:
            return self._close(reason)

    def write(self, item: AllowedFrame) -> Status | None:
        """Record one released frame; returns a status message if the recording ended here."""
        with self._lock:
            if self._sink is None:
                return None
            if not item.release.released:
                mode = self._mode()
                if mode == "stop":
                    return self._close("blocked")
                if mode == "pause":
                    return None
            try:
                self._sink.write(item)
            except Exception as exc:  # the sink has finalised what it wrote; report, keep the session
                log.error("recording %s failed: %s", self._name, exc)
                self._sink, name, self._name = None, self._name, None
                return status(on=False, name=name, reason="error")
            return None

    def _close(self, reason: str) -> Status:
        sink, name = self._sink, self._name
        self._sink, self._name = None, None
        if sink is None:
            return status(on=False, name=None, reason=reason)
        try:
            sink.close()
        except Exception as exc:  # a partial file may remain; it holds only released frames
            log.error("could not finalise recording %s: %s", name, exc)
            return status(on=False, name=name, reason="error")
        if sink.frames_written == 0:
            name = None  # nothing was written, so no file was made
        log.info("recording %s ended (%s)", name, reason)
        return status(on=False, name=name, reason=reason)

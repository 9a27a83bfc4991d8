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

    With a clock, a recording holds the frames captured between start and stop: the stream guard
    hands a recording its frames late when it holds them back (``StreamSettings.record_hold_s``),
    so frames captured before the start are skipped, and a stop that may wait finalises once the
    frames captured before it have come (or its wait ran out: the frames still held are left out).

    Args:
        gallery: where videos go (``gallery.directory("videos")``).
        mode: returns the current ``record_on_block`` setting: ``placeholder`` writes
            placeholders, ``pause`` skips them, ``stop`` ends the recording at the first one.
        clock: the session's capture time now (the frames' ``timestamp_s`` scale); None: every
            frame written while a recording is open goes in.
    """

    def __init__(
        self, gallery: Gallery, *, mode: Callable[[], RecordOnBlock], clock: Callable[[], float] | None = None
    ) -> None:
        self._gallery = gallery
        self._mode = mode
        self._clock = clock
        self._lock = threading.Lock()
        self._came = threading.Condition(self._lock)  # a frame captured after the stop came
        self._sink: Mp4Sink | None = None
        self._name: str | None = None
        self._from_s = float("-inf")  # capture times recorded: [from, until)
        self._until_s = float("inf")
        self._past_stop = False  # a frame captured after the stop came (stop waits for it)

    @property
    def recording(self) -> bool:
        """True while a recording is open."""
        return self._sink is not None

    def start(self, *, at_s: float | None = None) -> Status:
        """Open a new recording (no-op if one is open). Blocking (creates folders): run in a thread.
        ``at_s``: when it was asked for (capture time; default: the clock now)."""
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
            self._from_s = float("-inf") if self._clock is None else self._clock() if at_s is None else at_s
            self._until_s = float("inf")
            log.info("recording %s started", name)
            return status(on=True, name=name, reason=None)

    def stop(self, reason: str = "stopped", *, wait_s: float = 0.0, at_s: float | None = None) -> Status:
        """Finalise the open recording (flush, fsync, rename). Blocking: run in a thread.

        ``wait_s`` (with a clock): first wait up to this long for the frames captured before the
        stop (``at_s``, capture time; default: the clock now) to come (a recording held back gets
        them late); those that have not come are left out, as is every frame captured after it."""
        with self._lock:
            if wait_s > 0 and self._clock is not None and self._sink is not None:
                self._until_s, self._past_stop = self._clock() if at_s is None else at_s, False
                self._came.wait_for(lambda: self._sink is None or self._past_stop, wait_s)
            return self._close(reason)

    def write(self, item: AllowedFrame) -> Status | None:
        """Record one released frame; returns a status message if the recording ended here."""
        with self._lock:
            if self._sink is None or item.frame.timestamp_s < self._from_s:
                return None
            if item.frame.timestamp_s >= self._until_s:  # captured after the stop: the stop may finalise
                self._past_stop = True
                self._came.notify_all()
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
                self._came.notify_all()
                return status(on=False, name=name, reason="error")
            return None

    def _close(self, reason: str) -> Status:
        sink, name = self._sink, self._name
        self._sink, self._name = None, None
        self._came.notify_all()  # a stop waiting for its last frames
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

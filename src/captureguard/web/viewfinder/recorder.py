"""A viewfinder session's recording: guard-released frames into an MP4 in the gallery."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass
class _Take:
    """One recording: its file, and the capture times it holds (``[from_s, until_s)``)."""

    sink: Mp4Sink
    name: str
    from_s: float
    until_s: float = math.inf
    done: str | None = None  # set when no more frames may go in: why ("stopped", "blocked", "error")


class Recorder:
    """Starts, feeds and finalises recordings; thread-safe.

    With a clock, a recording holds the frames captured between start and stop: the stream guard
    hands a recording its frames late when it holds them back (``StreamSettings.record_hold_s``),
    so frames captured before the start are skipped, and a stop that may wait finalises once a frame
    captured after it has come (or its wait ran out: the frames still held are left out). Meanwhile
    a new recording may start: each frame goes to the recording whose capture times hold it.

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
        self._changed = threading.Condition(self._lock)  # a stopping recording got its last frame
        self._current: _Take | None = None  # open, no stop asked
        self._stopping: list[_Take] = []  # stopped, waiting for the frames captured before the stop

    @property
    def recording(self) -> bool:
        """True while a recording is open (a stopped one finishing its last frames does not count)."""
        return self._current is not None

    def start(self, *, at_s: float | None = None) -> Status:
        """Open a new recording (no-op if one is open). Blocking (creates folders): run in a thread.
        ``at_s``: when it was asked for (capture time; default: the clock now)."""
        with self._lock:
            if self._current is not None:
                return status(on=True, name=self._current.name, reason=None)
            name = self._gallery.new_name("videos")
            try:
                folder = self._gallery.directory("videos")
                folder.mkdir(parents=True, exist_ok=True)
                sink = Mp4Sink(folder / name, fps=RECORD_FPS)
            except (CaptureGuardError, OSError) as exc:
                log.error("cannot start a recording: %s", exc)
                return status(on=False, name=None, reason="error")
            from_s = -math.inf if self._clock is None else self._clock() if at_s is None else at_s
            self._current = _Take(sink, name, from_s)
            log.info("recording %s started", name)
            return status(on=True, name=name, reason=None)

    def stop(self, reason: str = "stopped", *, wait_s: float = 0.0, at_s: float | None = None) -> Status:
        """Finalise the open recording (flush, fsync, rename). Blocking: run in a thread.
        :meth:`detach` then what it returns."""
        return self.detach(reason, wait_s=wait_s, at_s=at_s)()

    def detach(
        self, reason: str = "stopped", *, wait_s: float = 0.0, at_s: float | None = None
    ) -> Callable[[], Status]:
        """Stop the open recording now (a new one may start at once); returns what finalises it
        (blocking: run it in a thread).

        ``wait_s`` (with a clock): the finaliser first waits up to this long for the frames captured
        before the stop (``at_s``, capture time; default: the clock now) to come (a recording held
        back gets them late); those that have not come are left out, as is every frame captured
        after it. Without a wait (the session ends), recordings still waiting for their frames
        finish too."""
        waits = wait_s > 0 and self._clock is not None
        with self._lock:
            take, self._current = self._current, None
            if not waits:
                for waiting in self._stopping:
                    waiting.done = waiting.done or reason
                self._changed.notify_all()
            if take is None:
                return lambda: status(on=False, name=None, reason=reason)
            if waits and self._clock is not None:
                take.until_s = self._clock() if at_s is None else at_s
                self._stopping.append(take)

        def finalise() -> Status:
            with self._lock:
                if waits:
                    self._changed.wait_for(lambda: take.done is not None, wait_s)
                    self._stopping.remove(take)
                return self._finalise(take, take.done if take.done in ("blocked", "error") else reason)

        return finalise

    def write(self, item: AllowedFrame) -> Status | None:
        """Record one frame into the recording whose capture times hold it; returns a status
        message if the open recording ended here."""
        with self._lock:
            t_s = item.frame.timestamp_s
            for waiting in self._stopping:
                if waiting.done is None and t_s >= waiting.until_s:  # captured after the stop: it may finish
                    waiting.done = "stopped"
                    self._changed.notify_all()
            into = next((x for x in [*self._stopping, self._current] if x and x.from_s <= t_s < x.until_s), None)
            if into is None or into.done is not None:
                return None
            return self._write(into, item)

    def _write(self, take: _Take, item: AllowedFrame) -> Status | None:
        """(Under the lock.) One frame into ``take``, as ``record_on_block`` says for a withheld one."""
        if not item.release.released:
            mode = self._mode()
            if mode == "pause":
                return None
            if mode == "stop":
                return self._end(take, "blocked")
        try:
            take.sink.write(item)
        except Exception as exc:  # the sink has finalised what it wrote; report, keep the session
            log.error("recording %s failed: %s", take.name, exc)
            return self._end(take, "error", failed=True)
        return None

    def _end(self, take: _Take, reason: str, *, failed: bool = False) -> Status | None:
        """No more frames for ``take``: the open recording is finalised here (its status returned);
        a stopping one is finalised by its waiting :meth:`stop`."""
        take.done = reason
        self._changed.notify_all()
        if take is not self._current:
            return None
        self._current = None
        if failed:
            return status(on=False, name=take.name, reason="error")
        return self._finalise(take, reason)

    def _finalise(self, take: _Take, reason: str) -> Status:
        if take.done == "error":  # the sink failed while writing: it finalised what it had
            return status(on=False, name=take.name, reason="error")
        try:
            take.sink.close()
        except Exception as exc:  # a partial file may remain; it holds only released frames
            log.error("could not finalise recording %s: %s", take.name, exc)
            return status(on=False, name=take.name, reason="error")
        name: str | None = take.name if take.sink.frames_written else None  # nothing written: no file
        log.info("recording %s ended (%s)", name, reason)
        return status(on=False, name=name, reason=reason)

"""The thread side of a viewfinder session: decode, guard, encode, record, log block episodes.

One thread per session takes the received JPEG frames in order and feeds them to the session's
:class:`StreamGuard` **one at a time**: it submits a frame and collects until that frame's
answer is out before it takes the next. With ``max_gap=0`` every frame is checked; one frame at
a time also means the live ledger never has two frames waiting, so it never skips a frame to
catch up (a skipped frame would become a placeholder: black flicker in the viewfinder). Frames
that arrive while the session is behind wait in a short queue; beyond it they are answered
``dropped`` (never shown) by the socket side.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from captureguard.core.frame import Frame
from captureguard.core.verdict import Decision
from captureguard.errors import BadInputError, DetectionError
from captureguard.guard.allowed import AllowedFrame, Release
from captureguard.guard.stream import StreamGuard
from captureguard.sinks.encode import encode
from captureguard.sources.image import decode_image
from captureguard.web.events import Event
from captureguard.web.viewfinder.recorder import Recorder

log = logging.getLogger(__name__)

JPEG_QUALITY = 85
#: A frame still unanswered after this long means the guard is broken: the session ends.
ANSWER_TIMEOUT_S = 10.0
_JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class FrameIn:
    """A received frame: ``index`` counts binary messages from 0; ``received_s`` is monotonic."""

    index: int
    data: bytes
    received_s: float


@dataclass(frozen=True)
class FrameAnswer:
    """The answer to frame ``index``: a ``{"type": "frame"}`` header and the JPEG to show."""

    index: int
    header: dict[str, object]
    jpeg: bytes


@dataclass(frozen=True)
class Dropped:
    """Frame ``index`` was not processed (overload): it is never shown."""

    index: int


@dataclass(frozen=True)
class Control:
    """A status message (``{"type": "recording", ...}``)."""

    message: dict[str, object]


@dataclass(frozen=True)
class Fatal:
    """End the session: send ``{"type": "error"}`` (except for 1009), then close with ``code``."""

    code: int
    detail: str


Outgoing = FrameAnswer | Dropped | Control | Fatal


class BadFrameError(BadInputError):
    """A frame that is not a usable JPEG, or is too large."""


class ViewfinderWorker:
    """Runs one session's frames through its guard in a thread.

    Args:
        guard: the session's stream guard (closed by this worker when it ends).
        recorder: the session's recorder (finalised by this worker when it ends).
        post: hands a message to the socket side (thread-safe).
        log_event: adds an event to the log (thread-safe).
        notice: the viewfinder notice sent with every blocked frame.
        max_side: longest frame side allowed, in pixels.
        t0: monotonic start of the session (frame timestamps count from it).
        max_waiting: frames allowed to wait; :meth:`offer` refuses more.
    """

    def __init__(
        self,
        guard: StreamGuard,
        recorder: Recorder,
        *,
        post: Callable[[Outgoing], None],
        log_event: Callable[[Event], None],
        notice: dict[str, str],
        max_side: int,
        t0: float,
        max_waiting: int = 4,
    ) -> None:
        self._guard, self._recorder = guard, recorder
        self._post, self._log_event = post, log_event
        self._notice, self._max_side, self._t0 = notice, max_side, t0
        self._max_waiting = max_waiting
        self._inbox: queue.Queue[FrameIn | None] = queue.Queue()
        self._stop = threading.Event()
        self._received: dict[int, float] = {}
        self._last_index = -1
        self._in_block = False
        self._placeholder_jpeg: tuple[np.ndarray, bytes] | None = None
        # A frame's answer is due within the guard's deadline; this only catches a broken guard.
        self._answer_timeout_s = ANSWER_TIMEOUT_S
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="captureguard-viewfinder", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def offer(self, item: FrameIn) -> bool:
        """Queue a frame; False (the caller answers ``dropped``) when too many are waiting."""
        if self._stop.is_set() or self._inbox.qsize() >= self._max_waiting:
            return False
        self._inbox.put(item)
        return True

    def stop(self) -> None:
        """Ask the thread to end: waiting frames are discarded, the recording is finalised."""
        self._stop.set()
        self._inbox.put(None)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._inbox.get()
                if item is None or self._stop.is_set():
                    break
                self._process(item)
        except BadFrameError as exc:
            self._post(Fatal(1003, str(exc)))
        except Exception as exc:  # the guard died or encoding failed: fail closed, end the session
            log.error("viewfinder session failed: %r", exc)
            self._post(Fatal(1011, "the viewfinder guard stopped; reload the page"))
        finally:
            self._end()

    def _process(self, item: FrameIn) -> None:
        frame = self._decode(item)
        self._received[item.index] = item.received_s
        self._guard.submit(frame)
        deadline = time.monotonic() + self._answer_timeout_s
        while self._last_index < item.index:
            if time.monotonic() > deadline:
                raise DetectionError(f"frame {item.index} got no answer from the stream guard")
            for out in self._guard.collect(timeout=0.1):
                self._answer(out)

    def _decode(self, item: FrameIn) -> Frame:
        if not item.data.startswith(_JPEG_MAGIC):
            raise BadFrameError(f"frame {item.index} is not a JPEG image; the viewfinder sends JPEG frames")
        try:
            decoded = decode_image(item.data, name=f"frame {item.index}", max_megapixels=self._max_side**2 / 1e6)
        except BadInputError as exc:
            raise BadFrameError(str(exc)) from exc
        if max(decoded.width, decoded.height) > self._max_side:
            raise BadFrameError(
                f"frame {item.index} is {decoded.width}x{decoded.height} pixels; "
                f"the longest side may be at most {self._max_side} px"
            )
        t_s = item.received_s - self._t0
        return Frame.from_bgr(decoded.bgr, index=item.index, timestamp_s=t_s, source="viewfinder", copy=False)

    def _answer(self, out: AllowedFrame) -> None:
        index = out.frame.index
        self._last_index = index
        blocked = out.release is Release.PLACEHOLDER
        self._track_episode(out)
        received = self._received.pop(index, time.monotonic())
        header: dict[str, object] = {
            "type": "frame",
            "index": index,
            "release": out.release.value,
            "blocked": blocked,
            "latency_ms": round((time.monotonic() - received) * 1e3, 1),
            "notice": self._notice if blocked else None,
        }
        self._post(FrameAnswer(index, header, self._encode(out)))
        ended = self._recorder.write(out)
        if ended is not None:
            self._post(Control(ended))

    def _encode(self, out: AllowedFrame) -> bytes:
        """JPEG of the released pixels (re-encoded: what is shown is exactly what was checked)."""
        bgr = out.frame.bgr
        cached = self._placeholder_jpeg
        if cached is not None and cached[0] is bgr:  # the guard reuses its black placeholder
            return cached[1]
        data = encode(bgr, suffix=".jpg", jpeg_quality=JPEG_QUALITY)
        if out.release is Release.PLACEHOLDER:
            self._placeholder_jpeg = (bgr, data)
        return data

    def _track_episode(self, out: AllowedFrame) -> None:
        """Log one event when a block episode starts; it ends at the next released frame."""
        if out.release is not Release.PLACEHOLDER:
            self._in_block = False
            return
        verdict = out.verdict
        uncovered = all(r.code == "uncovered" for r in verdict.reasons)
        if self._in_block or verdict.decision is Decision.ALLOW or uncovered:
            return
        self._in_block = True
        detail = f"frame {out.frame.index} at {out.frame.timestamp_s:.1f} s"
        if self._recorder.recording:
            detail += ", while recording"
        self._log_event(Event.from_verdict(verdict, source="viewfinder", detail=detail))

    def _end(self) -> None:
        try:
            for out in self._guard.finish(timeout_s=2.0):
                self._answer(out)
        except Exception as exc:  # the recording is still finalised below
            log.error("finishing the viewfinder stream failed: %r", exc)
        finally:
            self._recorder.stop("ended")
            self._guard.close()
            self.done.set()

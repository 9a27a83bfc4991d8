"""The thread side of a viewfinder session: decode, guard, encode, record, log block episodes.

A session is one guarded stream through the project's one pump,
:func:`~captureguard.pipeline.run_guarded`: an :class:`_InboxSource` yields the received JPEG
frames in order (decoded), the session's :class:`StreamGuard` runs in ``lockstep`` with
``max_gap=0`` (every frame checked, none skipped to catch up: a skipped frame would flicker as a
placeholder), and an :class:`_AnswerSink` encodes each released frame or placeholder, answers the
client, feeds the recorder and logs one event per block episode. Frames that arrive while the
session is behind wait in a short queue; beyond it they are answered ``dropped`` (never shown) by
the socket side.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from captureguard.core.frame import Frame
from captureguard.errors import BadInputError
from captureguard.guard.allowed import AllowedFrame
from captureguard.guard.stream import StreamGuard
from captureguard.pipeline import run_guarded
from captureguard.sinks import require_allowed
from captureguard.sinks.encode import encode
from captureguard.sources.image import decode_image
from captureguard.web.events import Event
from captureguard.web.viewfinder.recorder import Recorder

log = logging.getLogger(__name__)

JPEG_QUALITY = 85
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


class _InboxSource:
    """The received frames, decoded, in order; ends when the worker stops (a ``None`` in the inbox)."""

    fps = 30.0
    live = False  # the guard runs in lockstep: every frame is answered before the next is taken
    name = "viewfinder"

    def __init__(self, inbox: queue.Queue[FrameIn | None], decode: Callable[[FrameIn], Frame]) -> None:
        self._inbox, self._decode = inbox, decode

    def __iter__(self) -> Iterator[Frame]:
        while (item := self._inbox.get()) is not None:
            yield self._decode(item)

    def close(self) -> None:
        """Nothing to release: the socket side owns the connection."""


class _WorkerSink:
    """A sink side of the pump that hands each frame to the worker: ``_answer`` (the client, for
    every frame the guard decides; block episodes are logged there) or ``_record`` (the session's
    recording, from the guard's recording output: held back, when it is). Closing does nothing:
    the socket side owns the connection, the worker finalises the recording when the session ends."""

    def __init__(self, take: Callable[[AllowedFrame], None], where: str) -> None:
        self._take, self._where = take, where

    def write(self, item: AllowedFrame) -> None:
        """Hand one frame on."""
        self._take(require_allowed(item, self._where))

    def close(self) -> None:
        """Nothing to close (see the class)."""


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
        self._in_block = False
        self._placeholder_jpeg: tuple[np.ndarray, bytes] | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="captureguard-viewfinder", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def offer(self, item: FrameIn) -> bool:
        """Queue a frame; False (the caller answers ``dropped``) when too many are waiting."""
        if self._stop.is_set() or self._inbox.qsize() >= self._max_waiting:
            return False
        self._received[item.index] = item.received_s
        self._inbox.put(item)
        return True

    def stop(self) -> None:
        """Ask the thread to end: waiting frames are discarded, the recording is finalised."""
        self._stop.set()
        self._inbox.put(None)

    def _run(self) -> None:
        try:
            source = _InboxSource(self._inbox, self._decode)
            answers, recording = _WorkerSink(self._answer, "the viewfinder"), _WorkerSink(self._record, "a recording")
            run_guarded(source, self._guard, [answers], recorders=[recording], stop=self._stop)
        except BadFrameError as exc:
            self._post(Fatal(1003, str(exc)))
        except Exception as exc:  # the guard died or encoding failed: fail closed, end the session
            log.error("viewfinder session failed: %r", exc)
            self._post(Fatal(1011, "the viewfinder guard stopped; reload the page"))
        finally:
            self._recorder.stop("ended")
            self.done.set()

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
        blocked = not out.release.released
        self._track_episode(out)
        received = self._received.pop(index, time.monotonic())
        header: dict[str, object] = {
            "type": "frame",
            "index": index,
            "release": out.release.value if out.release.released else "placeholder",
            "withheld": None if out.release.released else out.release.value,
            "blocked": blocked,
            "latency_ms": round((time.monotonic() - received) * 1e3, 1),
            "notice": self._notice if blocked else None,
        }
        self._post(FrameAnswer(index, header, self._encode(out)))

    def _record(self, out: AllowedFrame) -> None:
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
        if not out.release.released:
            self._placeholder_jpeg = (bgr, data)
        return data

    def _track_episode(self, out: AllowedFrame) -> None:
        """Log one event when a block episode starts; it ends at the next released frame."""
        if out.release.released:
            self._in_block = False
            return
        if self._in_block or not out.release.is_block:
            return
        self._in_block = True
        detail = f"frame {out.frame.index} at {out.frame.timestamp_s:.1f} s"
        if self._recorder.recording:
            detail += ", while recording"
        self._log_event(Event.from_verdict(out.verdict, source="viewfinder", detail=detail))

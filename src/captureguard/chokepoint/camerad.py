"""``captureguard camerad``: the one process that opens the real camera.

Camera -> :class:`~captureguard.guard.stream.StreamGuard` -> released frames only, to

* the frame socket (:class:`SocketSink` -> :class:`~.framesock.FrameServer`), which each user's
  ``captureguard publish`` turns into a PipeWire camera,
* the held socket (optional): the guard's recording output
  (:attr:`~captureguard.StreamSettings.record_hold_s`), the same stream held back so that the
  frames shown just before the stream shut are taken back; ``captureguard publish --held`` turns
  it into a second camera for apps that record, and optionally
* a v4l2loopback device (:class:`~captureguard.sinks.virtualcam.VirtualCamSink`).

The camera is opened only while someone reads a socket (``on_demand``), so its light is off
when no app uses it. A detector error or overrun gives placeholders (the StreamGuard's rule);
if this process dies, readers get end-of-stream, never a raw frame, and systemd restarts it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from captureguard import AllowedFrame, Frame, RunReport, Sink, Source, StreamGuard, run_guarded
from captureguard.chokepoint.framesock import FrameHeader, FrameServer
from captureguard.sinks import require_allowed

log = logging.getLogger(__name__)


class SocketSink:
    """A :class:`~captureguard.sinks.Sink` onto the frame socket: accepts only guard-made frames.

    ``write`` takes an :class:`AllowedFrame` (which only the guard can make) and refuses anything
    else at run time, so an unchecked frame cannot be encoded onto the socket.
    """

    def __init__(self, server: FrameServer) -> None:
        self._server = server
        self.frames_written = 0

    def write(self, item: AllowedFrame) -> None:
        """Send one released frame or placeholder to every reader.

        Raises:
            TypeError: ``item`` is not an :class:`AllowedFrame`.
        """
        item = require_allowed(item, "SocketSink")
        frame = item.frame
        header = FrameHeader(
            width=frame.width,
            height=frame.height,
            seq=0,  # numbered by the server
            index=frame.index,
            timestamp_us=round(frame.timestamp_s * 1e6),
            release=item.release,
            decision=item.verdict.decision,
        )
        self._server.send(header, frame.bgr)
        self.frames_written += 1

    def close(self) -> None:
        """Nothing to release: the server outlives one camera session."""


class PacedSource:
    """Plays a file source on its frame clock like a camera (``live=True``): behind, it skips frames.

    Lets ``camerad --source FILE`` stand in for a camera in tests and demos.
    """

    def __init__(self, inner: Source, *, fps: float | None = None) -> None:
        self._inner = inner
        self.fps = float(fps or inner.fps or 30.0)
        self.live, self.name = True, inner.name
        self.skipped = 0

    def __iter__(self) -> Iterator[Frame]:
        start = time.monotonic()
        for k, frame in enumerate(self._inner):
            due = start + k / self.fps
            now = time.monotonic()
            if now - due > 1.0 / self.fps:  # late by a whole frame: a camera would have moved on
                self.skipped += 1
                continue
            if due > now:
                time.sleep(due - now)
            yield frame

    def close(self) -> None:
        """Close the file."""
        self._inner.close()


@dataclasses.dataclass
class ServeOptions:
    """How camerad runs its sessions.

    Attributes:
        on_demand: open the camera only while the socket has a reader (False: always).
        idle_close_s: close the camera this long after the last reader left.
        loop: replay a file source when it ends (tests, demos); a camera never ends.
    """

    on_demand: bool = True
    idle_close_s: float = 3.0
    loop: bool = False


def serve(
    open_source: Callable[[], Source],
    make_guard: Callable[[Source], StreamGuard],
    server: FrameServer,
    *,
    held: FrameServer | None = None,
    extra_sinks: Callable[[Source], Sequence[Sink]] = lambda s: (),
    options: ServeOptions | None = None,
    stop: threading.Event | None = None,
) -> list[RunReport]:
    """Run guarded camera sessions into ``server`` until ``stop`` is set (or a file source ends).

    Each session: open the source, make a fresh guard, ``run_guarded`` into the socket (and the
    extra sinks) until the source ends, the readers leave (``on_demand``) or ``stop``.

    ``held`` (optional) gets the guard's recording output: held back by the guard's
    ``record_hold_s``, it loses the frames shown just before the stream shut (with no hold, the
    same frames as ``server``). A reader of either socket opens the camera.

    Raises:
        BadInputError: the camera could not be opened or broke off.
        DetectionError: the guard's worker died (frames not yet decided became placeholders).
    """
    opts, stop = options or ServeOptions(), stop or threading.Event()
    servers = [server] if held is None else [server, held]
    reports: list[RunReport] = []
    while not stop.is_set():
        if opts.on_demand and not _wait_for_reader(servers, stop):
            break
        source = open_source()
        session_stop, idled = threading.Event(), threading.Event()
        watcher = _watch(servers, stop, session_stop, idled, opts)
        log.info("camera session %d: guarding %s", len(reports) + 1, source.name)
        try:
            sinks = [SocketSink(server), *extra_sinks(source)]
            recorders = [] if held is None else [SocketSink(held)]
            reports.append(run_guarded(source, make_guard(source), sinks, recorders=recorders, stop=session_stop))
        finally:
            session_stop.set()
            watcher.join(timeout=1.0)
        log.info("camera session ended: %s", reports[-1].stats)
        if not idled.is_set() and not opts.loop:
            break  # the source ended (a file): so does the daemon, unless looping
    return reports


def _wait_for_reader(servers: Sequence[FrameServer], stop: threading.Event) -> bool:
    """Block until one of ``servers`` has a reader (True) or ``stop`` is set (False)."""
    if len(servers) == 1:
        return servers[0].wait_for_client(stop=stop)
    while not stop.is_set() and not all(s.closed for s in servers):
        if any(s.wait_for_client(timeout_s=0.05, stop=stop) for s in servers):
            return True
    return False


def _watch(
    servers: Sequence[FrameServer],
    stop: threading.Event,
    session_stop: threading.Event,
    idled: threading.Event,
    opts: ServeOptions,
) -> threading.Thread:
    """Ends a session on ``stop``, or when no socket has had a reader for ``idle_close_s``."""

    def run() -> None:
        idle_since: float | None = None
        while not session_stop.wait(0.1):
            if stop.is_set():
                session_stop.set()
                return
            if not opts.on_demand:
                continue
            if any(s.clients for s in servers):
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= opts.idle_close_s:
                log.info("no readers for %.1f s: closing the camera", opts.idle_close_s)
                idled.set()
                session_stop.set()
                return

    thread = threading.Thread(target=run, name="captureguard-camerad-watch", daemon=True)
    thread.start()
    return thread

"""Live sources: cameras and network streams that keep only the latest frame.

A background thread reads the device as fast as it delivers and keeps the newest frame only
(aiortc's relay): a slow consumer gets fewer frames, never a growing queue or growing latency.
Frames it replaced before anyone took them are counted in ``dropped``. The thread stops on an
:class:`threading.Event` at ``close()``, and anything it raises is re-raised in the consumer.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import cv2
import numpy as np

from captureguard.core.frame import Frame
from captureguard.errors import BadInputError

logger = logging.getLogger(__name__)

#: ``read_fn`` for :class:`LatestFrameReader`: ``(H, W, 3) uint8`` BGR pixels, or None when a read failed.
ReadFn = Callable[[], np.ndarray | None]
_OPEN_TIMEOUT_MS = 5000
_JOIN_TIMEOUT_S = 2.0


class LatestFrameReader:
    """Reads frames on a background thread and hands the consumer only the newest one.

    Attributes:
        name: the device in messages and ``Frame.source`` (``camera:0``, a URL...).
        fps: the device's nominal rate (0.0 when unknown); informational only.
        live: always True.
        dropped: frames replaced by a newer one before the consumer took them.

    Yielded frames are ``(H, W, 3) uint8`` BGR, read-only, with ``index`` counting yielded
    frames from 0 and ``timestamp_s`` the monotonic read time since the first yielded frame.
    """

    live = True

    def __init__(
        self,
        read_fn: ReadFn,
        *,
        name: str,
        fps: float = 0.0,
        max_failures: int = 30,
        failure_timeout_s: float = 1.0,
        stall_timeout_s: float = 10.0,
    ) -> None:
        """Prepare the reader (the thread starts on first iteration or :meth:`start`).

        Args:
            read_fn: called on the reader thread; returns BGR pixels or None for a failed read.
            name: see Attributes.
            fps: see Attributes.
            max_failures: consecutive failed reads after which the device counts as gone.
            failure_timeout_s: seconds of failed reads after which the device counts as gone.
            stall_timeout_s: the consumer gives up when no frame and no error arrives this long
                (a ``read_fn`` that blocks forever must not hang the caller).
        """
        self.name, self.fps, self.dropped = name, fps, 0
        self._read = read_fn
        self._max_failures, self._failure_timeout_s = max_failures, failure_timeout_s
        self._retry_s = min(0.05, failure_timeout_s / max(1, max_failures))
        self._stall_timeout_s = stall_timeout_s
        self._cond = threading.Condition()
        self._latest: tuple[np.ndarray, float] | None = None
        self._error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"captureguard-reader:{name}", daemon=True)

    def start(self) -> None:
        """Start the reader thread (idempotent)."""
        if self._thread.ident is None and not self._stop.is_set():
            self._thread.start()

    def __iter__(self) -> Iterator[Frame]:
        """Yield each new latest frame until :meth:`close`.

        Raises:
            BadInputError: the device disappeared, stalled, or ``read_fn`` raised (chained).
        """
        self.start()
        index, t0 = 0, None
        while (item := self._next()) is not None:
            pixels, t = item
            t0 = t if t0 is None else t0
            yield Frame.from_bgr(pixels, index=index, timestamp_s=t - t0, source=self.name)
            index += 1

    def close(self) -> bool:
        """Stop the reader thread; True when it stopped (False: stuck inside ``read_fn``)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(_JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            logger.warning("%s: reader thread still inside read() after %.0f s", self.name, _JOIN_TIMEOUT_S)
            return False
        return True

    def _next(self) -> tuple[np.ndarray, float] | None:
        """The next new frame; None once closed; raises the reader's error."""
        with self._cond:
            self._cond.wait_for(self._ready, timeout=self._stall_timeout_s)
            if self._latest is not None:  # a frame read before a fault is still valid
                item, self._latest = self._latest, None
                return item
            if self._error is not None:
                raise _as_bad_input(self._error, self.name)
            if self._stop.is_set():
                return None
        problem = f"no frame for {self._stall_timeout_s:g} s"
        raise BadInputError(f"camera {self.name} stalled: {problem}; check the cable, network or driver")

    def _ready(self) -> bool:
        return self._latest is not None or self._error is not None or self._stop.is_set()

    def _run(self) -> None:
        try:
            self._read_until_stopped()
        except Exception as exc:  # handed to the consumer, which re-raises it
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _read_until_stopped(self) -> None:
        failures, first_failure = 0, 0.0
        while not self._stop.is_set():
            pixels = self._read()
            now = time.monotonic()
            if pixels is not None:
                failures = 0
                with self._cond:
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = (pixels, now)
                    self._cond.notify_all()
                continue
            if failures == 0:
                first_failure = now
            failures += 1
            if failures >= self._max_failures or now - first_failure > self._failure_timeout_s:
                raise BadInputError(
                    f"camera {self.name} disappeared: {failures} reads failed over {now - first_failure:.1f} s; "
                    "check it is connected, powered and not taken by another app"
                )
            self._stop.wait(self._retry_s)


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` used here (fakes implement it in tests)."""

    def isOpened(self) -> bool: ...  # noqa: N802 - OpenCV's name
    def read(self) -> tuple[bool, Any]: ...
    def get(self, prop: int) -> float: ...
    def release(self) -> None: ...


class CvCaptureSource:
    """A camera index, an RTSP/HTTP URL, or a file, read with OpenCV ``VideoCapture``.

    Cameras and URLs are live (a :class:`LatestFrameReader` keeps the latest frame only);
    a file is read in order on the caller's thread (prefer :class:`~captureguard.sources.video.AvFileSource`).

    Attributes:
        fps: the rate the device reports (0.0 when unknown).
        live: True for cameras and URLs.
        name: ``camera:N``, the URL without credentials, or the path.
    """

    def __init__(
        self,
        spec: int | str,
        *,
        capture_factory: Callable[[int | str], Capture] | None = None,
        **reader_options: Any,
    ) -> None:
        """Open the device.

        Args:
            spec: camera index, ``rtsp://``/``http(s)://`` URL, or file path.
            capture_factory: builds the capture (default ``cv2.VideoCapture`` with a 5 s open
                timeout); tests pass a fake.
            **reader_options: passed to :class:`LatestFrameReader` (``max_failures``...).

        Raises:
            BadInputError: the camera or stream does not open.
        """
        is_camera = isinstance(spec, int)
        self.live = is_camera or str(spec).lower().startswith(("rtsp://", "rtsps://", "http://", "https://"))
        self.name = f"camera:{spec}" if is_camera else _redact(str(spec))
        if capture_factory is None:
            if is_camera:
                _check_device_node(int(spec))
            capture_factory = _open_cv
        self._cap = capture_factory(spec)
        if not self._cap.isOpened():
            self._cap.release()
            raise _open_error(spec, self.name)
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.0 < fps < 1000.0 else 0.0
        self._reader = LatestFrameReader(self._read_once, name=self.name, fps=self.fps, **reader_options)

    @property
    def dropped(self) -> int:
        """Frames the live reader replaced before they were consumed (0 for files)."""
        return self._reader.dropped

    def __iter__(self) -> Iterator[Frame]:
        """Yield frames (live: each new latest frame; file: every frame).

        Raises:
            BadInputError: the device disappeared or failed, or a file has no frames.
        """
        if self.live:
            yield from self._reader
            return
        index = 0
        while (pixels := self._read_once()) is not None:
            t = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            yield Frame.from_bgr(pixels, index=index, timestamp_s=t, source=self.name, copy=False)
            index += 1
        if index == 0:
            raise BadInputError(f"cannot read video {self.name!r}: no frame could be decoded; re-export the file")

    def close(self) -> None:
        """Stop the reader thread and release the device (idempotent)."""
        if self._reader.close():
            self._cap.release()  # never while the reader thread may still be inside read()

    def _read_once(self) -> np.ndarray | None:
        ok, pixels = self._cap.read()
        return pixels if ok and pixels is not None else None


def _open_cv(spec: int | str) -> Capture:
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, _OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, _OPEN_TIMEOUT_MS]
    capture: Capture = cv2.VideoCapture(spec, cv2.CAP_ANY, params)
    return capture


def _check_device_node(index: int) -> None:
    """Fail fast on Linux when ``/dev/videoN`` does not exist (no probing of every backend)."""
    node = f"/dev/video{index}"
    if sys.platform.startswith("linux") and not os.path.exists(node):
        raise BadInputError(
            f"cannot open camera {index}: {node} does not exist (no camera connected, or no driver); "
            "connect a camera and check `ls /dev/video*`, or pass a video file or stream URL"
        )


def _open_error(spec: int | str, name: str) -> BadInputError:
    if isinstance(spec, int):
        return BadInputError(
            f"cannot open camera {spec}: the device did not open (busy in another app, no permission, "
            "or not a capture device); close other camera apps and check you are in the 'video' group"
        )
    if name.lower().startswith(("rtsp", "http")):
        return BadInputError(
            f"cannot open stream {name!r}: no answer or unsupported stream; check the URL, network and credentials"
        )
    return BadInputError(f"cannot read video {name!r}: OpenCV could not open it; check the path and format")


def _redact(spec: str) -> str:
    """A URL without its password, so it can appear in logs and reports."""
    parts = urllib.parse.urlsplit(spec)
    if parts.password is None:
        return spec
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _as_bad_input(exc: Exception, name: str) -> BadInputError:
    if isinstance(exc, BadInputError):
        return exc
    error = BadInputError(f"reading {name} failed on the reader thread ({type(exc).__name__}: {exc}); see the cause")
    error.__cause__ = exc
    return error

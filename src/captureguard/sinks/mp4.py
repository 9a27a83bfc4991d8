"""Record guard-released frames to an H.264 MP4 file, crash-safely.

Crash safety: frames go to a hidden temporary file beside the target (``.NAME.partial.mp4``)
written as *fragmented* MP4 (``frag_keyframe+empty_moov+default_base_moof``) with a keyframe
every ``keyframe_interval_s``, and each finished fragment is flushed to the OS at once. If the
process is killed, the partial file stays playable up to its last complete fragment and holds
only frames the guard released; nothing ever appears under the final name. :meth:`Mp4Sink.close`
flushes the encoder, closes the file, fsyncs it and renames it to the final name atomically
(``os.replace``, then an fsync of the folder). :meth:`Mp4Sink.abort` deletes the partial file.

Timing: presentation times come from the frames' ``timestamp_s`` (1/90000 s ticks, counted from
the first frame written), so variable frame rate and frames a live source skipped keep their
real timing; ``fps`` sets the nominal rate in the header and the step used when a timestamp does
not increase (frames without timestamps get ``1 / fps`` spacing).

Sizes: H.264 4:2:0 needs even sides, so an odd width or height is padded with one black column
or row (right/bottom). A frame whose size differs from the first frame's is resized to it.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import cv2
import numpy as np

from captureguard.core.frame import Frame
from captureguard.errors import ConfigError
from captureguard.guard.allowed import AllowedFrame
from captureguard.sinks import require_allowed

logger = logging.getLogger(__name__)

#: Presentation-time units per second (the MPEG 90 kHz clock).
TICKS_PER_S = 90_000
_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


class Mp4Sink:
    """H.264 (libx264, yuv420p) MP4 recorder that accepts only :class:`AllowedFrame`.

    Attributes:
        path: the final file, which exists only after a successful :meth:`close`.
        partial_path: the temporary fragmented MP4 written while recording.
        frames_written: frames handed to the encoder so far.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float,
        crf: int = 23,
        preset: str = "veryfast",
        keyframe_interval_s: float = 1.0,
    ) -> None:
        """Prepare a recording (the partial file is created on the first frame).

        Args:
            path: final ``.mp4`` path; its folder must exist. An existing file is replaced on close.
            fps: nominal frames per second of the source (> 0).
            crf: x264 constant rate factor (0 lossless ... 51 worst; 23 default).
            preset: x264 speed preset (``ultrafast`` ... ``veryslow``).
            keyframe_interval_s: seconds between keyframes, i.e. the most a crash can lose.

        Raises:
            ValueError: ``fps`` or ``keyframe_interval_s`` is not positive.
            ConfigError: the target folder does not exist.
        """
        if not fps > 0 or not keyframe_interval_s > 0:
            raise ValueError(f"fps and keyframe_interval_s must be positive, got {fps!r} and {keyframe_interval_s!r}")
        self.path = Path(path)
        self.partial_path = self.path.with_name(f".{self.path.stem}.partial.mp4")
        if not self.path.parent.is_dir():
            raise ConfigError(f"cannot record to '{self.path}': folder '{self.path.parent}' does not exist; create it")
        self.fps = float(fps)
        self.frames_written = 0
        self._codec_options = {
            "crf": str(crf),
            "preset": preset,
            "bf": "0",
            "g": str(max(1, round(fps * keyframe_interval_s))),
        }
        self._container: Any = None
        self._stream: Any = None
        self._size = (0, 0)  # (width, height) of the first frame
        self._t0 = 0.0
        self._last_pts = -1
        self._state = "open"  # open -> closed | aborted

    def write(self, item: AllowedFrame) -> None:
        """Encode one released frame.

        An error while encoding finalises what was written (as :meth:`close`), then propagates.

        Raises:
            TypeError: ``item`` is not an :class:`AllowedFrame`.
            ValueError: the sink is already closed or aborted.
        """
        frame = require_allowed(item, "Mp4Sink").frame
        if self._state != "open":
            raise ValueError(f"Mp4Sink for '{self.path}' is {self._state}; open a new one")
        try:
            if self._container is None:
                self._start(frame)
            self._encode(frame)
        except Exception:
            logger.exception("recording %s failed; keeping the %d frames written", self.path, self.frames_written)
            self._close_quietly()
            raise

    def close(self) -> None:
        """Flush the encoder, fsync, and rename the partial file to :attr:`path` (idempotent).

        A recording with no frames leaves no file.
        """
        if self._state != "open":
            return
        self._state = "closed"
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        except (av.FFmpegError, OSError):  # frames up to the last full fragment are still in the file
            logger.exception("flushing the encoder for %s failed; keeping what was written", self.path)
        self._container.close()
        _fsync_path(self.partial_path)
        os.replace(self.partial_path, self.path)
        _fsync_dir(self.path.parent)
        logger.info("recorded %d frames to %s", self.frames_written, self.path)

    def abort(self) -> None:
        """Discard the recording: close and delete the partial file (no-op after :meth:`close`)."""
        if self._state != "open":
            return
        self._state = "aborted"
        if self._container is not None:
            try:
                self._container.close()
            except av.FFmpegError as exc:  # the file is deleted anyway
                logger.debug("closing %s on abort: %s", self.partial_path, exc)
        self.partial_path.unlink(missing_ok=True)
        logger.info("discarded recording %s (%d frames)", self.path, self.frames_written)

    def __enter__(self) -> Mp4Sink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._close_quietly()  # keep what was written; the block's error is the one to see

    def _close_quietly(self) -> None:
        try:
            self.close()
        except (av.FFmpegError, OSError):
            logger.exception("could not finalise %s; the partial file %s is kept", self.path, self.partial_path)

    def _start(self, frame: Frame) -> None:
        """Open the partial file and the encoder, sized from the first frame."""
        self._size = (frame.width, frame.height)
        self._t0 = frame.timestamp_s
        options = {"movflags": _MOVFLAGS, "flush_packets": "1"}
        self._container = av.open(str(self.partial_path), mode="w", format="mp4", options=options)
        stream = self._container.add_stream(
            "libx264", rate=Fraction(self.fps).limit_denominator(1001), options=self._codec_options
        )
        stream.width, stream.height = _even(frame.width), _even(frame.height)
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, TICKS_PER_S)
        self._stream = stream
        if (stream.width, stream.height) != self._size:
            logger.info("%s: padding %dx%d to %dx%d with black", self.path, *self._size, stream.width, stream.height)

    def _encode(self, frame: Frame) -> None:
        av_frame = av.VideoFrame.from_ndarray(self._fit(frame.bgr), format="bgr24")
        av_frame.pts = self._pts(frame.timestamp_s)
        av_frame.time_base = Fraction(1, TICKS_PER_S)
        for packet in self._stream.encode(av_frame):
            self._container.mux(packet)
        self.frames_written += 1

    def _fit(self, bgr: np.ndarray) -> np.ndarray:
        """Resize ``(H, W, 3) uint8`` BGR to the first frame's size, then pad to even sides."""
        width, height = self._size
        if (bgr.shape[1], bgr.shape[0]) != self._size:
            logger.debug("%s: resizing %dx%d to %dx%d", self.path, bgr.shape[1], bgr.shape[0], width, height)
            bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
        pad_h, pad_w = _even(height) - height, _even(width) - width
        if pad_h or pad_w:
            bgr = np.pad(bgr, ((0, pad_h), (0, pad_w), (0, 0)))  # zeros: black
        return bgr

    def _pts(self, timestamp_s: float) -> int:
        """Ticks since the first frame; one frame interval past the last when time does not advance."""
        pts = round((timestamp_s - self._t0) * TICKS_PER_S)
        if pts <= self._last_pts:
            pts = self._last_pts + max(1, round(TICKS_PER_S / self.fps))
        self._last_pts = pts
        return pts


def _even(n: int) -> int:
    return n + n % 2


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX; folders cannot be opened for fsync on Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    _fsync_path(folder)

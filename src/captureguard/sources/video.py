"""Video files decoded with PyAV, and :func:`open_source` to pick a source from a spec.

:class:`AvFileSource` yields upright frames: the stream's display rotation (the display matrix
a phone writes for a portrait video, shown by ffprobe as ``rotation of -90.00 degrees``) is
applied to the pixels, so a detector sees what a player shows. Only quarter turns are applied;
mirroring in the matrix and non-square sample aspect ratios are ignored (logged).

Every failure is a one-line :class:`~captureguard.errors.BadInputError` naming the file, the
problem and a fix. A file that breaks off mid-stream yields its good frames, then raises: on a
decoder or demuxer error, or when the stream ends well before the duration its header declares
(MKV and MP4 demuxers can stop quietly at a cut). Containers that declare no total (MPEG-TS,
fragmented MP4) cannot reveal a cut at a packet or fragment boundary; those end quietly.
Live sources (cameras, RTSP/HTTP) live in :mod:`captureguard.sources.live`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import numpy as np

from captureguard.core.frame import Frame
from captureguard.errors import BadInputError
from captureguard.sources import Source
from captureguard.sources.live import CvCaptureSource, LatestFrameReader

__all__ = ["AvFileSource", "CvCaptureSource", "LatestFrameReader", "open_source"]

logger = logging.getLogger(__name__)

#: Frame rate assumed for timestamps when a frame has no pts and the stream no rate.
FALLBACK_FPS = 25.0
#: A stream that ends this much before its declared duration (seconds) counts as truncated
#: (at least 3 frame intervals), which catches containers whose demuxer stops silently (MKV).
TRUNCATION_TOLERANCE_S = 0.5
_URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
_IMAGE_FORMATS = {"image2", "image2pipe"}


class AvFileSource:
    """Frames of a video file, decoded with PyAV (FFmpeg), upright and timestamped.

    Attributes:
        fps: the stream's average frame rate (0.0 when unknown).
        live: always False (every frame is yielded).
        name: the path.
        rotation_deg: counter-clockwise quarter turn applied to every frame (0, 90, 180, 270).

    Frames are ``(H, W, 3) uint8`` BGR, read-only; odd sizes pass through unchanged. ``index``
    counts decoded frames from 0; ``timestamp_s`` is ``pts * time_base`` from the stream start,
    so a variable-frame-rate file gives the real times (``index / fps`` when a frame has no pts).
    """

    live = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open and probe ``path``.

        Raises:
            BadInputError: missing, empty, not a video, a still image, no video stream or an
                unsupported codec.
        """
        self.name = os.fspath(path)
        _check_file(self.name)
        self._container = _open_container(self.name)
        self._stream = _video_stream(self._container, self.name)
        self.fps = float(self._stream.average_rate or 0.0)
        #: Frames the container header declares (0 when unknown): a progress bar's total.
        self.frame_count = int(self._stream.frames or 0)
        self.rotation_deg = 0
        self._used = False

    def __iter__(self) -> Iterator[Frame]:
        """Yield every frame in presentation order.

        Raises:
            BadInputError: corrupt or truncated data (after yielding the frames before it), or
                a file with no decodable frame.
        """
        if self._used:  # a second pass decodes the file again from the start
            self.close()
            self._container = _open_container(self.name)
            self._stream = _video_stream(self._container, self.name)
        self._used = True
        count, last_t = 0, 0.0
        try:
            for count, av_frame in enumerate(self._container.decode(self._stream), start=1):
                frame = self._to_frame(av_frame, count - 1)
                last_t = frame.timestamp_s
                yield frame
        except av.FFmpegError as exc:
            where = f"after frame {count} ({last_t:.2f} s)" if count else "before the first frame"
            problem = f"corrupt or truncated video data {where}: {_why(exc)}"
            raise _error(self.name, problem, "re-export or copy the file again") from exc
        if count == 0:
            listed = f" (its header lists {self._stream.frames}: cut short?)" if self._stream.frames else ""
            raise _error(self.name, f"contains no video frames{listed}", "record or export the video again")
        self._check_complete(count, last_t)

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._container.close()

    def _to_frame(self, av_frame: Any, index: int) -> Frame:
        """Convert one decoded PyAV frame into an upright, timestamped :class:`Frame`."""
        bgr = av_frame.to_ndarray(format="bgr24")
        turns = _quarter_turns(av_frame.rotation, self.name)
        self.rotation_deg = 90 * turns
        if turns:
            bgr = np.rot90(bgr, k=turns)  # np.rot90 turns counter-clockwise, like the matrix
        return Frame.from_bgr(bgr, index=index, timestamp_s=self._timestamp_s(av_frame, index), source=self.name)

    def _timestamp_s(self, av_frame: Any, index: int) -> float:
        """Seconds from the stream start: ``pts * time_base``, or ``index / fps`` without a pts."""
        pts, time_base = av_frame.pts, av_frame.time_base or self._stream.time_base
        if pts is None or time_base is None:
            return index / (self.fps or FALLBACK_FPS)
        start = self._stream.start_time or 0
        return max(0.0, float((pts - start) * Fraction(time_base)))

    def _check_complete(self, count: int, last_t: float) -> None:
        """Raise when the stream ended well before the duration its header declares."""
        declared = _declared_duration_s(self._container, self._stream)
        interval = 1.0 / (self.fps or FALLBACK_FPS)
        if declared is not None and declared - (last_t + interval) > max(TRUNCATION_TOLERANCE_S, 3 * interval):
            problem = f"truncated: the stream stops at {last_t:.2f} s (frame {count}) but declares {declared:.2f} s"
            raise _error(self.name, problem, "the copy or recording did not finish; copy or export it again")


def open_source(spec: str | int | os.PathLike[str]) -> Source:
    """Pick a source for ``spec``.

    Args:
        spec: a camera index (``0`` or ``"0"``), an ``rtsp://``/``http(s)://`` URL, or a path to
            a video file.

    Returns:
        :class:`~captureguard.sources.live.CvCaptureSource` for cameras and URLs (live),
        :class:`AvFileSource` for files.

    Raises:
        BadInputError: the camera does not open, the URL does not answer, or the file is
            missing or not a usable video.
    """
    if isinstance(spec, int) and not isinstance(spec, bool):
        return CvCaptureSource(spec)
    if isinstance(spec, str) and spec.strip().isdigit():
        return CvCaptureSource(int(spec.strip()))
    if isinstance(spec, str) and spec.lower().startswith(_URL_SCHEMES):
        return CvCaptureSource(spec)
    if isinstance(spec, str | os.PathLike):
        return AvFileSource(spec)
    raise BadInputError(
        f"cannot open video source {spec!r}: expected a camera index, an rtsp:// or http(s):// URL, "
        "or a video file path"
    )


def _check_file(name: str) -> None:
    if not os.path.exists(name):
        raise _error(name, "no such file", "check the path and the working directory")
    if not os.path.isfile(name):
        raise _error(name, "is not a regular file", "pass a video file such as an .mp4")
    if os.path.getsize(name) == 0:
        raise _error(name, "file is empty (0 bytes)", "the copy or recording may not have finished")


def _open_container(name: str) -> Any:
    try:
        # Tags in another encoding (found by fuzzing: a Latin-1 MKV title) must not stop the
        # frames from being checked: PyAV's default "strict" raised UnicodeDecodeError.
        return av.open(name, mode="r", metadata_errors="replace")
    except EOFError as exc:  # av.EOFError: the probe ran out of data
        raise _error(name, "ends before the first video frame (empty or cut short)", _HINT) from exc
    except (av.FFmpegError, OSError) as exc:
        problem = f"not a recognised video (unknown format or damaged header: {_why(exc)})"
        raise _error(name, problem, _HINT) from exc


_HINT = "pass a video file (MP4, MOV, MKV, WebM, AVI, TS) or re-export it"


def _video_stream(container: Any, name: str) -> Any:
    """The first video stream, checked for a decoder; closes ``container`` on failure."""
    try:
        if container.format.name in _IMAGE_FORMATS or container.format.name.endswith("_pipe"):
            problem = f"is a still image ({container.format.name.removesuffix('_pipe')}), not a video"
            raise _error(name, problem, "check it as a photo with `captureguard check`")
        if not container.streams.video:
            raise _error(name, "has no video stream (audio only or empty container)", _HINT)
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise _error(name, "uses a video codec this FFmpeg build cannot decode", "convert it to H.264 MP4")
    except BadInputError:
        container.close()
        raise
    stream.thread_type = "AUTO"
    if stream.sample_aspect_ratio not in (None, 0, 1):
        logger.info("%s: sample aspect ratio %s ignored (pixels kept as stored)", name, stream.sample_aspect_ratio)
    return stream


def _quarter_turns(rotation: float | None, name: str) -> int:
    """Counter-clockwise quarter turns for a display-matrix rotation in degrees."""
    if not rotation:
        return 0
    turns = round(rotation / 90.0)
    if abs(rotation - 90 * turns) > 1.0:
        logger.warning("%s: rotation %.1f deg is not a quarter turn; using %d deg", name, rotation, 90 * turns)
    return turns % 4


def _declared_duration_s(container: Any, stream: Any) -> float | None:
    """The video stream's declared duration in seconds (the container's for a one-stream file)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration and len(container.streams) == 1:
        return float(container.duration) / 1e6
    return None


def _why(exc: Exception) -> str:
    """FFmpeg's reason without PyAV's errno and call name."""
    return str(getattr(exc, "strerror", None) or exc)


def _error(name: str, problem: str, hint: str) -> BadInputError:
    return BadInputError(f"cannot read video {name!r}: {' '.join(problem.split())}; {hint}")

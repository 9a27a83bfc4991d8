"""Camera-like H.264 in memory: encode rendered frames and play them back, never touching disk.

Benchmarks and tests film nude artworks into clips; the clips go through a real H.264 encoder
(compression blur, blocking, chroma subsampling, like a phone's recording) and are decoded again
as a :class:`~captureguard.sources.Source`. The bytes live in memory only: no such pixels are
written to a file, not even a temporary one.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import numpy as np

from captureguard.core.frame import Frame
from captureguard.errors import BadInputError


def encode_h264(frames: Iterable[np.ndarray], *, fps: float, crf: int = 23) -> bytes:
    """Encode ``(H, W, 3) uint8`` BGR frames (even sides) as an MP4/H.264 byte string (yuv420p)."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream("libx264", rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast", "bf": "0"}
        for i, bgr in enumerate(frames):
            if i == 0:
                stream.height, stream.width = bgr.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24")
            frame.pts = i
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


class H264Bytes:
    """A :class:`~captureguard.sources.Source` playing an MP4 byte string (not live).

    Frames are ``(H, W, 3) uint8`` BGR with ``index`` 0, 1, ... and ``timestamp_s = index / fps``.
    """

    live = False

    def __init__(self, data: bytes, *, fps: float, name: str = "h264") -> None:
        self.data, self.fps, self.name = data, float(fps), name

    def __iter__(self) -> Iterator[Frame]:
        try:
            with av.open(io.BytesIO(self.data), mode="r") as container:
                for i, f in enumerate(container.decode(video=0)):
                    bgr = f.to_ndarray(format="bgr24")
                    yield Frame.from_bgr(bgr, index=i, timestamp_s=i / self.fps, source=self.name, copy=False)
        except av.FFmpegError as exc:
            raise BadInputError(f"cannot decode the in-memory clip {self.name!r}: {exc}") from exc

    def close(self) -> None:
        """Nothing to release (the bytes stay with the caller)."""

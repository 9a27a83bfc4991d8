"""Camera-like clips built from stills, with geometric ground truth (for tests and benchmarks).

A :class:`ClipSource` plays a list of *shots* joined by hard cuts:

* :class:`Pan`: a crop window of the output's aspect moves across one still while zooming in
  (a slow camera pan/zoom), resized to the output size;
* :class:`Hold`: one still, whole (letterboxed) or cropped, not moving;
* :class:`Slide`: stills side by side on a wide canvas, e.g. ``[safe | nude | safe]``; the window
  pans across it, so the middle still slides in from one edge and out at the other;
* :class:`VideoShot`: frames of a (safe) video file, resized to cover the output.

Ground truth comes from the crop windows, not from a model: :attr:`ClipSource.unsafe_fraction`
is, per output frame, the largest fraction of any unsafe still's area inside the window, and
:attr:`ClipSource.truth` says whether that is above zero (any pixel of an unsafe still shows).
Clips are rendered on the fly (or once, with :meth:`ClipSource.prerender`) and never written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import av
import cv2
import numpy as np

from captureguard.core.frame import Frame
from captureguard.errors import BadInputError

Direction = Literal["left", "right", "up", "down"]
#: ``(x, y, w, h)`` integer crop window in canvas pixels.
Window = tuple[int, int, int, int]
_LETTERBOX_GREY = 40


@dataclass(frozen=True)
class Still:
    """One picture to film: ``(H, W, 3) uint8`` BGR pixels and whether it is unsafe (nudity)."""

    bgr: np.ndarray
    unsafe: bool
    name: str = ""

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, unsafe: bool, name: str = "") -> Still:
        """Read an image file (read in place, never copied).

        Raises:
            BadInputError: the file does not decode.
        """
        bgr = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise BadInputError(f"cannot read still {os.fspath(path)!r}; expected a JPEG/PNG/WebP image")
        return cls(bgr, unsafe, name or os.path.basename(os.fspath(path)))


class _Bound(Protocol):
    """A shot laid out for one output size."""

    def render(self, k: int, n: int) -> np.ndarray:
        """Pixels of frame ``k`` of ``n`` in the shot, ``(out_h, out_w, 3) uint8`` BGR."""
        ...

    def unsafe_fraction(self, k: int, n: int) -> float:
        """Largest visible fraction of an unsafe still's area in frame ``k`` of ``n``."""
        ...


class Shot(Protocol):
    """A piece of a clip lasting ``seconds``; :meth:`bind` lays it out for an output size."""

    @property
    def seconds(self) -> float:
        """Duration of the shot."""
        ...

    def bind(self, out_wh: tuple[int, int]) -> _Bound:
        """Lay the shot out for ``(width, height)`` output frames."""
        ...


@dataclass(frozen=True)
class _Panel:
    x0: int
    y0: int
    x1: int
    y1: int
    unsafe: bool

    def fraction_in(self, win: Window) -> float:
        x, y, w, h = win
        ow = max(0, min(self.x1, x + w) - max(self.x0, x))
        oh = max(0, min(self.y1, y + h) - max(self.y0, y))
        return ow * oh / ((self.x1 - self.x0) * (self.y1 - self.y0))


@dataclass
class _CanvasShot:
    """A still canvas, its panels, and a crop window per frame, interpolated between two ends."""

    canvas: np.ndarray
    panels: list[_Panel]
    out_wh: tuple[int, int]
    windows: tuple[Window, Window]  # first and last window; in between: linear
    zoom_path: bool = False  # True: interpolate size geometrically (a steady zoom)

    def window_at(self, k: int, n: int) -> Window:
        u = k / (n - 1) if n > 1 else 0.0
        (x0, y0, w0, h0), (x1, y1, w1, h1) = self.windows
        w = w0 * (w1 / w0) ** u if self.zoom_path else w0 + (w1 - w0) * u
        h = h0 * (h1 / h0) ** u if self.zoom_path else h0 + (h1 - h0) * u
        x, y = x0 + (x1 - x0) * u, y0 + (y1 - y0) * u
        ch, cw = self.canvas.shape[:2]
        wi, hi = min(cw, max(1, round(w))), min(ch, max(1, round(h)))
        return min(max(0, round(x)), cw - wi), min(max(0, round(y)), ch - hi), wi, hi

    def render(self, k: int, n: int) -> np.ndarray:
        x, y, w, h = self.window_at(k, n)
        crop = self.canvas[y : y + h, x : x + w]
        if (w, h) == self.out_wh:
            return np.ascontiguousarray(crop)
        return cv2.resize(crop, self.out_wh, interpolation=cv2.INTER_AREA if w > self.out_wh[0] else cv2.INTER_LINEAR)

    def unsafe_fraction(self, k: int, n: int) -> float:
        win = self.window_at(k, n)
        return max((p.fraction_in(win) for p in self.panels if p.unsafe), default=0.0)


def _cover_wh(img_wh: tuple[int, int], out_wh: tuple[int, int]) -> tuple[float, float]:
    """The largest window of the output's aspect that fits inside the image."""
    (iw, ih), (ow, oh) = img_wh, out_wh
    scale = min(iw / ow, ih / oh)
    return ow * scale, oh * scale


def _scaled(bgr: np.ndarray, height: int) -> np.ndarray:
    h, w = bgr.shape[:2]
    width = max(1, round(w * height / h))
    return cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA if height < h else cv2.INTER_LINEAR)


def _cover(bgr: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """Scale to cover ``(width, height)`` and crop the centre."""
    h, w = bgr.shape[:2]
    cw, ch = _cover_wh((w, h), out_wh)
    x, y = round((w - cw) / 2), round((h - ch) / 2)
    return cv2.resize(bgr[y : y + round(ch), x : x + round(cw)], out_wh, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Pan:
    """A slow pan across one still while zooming from ``zoom[0]`` to ``zoom[1]`` (1.0: widest crop).

    The window keeps the output's aspect; ``direction`` is where the camera moves.
    """

    image: Still
    seconds: float
    zoom: tuple[float, float] = (1.0, 1.6)
    direction: Direction = "right"

    def bind(self, out_wh: tuple[int, int]) -> _Bound:
        """Lay the pan out (the still is pre-scaled so the tightest crop is about the output size)."""
        ih, iw = self.image.bgr.shape[:2]
        cover_w, cover_h = _cover_wh((iw, ih), out_wh)
        scale = max(self.zoom) * out_wh[1] / cover_h
        canvas = _scaled(self.image.bgr, max(out_wh[1], round(ih * scale)))
        ch, cw = canvas.shape[:2]
        cover_w, cover_h = _cover_wh((cw, ch), out_wh)
        ends = []
        for z, u in ((self.zoom[0], 0.0), (self.zoom[1], 1.0)):
            w, h = cover_w / z, cover_h / z
            t = u if self.direction in ("right", "down") else 1.0 - u
            x = (cw - w) * t if self.direction in ("left", "right") else (cw - w) / 2
            y = (ch - h) * t if self.direction in ("up", "down") else (ch - h) / 2
            ends.append((round(x), round(y), round(w), round(h)))
        panel = _Panel(0, 0, cw, ch, self.image.unsafe)
        return _CanvasShot(canvas, [panel], out_wh, (ends[0], ends[1]), zoom_path=True)


@dataclass(frozen=True)
class Hold:
    """One still held still: ``fit="contain"`` letterboxes it whole, ``"cover"`` crops its centre."""

    image: Still
    seconds: float
    fit: Literal["contain", "cover"] = "contain"

    def bind(self, out_wh: tuple[int, int]) -> _Bound:
        """Lay the still out in the output frame."""
        ih, iw = self.image.bgr.shape[:2]
        if self.fit == "cover":
            canvas = _scaled(self.image.bgr, max(out_wh[1], round(ih * out_wh[1] / _cover_wh((iw, ih), out_wh)[1])))
            ch, cw = canvas.shape[:2]
            w, h = (round(v) for v in _cover_wh((cw, ch), out_wh))
            mid = ((cw - w) // 2, (ch - h) // 2, w, h)
            return _CanvasShot(canvas, [_Panel(0, 0, cw, ch, self.image.unsafe)], out_wh, (mid, mid))
        ow, oh = out_wh
        scale = min(ow / iw, oh / ih)
        w, h = max(1, round(iw * scale)), max(1, round(ih * scale))
        canvas = np.full((oh, ow, 3), _LETTERBOX_GREY, np.uint8)
        x, y = (ow - w) // 2, (oh - h) // 2
        canvas[y : y + h, x : x + w] = cv2.resize(self.image.bgr, (w, h), interpolation=cv2.INTER_AREA)
        window = (0, 0, ow, oh)
        return _CanvasShot(canvas, [_Panel(x, y, x + w, y + h, self.image.unsafe)], out_wh, (window, window))


@dataclass(frozen=True)
class Slide:
    """Stills side by side (each scaled to the output height); the window pans across them.

    ``travel`` is where the window's left edge starts and ends, as fractions of the canvas
    width the window can travel (0.0: left end, 1.0: right end).
    """

    images: Sequence[Still]
    seconds: float
    travel: tuple[float, float] = (0.0, 1.0)

    def bind(self, out_wh: tuple[int, int]) -> _Bound:
        """Build the wide canvas and the panels' rectangles."""
        ow, oh = out_wh
        parts = [_scaled(s.bgr, oh) for s in self.images]
        for i in {0, len(parts) - 1}:  # edge stills fill the whole first and last frame
            parts[i] = _cover(self.images[i].bgr, (max(ow, parts[i].shape[1]), oh))
        canvas = np.concatenate(parts, axis=1)
        panels, x = [], 0
        for still, part in zip(self.images, parts, strict=True):
            panels.append(_Panel(x, 0, x + part.shape[1], oh, still.unsafe))
            x += part.shape[1]
        room = canvas.shape[1] - ow
        ends = ((round(room * self.travel[0]), 0, ow, oh), (round(room * self.travel[1]), 0, ow, oh))
        return _CanvasShot(np.ascontiguousarray(canvas), panels, out_wh, ends)


@dataclass(frozen=True)
class VideoShot:
    """``seconds`` of a safe video file from ``start_s``, resized to cover the output (decoded with PyAV)."""

    path: str | os.PathLike[str]
    seconds: float
    start_s: float = 0.0

    def bind(self, out_wh: tuple[int, int]) -> _Bound:
        """Decode the needed frames (at the video's own size)."""
        return _VideoBound(_decode(self.path, self.start_s, self.seconds), out_wh)


def _decode(path: str | os.PathLike[str], start_s: float, seconds: float) -> list[tuple[float, np.ndarray]]:
    """``(timestamp_s, bgr)`` of the frames in ``[start_s, start_s + seconds]``."""
    out: list[tuple[float, np.ndarray]] = []
    try:
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            for f in container.decode(stream):
                t = float(f.time) if f.time is not None else len(out) / float(stream.average_rate or 25)
                if t > start_s + seconds:
                    break
                if t >= start_s:
                    out.append((t - start_s, f.to_ndarray(format="bgr24")))
    except (av.FFmpegError, IndexError) as exc:
        raise BadInputError(f"cannot decode video {os.fspath(path)!r}: {exc}") from exc
    if not out:
        raise BadInputError(f"video {os.fspath(path)!r} has no frames from {start_s} s")
    return out


@dataclass
class _VideoBound:
    frames: list[tuple[float, np.ndarray]]
    out_wh: tuple[int, int]

    def render(self, k: int, n: int) -> np.ndarray:
        # The source frame shown at this output frame's time (videos run at their own rate).
        t = k * self.frames[-1][0] / (n - 1) if n > 1 else 0.0
        _, bgr = min(self.frames, key=lambda f: abs(f[0] - t))
        return _cover(bgr, self.out_wh)

    def unsafe_fraction(self, k: int, n: int) -> float:
        return 0.0


class ClipSource:
    """A clip of shots joined by hard cuts: a :class:`~captureguard.sources.Source` with ground truth.

    Args:
        shots: the shots, in order.
        fps: output frame rate; each shot lasts ``round(seconds * fps)`` frames (at least 1).
        size: output ``(width, height)``.
        name: for logs and reports.
        paced: yield frames on the frame clock like a live camera (``live=True``): a slow
            consumer makes the clip skip frames (counted in :attr:`skipped`), never queue them.

    Frames are ``(H, W, 3) uint8`` BGR with ``index`` and ``timestamp_s = index / fps``.
    """

    def __init__(
        self,
        shots: Sequence[Shot],
        *,
        fps: float = 30.0,
        size: tuple[int, int] = (1280, 720),
        name: str = "synthetic",
        paced: bool = False,
    ) -> None:
        if not shots or fps <= 0:
            raise BadInputError("a clip needs at least one shot and fps > 0")
        self.fps, self.live, self.name, self.size = float(fps), paced, name, size
        self.skipped = 0
        self._bound = [s.bind(size) for s in shots]
        self._spans = [max(1, round(s.seconds * fps)) for s in shots]
        self._plan = [(b, k, n) for b, n in zip(self._bound, self._spans, strict=True) for k in range(n)]
        self.unsafe_fraction: list[float] = [b.unsafe_fraction(k, n) for b, k, n in self._plan]
        self.truth: list[bool] = [f > 0 for f in self.unsafe_fraction]
        self.shot_starts: list[int] = [sum(self._spans[:i]) for i in range(len(shots))]
        self._cache: list[Frame] | None = None

    def __len__(self) -> int:
        return len(self._plan)

    def frame(self, index: int) -> Frame:
        """Render output frame ``index`` (frozen, timestamped)."""
        if self._cache is not None:
            return self._cache[index]
        bound, k, n = self._plan[index]
        return Frame.from_bgr(
            bound.render(k, n), index=index, timestamp_s=index / self.fps, source=self.name, copy=False
        )

    def prerender(self) -> ClipSource:
        """Render every frame once and keep them (so playback costs no CPU, like a camera)."""
        self._cache = [self.frame(i) for i in range(len(self))]
        return self

    def __iter__(self) -> Iterator[Frame]:
        """Yield frames in order; when ``paced``, on the frame clock, skipping frames if behind."""
        if not self.live:
            yield from (self.frame(i) for i in range(len(self)))
            return
        start, index = time.monotonic(), 0
        while index < len(self):
            wait = start + index / self.fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            due = int((time.monotonic() - start) * self.fps)
            if due > index:  # behind the clock: a camera has moved on to the newest frame
                self.skipped += min(due, len(self)) - index
                index = due
                if index >= len(self):
                    return
            yield self.frame(index)
            index += 1

    def close(self) -> None:
        """Drop rendered frames (idempotent)."""
        self._cache = None

"""The conformance clip: index-marked frames with nude paintings cut, panned and slid in.

Every path from a camera to an app must pass the same test (``docs/integration.md``): play this
clip in place of the camera, take what an ordinary app receives, and audit it: every frame must
be a frame the guard released (its mark names the camera frame and its pixels match) or the
guard's placeholder; none may show a frame the guard withheld. The marks survive YUV
conversion (black/white cells along the top edge, with a parity cell).

The paintings are the public-domain nudes bundled in ``captureguard/data/demo``; ground truth
comes from geometry (:class:`~captureguard.sources.synthetic.ClipSource`), not from a model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from captureguard import Frame
from captureguard.guard.placeholder import placeholder as placeholder_pixels
from captureguard.samples import bundled_samples
from captureguard.sources.synthetic import ClipSource, Hold, Pan, Shot, Slide, Still

BITS = 16
_CELLS = 2 + BITS + 1  # white, black, 16 index bits, parity
NOTICE = "Hidden by captureguard"


def _cell(width: int) -> int:
    return max(6, width // 48)


def mark(bgr: np.ndarray, index: int) -> np.ndarray:
    """A copy of ``(H, W, 3) uint8`` BGR pixels with ``index`` (0..65535) drawn along the top edge."""
    out = np.array(bgr, copy=True)
    c = _cell(out.shape[1])
    bits = [1, 0, *((index >> b) & 1 for b in range(BITS))]
    bits.append(sum(bits[2:]) % 2)
    for k, bit in enumerate(bits):
        out[0:c, k * c : (k + 1) * c] = 255 if bit else 0
    return out


def read_mark(bgr: np.ndarray) -> int | None:
    """The index marked on a frame, or None (no mark: e.g. a placeholder, or a damaged mark)."""
    c = _cell(bgr.shape[1])
    if bgr.shape[0] < c or bgr.shape[1] < _CELLS * c:
        return None
    m = max(1, c // 4)  # read the middle of each cell (edges blur in chroma subsampling)
    gray = bgr[m : c - m].astype(np.float32).mean(axis=(0, 2))
    means = [float(gray[k * c + m : (k + 1) * c - m].mean()) for k in range(_CELLS)]
    white, black = means[0], means[1]
    if white - black < 128:
        return None
    bits = [int(v > (white + black) / 2) for v in means[2:]]
    if sum(bits[:BITS]) % 2 != bits[BITS]:
        return None
    return sum(b << i for i, b in enumerate(bits[:BITS]))


def stills() -> tuple[list[Still], dict[str, Still]]:
    """The bundled nude paintings, and the safe stills keyed by their file name's last word."""
    made = [(s, Still.from_path(s.path, unsafe=s.label == "nudity", name=s.title)) for s in bundled_samples()]
    return [m for _, m in made if m.unsafe], {s.path.stem.split("_")[-1]: m for s, m in made if not m.unsafe}


def shots(seconds: float) -> list[Shot]:
    """Safe pans with nude paintings held after a cut, slid in from the side, and panned across."""
    nude, safe = stills()
    plan: list[tuple[float, Shot]] = [
        (0.14, Pan(safe["gottlieb"], 1.0)),
        (0.08, Hold(nude[0], 1.0)),
        (0.12, Pan(safe["citrus-fruits"], 1.0, zoom=(1.0, 1.3))),
        (0.24, Slide([safe["recamier"], nude[1], safe["chelsea"]], 1.0)),
        (0.12, Pan(nude[-1], 1.0, zoom=(1.0, 1.6), direction="down")),
        (0.14, Pan(safe["81512"], 1.0, zoom=(1.2, 1.0), direction="left")),
        (0.06, Hold(nude[2], 1.0, fit="cover")),
        (0.10, Pan(safe["citrus-fruits"], 1.0, direction="left")),
    ]
    return [_with_seconds(shot, share * seconds) for share, shot in plan]


def _with_seconds(shot: Shot, seconds: float) -> Shot:
    import dataclasses

    return dataclasses.replace(shot, seconds=seconds)  # type: ignore[type-var]


class MarkedClip:
    """A :class:`~captureguard.sources.Source`: the conformance clip, every frame index-marked.

    Args:
        size: ``(width, height)``.
        fps: frame rate.
        seconds: length (the whole plan of shots is scaled to it).
        paced: play on the frame clock like a camera (``live=True``).
        cache: render every frame once up front (small sizes; saves CPU while playing).

    Attributes:
        truth: per frame, whether any pixel of a nude painting shows (geometric ground truth).
    """

    def __init__(
        self,
        *,
        size: tuple[int, int] = (1280, 720),
        fps: float = 30.0,
        seconds: float = 10.0,
        paced: bool = True,
        cache: bool = False,
    ) -> None:
        self._clip = ClipSource(shots(seconds), fps=fps, size=size, name="conformance", paced=paced)
        self.fps, self.live, self.name, self.size = self._clip.fps, paced, "conformance", size
        self.truth: list[bool] = list(self._clip.truth)
        self._cache = [self._render(i) for i in range(len(self))] if cache else None

    def __len__(self) -> int:
        return len(self._clip)

    def _render(self, index: int) -> Frame:
        raw = self._clip.frame(index)
        return Frame.from_bgr(
            mark(raw.bgr, index), index=index, timestamp_s=raw.timestamp_s, source=self.name, copy=False
        )

    def frame(self, index: int) -> Frame:
        """Frame ``index``, marked."""
        return self._cache[index] if self._cache is not None else self._render(index)

    def __iter__(self) -> Iterator[Frame]:
        for raw in self._clip:  # paced by ClipSource when live
            yield self.frame(raw.index)

    @property
    def skipped(self) -> int:
        """Frames skipped because the reader fell behind the clock."""
        return self._clip.skipped

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class Audit:
    """What an app received, judged frame by frame (indices of camera frames; no pixels).

    Attributes:
        released: marked frames whose pixels match the camera frame the mark names.
        placeholders: unmarked frames that match the guard's placeholder.
        leaked: marked frames from the withheld set (or showing a nude painting).
        mismatched: marked frames whose pixels do not match their camera frame.
        unknown: frames that are neither a marked camera frame nor the placeholder.
    """

    released: list[int] = field(default_factory=list)
    placeholders: int = 0
    leaked: list[int] = field(default_factory=list)
    mismatched: list[int] = field(default_factory=list)
    unknown: int = 0

    @property
    def passed(self) -> bool:
        """No leak, and every frame accounted for."""
        return not self.leaked and not self.mismatched and not self.unknown

    def summary(self) -> str:
        """One line for reports."""
        return (
            f"{len(self.released)} released frames, {self.placeholders} placeholders, {len(self.leaked)} leaked, "
            f"{len(self.mismatched)} mismatched, {self.unknown} unknown"
        )


def audit(
    received: Sequence[np.ndarray],
    clip: MarkedClip,
    *,
    withheld: set[int] | frozenset[int] = frozenset(),
    truth_leaks: bool = True,
    tolerance: float = 10.0,
) -> Audit:
    """Judge received ``(H, W, 3) uint8`` BGR frames against the clip.

    A frame leaks when its mark names a withheld frame or (``truth_leaks``) one whose geometric
    ground truth shows any part of a nude painting; ``tolerance`` is the largest mean absolute
    difference (0-255) still counted as the
    same picture (YUV 4:2:2 round trips differ by a few levels at edges).
    """
    out = Audit()
    placeholder = placeholder_pixels(np.zeros((clip.size[1], clip.size[0], 3), np.uint8), mode="black", notice=NOTICE)
    for bgr in received:
        index = read_mark(bgr)
        if index is None or index >= len(clip):
            if bgr.shape == placeholder.shape and _mad(bgr, placeholder) <= tolerance:
                out.placeholders += 1
            else:
                out.unknown += 1
        elif index in withheld or (truth_leaks and clip.truth[index]):
            out.leaked.append(index)
        elif bgr.shape != clip.frame(index).bgr.shape or _mad(bgr, clip.frame(index).bgr) > tolerance:
            out.mismatched.append(index)
        else:
            out.released.append(index)
    return out


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())

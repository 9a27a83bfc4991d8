"""Leak clips: nude artworks filmed at several scales and motions, H.264, with geometric truth.

A leak is a frame the stream guard released in which a nude artwork is *substantially visible*:
it fills at least :data:`MIN_FRAME_SHARE` of the frame and at least :data:`MIN_VISIBLE` of the
artwork is in view (geometry of the clip builder, not a model). Leaks are reported split by
whether the photo check blocks that artwork as a still at full resolution: those are the ones
the live path must not release (issue 13's target: 0).

:func:`make_clip` films one artwork (one :data:`Motion` at one scale) over a safe background,
encodes it with H.264 in memory (:mod:`captureguard.sources.h264`) and keeps the per-frame truth;
:func:`run_clip` plays it through a :class:`~captureguard.guard.stream.StreamGuard` with
:func:`~captureguard.pipeline.run_guarded` and returns which frames were released.
:class:`MemoChecker` remembers every check per clip frame, so several settings compared on the
same clips re-use the whole-frame checks (they do not depend on the settings).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.region import Box
from captureguard.core.second_look import PictureRule
from captureguard.core.verdict import Verdict
from captureguard.guard.allowed import AllowedFrame
from captureguard.guard.check import Checker, Inspection
from captureguard.guard.stream import FrameChecker, StreamGuard
from captureguard.pipeline import run_guarded
from captureguard.sources import Source
from captureguard.sources.composite import Placed
from captureguard.sources.h264 import H264Bytes, encode_h264
from captureguard.sources.synthetic import ClipSource, Shot, Still

Motion = Literal["cut", "pan", "zoom_out", "zoom_in", "slide_in", "shake"]
MOTIONS: tuple[Motion, ...] = ("cut", "pan", "zoom_out", "zoom_in", "slide_in", "shake")
#: Share of the frame's area the whole artwork covers (the issue's 10-95%).
SCALES: tuple[float, ...] = (0.10, 0.20, 0.35, 0.50, 0.70, 0.95)
MIN_FRAME_SHARE = 0.10
MIN_VISIBLE = 0.60
#: Wait for slow checks instead of blocking them (file mode): results do not depend on the machine.
FILE_DEADLINE_S = 120.0

#: ``background(seconds, part)`` -> a safe shot; ``part`` numbers the shots of one clip.
Background = Callable[[float, int], Shot]


@dataclass(frozen=True)
class LeakClip:
    """One encoded clip and its truth (no file: the H.264 bytes live in memory)."""

    name: str
    artwork: str
    blocked_as_still: bool
    motion: Motion
    scale: float
    fps: float
    data: bytes = field(repr=False)
    substantial: tuple[bool, ...] = field(repr=False)
    #: Per frame: any pixel of the artwork shows (frames without it measure needless withholding).
    visible_any: tuple[bool, ...] = field(repr=False, default=())

    def source(self) -> Source:
        """A fresh source playing the clip."""
        return H264Bytes(self.data, fps=self.fps, name=self.name)


def art_shots(
    art: Still, background: Background, motion: Motion, scale: float, *, seconds: float, safe_s: float = 1.0
) -> list[Shot]:
    """Safe lead-in, the artwork moving as ``motion`` for ``seconds``, safe tail (``safe_s`` each; hard cuts)."""
    mid = ((0.5, 0.5), (0.5, 0.5))
    top = 0.95
    big, small = (top, scale) if scale < 0.9 else (top, 0.10)
    placed: dict[Motion, Placed] = {
        "cut": Placed(art, background(seconds, 1), seconds, (scale, scale), mid, shake=0.004, seed=1),
        "pan": Placed(art, background(seconds, 1), seconds, (scale, scale), ((0.3, 0.45), (0.7, 0.55))),
        "zoom_out": Placed(art, background(seconds, 1), seconds, (big, small), ((0.5, 0.5), (0.35, 0.45))),
        "zoom_in": Placed(art, background(seconds, 1), seconds, (small, big), ((0.65, 0.55), (0.5, 0.5))),
        "slide_in": Placed(art, background(seconds, 1), seconds, (scale, scale), ((1.7, 0.5), (0.5, 0.5))),
        "shake": Placed(art, background(seconds, 1), seconds, (scale, scale), mid, shake=0.05, seed=2),
    }
    return [background(safe_s, 0), placed[motion], background(safe_s, 2)]


def visibility(shots: Sequence[Shot], *, fps: float, size: tuple[int, int]) -> list[tuple[float, float]]:
    """Per output frame: ``(visible, frame_share)`` of the nude artwork (0, 0 when none shows)."""
    out: list[tuple[float, float]] = []
    for shot in shots:
        n = max(1, round(shot.seconds * fps))
        if isinstance(shot, Placed) and shot.image.unsafe:
            out += [(g.visible, g.frame_share) for g in (shot.geometry(k, n, size) for k in range(n))]
        else:
            out += [(0.0, 0.0)] * n
    return out


def substantial_frames(shots: Sequence[Shot], *, fps: float, size: tuple[int, int]) -> tuple[bool, ...]:
    """Per output frame: a nude artwork fills >= 10% of the frame with >= 60% of it in view."""
    eps = 1e-9
    return tuple(
        bool(share >= MIN_FRAME_SHARE - eps and seen >= MIN_VISIBLE - eps)
        for seen, share in visibility(shots, fps=fps, size=size)
    )


def make_clip(
    art: Still,
    *,
    blocked_as_still: bool,
    background: Background,
    motion: Motion,
    scale: float,
    seconds: float = 3.0,
    safe_s: float = 1.0,
    fps: float = 30.0,
    size: tuple[int, int] = (1280, 720),
) -> LeakClip:
    """Film ``art`` (``motion`` at ``scale``) over ``background``; encode H.264 in memory."""
    shots = art_shots(art, background, motion, scale, seconds=seconds, safe_s=safe_s)
    name = f"{art.name}|{motion}|{scale:.2f}"
    clip = ClipSource(shots, fps=fps, size=size, name=name)
    data = encode_h264((clip.frame(i).bgr for i in range(len(clip))), fps=fps)
    truth = substantial_frames(shots, fps=fps, size=size)
    if len(truth) != len(clip):
        raise AssertionError(f"truth has {len(truth)} frames, the clip {len(clip)}")
    shows = tuple(seen > 0 for seen, _ in visibility(shots, fps=fps, size=size))
    return LeakClip(name, art.name, blocked_as_still, motion, scale, fps, data, truth, shows)


@dataclass
class _Releases:
    """A sink that keeps only which frames were released (never pixels)."""

    released: list[bool] = field(default_factory=list)

    def write(self, item: AllowedFrame) -> None:
        self.released.append(item.release.released)

    def close(self) -> None:
        """Nothing to finish."""


def run_source(
    source: Source, checker: FrameChecker, settings: StreamSettings, *, deadline_s: float = FILE_DEADLINE_S
) -> list[bool]:
    """Play ``source`` through a fresh stream guard (lockstep, checks held to ``deadline_s``: by
    default long enough that the machine's speed decides nothing); per frame: released or not."""
    guard = StreamGuard(checker, settings, deadline_s=deadline_s)
    sink = _Releases()
    try:
        run_guarded(source, guard, [sink])
    finally:
        guard.close()
    return sink.released


def run_clip(
    clip: LeakClip, checker: FrameChecker, settings: StreamSettings, *, deadline_s: float = FILE_DEADLINE_S
) -> list[bool]:
    """Play ``clip`` through the guard; raises if a frame went missing in the round trip."""
    released = run_source(clip.source(), checker, settings, deadline_s=deadline_s)
    if len(released) != len(clip.substantial):
        raise AssertionError(f"{clip.name}: {len(released)} frames out, {len(clip.substantial)} in")
    return released


def clip_numbers(released: Sequence[bool], clip: LeakClip) -> dict[str, int]:
    """A clip's raw numbers for one setting: leaked (released and substantially visible), released,
    and safe frames withheld (frames showing no part of the artwork that were not released)."""
    leaked = sum(r and s for r, s in zip(released, clip.substantial, strict=True))
    safe = [r for r, v in zip(released, clip.visible_any, strict=True) if not v]
    return {"leaked": int(leaked), "released": int(sum(released)), "safe_withheld": safe.count(False)}


@dataclass
class MemoChecker:
    """A checker that remembers each inspection by ``(frame.source, frame.index, region)``.

    Whole-frame checks do not depend on the stream settings, so a benchmark comparing settings
    on the same decoded clips runs each of them once. Frames must be named per clip
    (``frame.source``) and decode to the same pixels every time (H.264 decoding is exact).
    """

    checker: Checker
    memo: dict[tuple[str, int, Box | None], Inspection] = field(default_factory=dict)

    @property
    def block_score(self) -> float:
        """The wrapped checker's block threshold."""
        return self.checker.block_score

    @property
    def region_labels(self) -> frozenset[str]:
        """The wrapped checker's blocking region labels."""
        return self.checker.region_labels

    def inspect(self, frame: Frame, *, region: Box | None = None, within_ms: float | None = None) -> Inspection:
        """The wrapped checker's inspection, computed once per frame and region (within
        ``within_ms`` the first time: the benchmarks' deadlines are long)."""
        key = (frame.source, frame.index, region)
        if key not in self.memo:
            self.memo[key] = self.checker.inspect(frame, region=region, within_ms=within_ms)
        return self.memo[key]

    def check(self, frame: Frame) -> Verdict:
        """Whole-frame verdict."""
        return self.inspect(frame).verdict

    def whole(self, source: str) -> dict[int, Inspection]:
        """Whole-frame inspections of one clip so far, by frame index."""
        return {i: v for (s, i, r), v in self.memo.items() if s == source and r is None}


@dataclass
class SecondLookMemo(MemoChecker):
    """A :class:`MemoChecker` of a checker's own looks plus each frame's second look, memoised apart.

    ``rule`` (default the checker's own, :class:`~captureguard.core.second_look.PictureRule`) decides
    when the second look runs and how it counts; :meth:`with_rule` gives another rule over the same
    memos, so a benchmark comparing rules runs each whole-frame check and each crop check once.
    A rule of another crop check than the configured one (:attr:`PictureRule.inner`: its mode and
    people input) reads the crop with :attr:`inners`' check of that key (memoised apart). Region
    checks (the stream following a block) are the checker's own, as at run time.
    """

    rule: PictureRule | None = None
    crops: dict[tuple[str, str, int, tuple[int, int, int, int]], Inspection] = field(default_factory=dict)
    #: the checker without its second look (one object: its cascade schedule runs on across checks)
    own: Checker | None = None
    #: no second look at all (the checker's own looks only)
    off: bool = False
    #: the check run on the crop for a rule of another crop check than the configured one
    #: (:attr:`PictureRule.inner` -> checker)
    inners: Mapping[str, Checker] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.own is None:
            self.own = replace(self.checker, picture=None, hands=None)

    def with_rule(self, rule: PictureRule | None, *, off: bool = False) -> SecondLookMemo:
        """The same memos under another rule (None: the checker's own; ``off``: none)."""
        return SecondLookMemo(self.checker, self.memo, rule, self.crops, self.own, off, self.inners)

    def clear(self) -> None:
        """Forget every memo (a new clip)."""
        self.memo.clear()
        self.crops.clear()

    def inspect(self, frame: Frame, *, region: Box | None = None, within_ms: float | None = None) -> Inspection:
        """The checker's inspection with the second look under :attr:`rule`, then its hand pass
        (:meth:`Checker.explain_hands`, on the painted frame the same look), each part computed
        once; the second look held to ``within_ms`` on the looks' recorded times."""
        seen = self._looked(frame, region, within_ms)
        if region is not None or self.checker.hands is None:
            return seen
        return self.checker.explain_hands(
            frame, seen, recheck=lambda painted, left: self._looked(painted, None, left), budget_ms=within_ms
        )

    def _looked(self, frame: Frame, region: Box | None, within_ms: float | None) -> Inspection:
        """The checker's own look (memoised) and its second look under :attr:`rule`."""
        key = (frame.source, frame.index, region)
        if key not in self.memo:
            assert self.own is not None  # __post_init__
            self.memo[key] = self.own.inspect(frame, region=region)
        seen = self.memo[key]
        if region is not None or seen.verdict.failed or self.off:
            return seen

        inner = (self.rule or self.checker.picture.rule).inner if self.checker.picture is not None else ""

        def crop_check(f: Frame, window: tuple[int, int, int, int]) -> Inspection:
            at = (inner, f.source, f.index, window)
            if at not in self.crops:
                self.crops[at] = self.checker.picture_inspection(f, window, inner=self.inners.get(inner))
            return self.crops[at]

        return self.checker.look_again(frame, seen, self.rule, crop_check=crop_check, budget_ms=within_ms)

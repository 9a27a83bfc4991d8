"""Live check time on everyday and on nude-heavy video: the cascade with and without running ahead.

Every third frame of the 35 safe eval videos (and GIFs), and of ``bench/stream.py``'s 720p clip
(bundled stills and safe videos with nude paintings cut in, panned over and slid in), is checked
with the shipped live checker, in order, as a stream guard would: once with ``run_ahead`` (after a
check whose first stage escalated, NudeNet runs alongside the next first stage) and once without.
The two are interleaved video by video, with a third variant: the live check without its second
look (since v2.10: the photo check of the located picture when the live check is unsure, its cost),
and, when the configured second look is not v2.10's (say with ``refine``: a tighter crop, the
picture located inside the first one, read when the first does not block), a fourth: v2.10's.
Reported: check time median / p90 / p99, the share of checks in which NudeNet ran (escalated,
scheduled every 10th, or run ahead), in which the second look ran, in which it read a tighter
crop and in which it left the tighter crop out on time (``refine_within_ms``), and that the verdicts
with and without running ahead agree (they must: the same detectors on the same frames; checks in
which the time limit decided a tighter crop are left out of that comparison, since it depends on
each run's own timings), and the share of checks in which the hand pass ran (a whole frame not
allowed) and in which it cleared the frame (``HANDS_EXPLAINED``).

Usage::

    .venv/bin/python bench/cascade.py [--step 3] [--videos N] [--detectors FILE] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from tqdm import tqdm

import stream_lib as sl  # bench/ is on sys.path when this file runs as a script
from captureguard.core.frame import Frame
from captureguard.core.hands import HANDS_EXPLAINED, HANDS_TIMING
from captureguard.core.second_look import SKIPPED_TIGHTER, PictureRule
from captureguard.guard.check import Checker, PictureCheck
from captureguard.sources.synthetic import ClipSource
from captureguard.sources.video import AvFileSource

RESULTS = Path(__file__).resolve().parent / "results"
#: v2.10's second look (the photo check on the located picture, no tighter crop), measured beside the shipped one
V210_LOOK = PictureRule("photo", from_score=0.05, min_share=0.2, offset=1.39)
V210_NAME = "run ahead, v2.10's second look (no tighter crop)"
NO_HANDS = "run ahead, no hand pass"


def frames_of(path: Path, step: int) -> list[Frame]:
    """Every ``step``-th frame of a video file."""
    source = AvFileSource(path)
    return [f for i, f in enumerate(source) if i % step == 0]


@dataclasses.dataclass
class Tally:
    """A variant's checks of some frames, in order."""

    ms: list[float] = dataclasses.field(default_factory=list)  # per check
    escalated: int = 0  # checks in which NudeNet ran
    second: int = 0  # checks with a second look
    tighter: int = 0  # checks whose second look read a tighter crop
    late: int = 0  # checks whose tighter crop was left out on time (``refine_within_ms``)
    hands: int = 0  # checks in which the hand pass ran
    cleared: int = 0  # ...and cleared the frame
    decisions: list[str] = dataclasses.field(default_factory=list)
    timed: list[bool] = dataclasses.field(default_factory=list)  # per check: the time limit decided a read

    def add(self, other: Tally) -> None:
        self.ms += other.ms
        self.escalated += other.escalated
        self.second += other.second
        self.tighter += other.tighter
        self.late += other.late
        self.hands += other.hands
        self.cleared += other.cleared
        self.decisions += other.decisions
        self.timed += other.timed


def run(checker: Checker, frames: list[Frame]) -> Tally:
    """Check ``frames`` in order."""
    out = Tally()
    limited = checker.picture is not None and checker.picture.rule.refine_within_ms > 0
    for f in frames:
        t0 = time.perf_counter()
        v = checker.check(f)
        out.ms.append((time.perf_counter() - t0) * 1e3)
        out.escalated += any(k.startswith("detect:nudenet") for k in v.timings_ms)
        out.second += any(k.startswith("picture:") for k in v.timings_ms)
        read = any(k.startswith("picture2:") for k in v.timings_ms)
        skipped = SKIPPED_TIGHTER in v.timings_ms
        out.tighter += read
        out.late += skipped
        out.hands += HANDS_TIMING in v.timings_ms
        out.cleared += any(r.code == HANDS_EXPLAINED for r in v.reasons)
        out.decisions.append(f"{v.decision.value}:{v.score:.6f}")
        out.timed.append(limited and (read or skipped))
    return out


def agreement(a: Tally, b: Tally) -> str:
    """Whether two variants that must decide alike did, leaving out checks in which the second look's
    time limit decided whether a tighter crop was read (that depends on each run's timings)."""
    pairs = [(x, y) for x, y, ta, tb in zip(a.decisions, b.decisions, a.timed, b.timed, strict=True) if not (ta or tb)]
    same = all(x == y for x, y in pairs)
    left = len(a.decisions) - len(pairs)
    return ("yes" if same else "**no**") + (f" (of {len(pairs)}; {left} timed)" if left else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step", type=int, default=3, help="check every Nth frame (default 3)")
    ap.add_argument("--videos", type=int, default=0, help="only the first N safe videos (0: all)")
    ap.add_argument("--seconds", type=float, default=12.0, help="nude-heavy clip length (default 12)")
    ap.add_argument("--detectors", type=Path, help="a detectors file in place of the shipped one (a setting measured)")
    ap.add_argument(
        "--out", type=Path, default=RESULTS / "cascade.md", help="the report (default bench/results/cascade.md)"
    )
    args = ap.parse_args()
    on = Checker.create(mode="live", detectors_path=args.detectors)
    assert on.first is not None
    off = dataclasses.replace(on, first=dataclasses.replace(on.first, run_ahead=False))
    alone = dataclasses.replace(on, picture=None)  # the same detector objects, no second look
    variants = {"run ahead": on, "no run ahead": off, "run ahead, no second look": alone}
    if on.picture is not None and on.picture.rule != V210_LOOK:  # v2.10's look beside the shipped one
        inner = (
            on.picture.checker if on.picture.rule.inner == V210_LOOK.inner else Checker.create(mode="photo", reuse=on)
        )
        variants[V210_NAME] = dataclasses.replace(on, picture=PictureCheck(V210_LOOK, inner))
    if on.hands is not None:
        variants[NO_HANDS] = dataclasses.replace(on, hands=None)
    videos = sl.VIDEOS[: args.videos or None]
    nude, safe = sl.stills()
    clip = ClipSource(sl.shots(args.seconds, nude, safe), fps=30, size=sl.SIZES["720p"], name="720p")
    sets = {"safe eval videos": [frames_of(p, args.step) for p in videos]}
    sets["bundled clip (nude paintings cut, panned, slid in), 720p"] = [
        [clip.frame(i) for i in range(0, len(clip), args.step)]
    ]
    lines = [
        "# Live cascade: check time with and without running ahead",
        "",
        f"`python bench/cascade.py --step {args.step}{f' --detectors {args.detectors}' if args.detectors else ''}`"
        f" ({time.strftime('%Y-%m-%d %H:%M')}, 2 CPU cores, "
        f"{'live checker of that file' if args.detectors else 'shipped live checker'}, child profile;"
        " the variants interleaved per video)",
        "",
        "| frames | variant | checks | NudeNet ran | second look ran | tighter crop read | tighter crop left out "
        "(time) | hand pass ran | hands cleared | median ms | p90 ms | p99 ms | verdicts agree |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    bar = tqdm(total=sum(len(v) for v in sets.values()), desc="videos", unit="video")
    for name, groups in sets.items():
        got = {v: Tally() for v in variants}
        for frames in groups:
            for variant, checker in variants.items():
                checker._run_ahead = False  # each video starts cold
                got[variant].add(run(checker, frames))
            bar.update()
        agree = agreement(got["run ahead"], got["no run ahead"])
        other_looks = ("run ahead, no second look", V210_NAME, NO_HANDS)  # other verdicts by design
        for variant, t in got.items():
            q, n = sorted(t.ms), max(1, len(t.ms))
            lines.append(
                f"| {name} | {variant} | {len(t.ms)} | {t.escalated} ({100 * t.escalated / n:.1f}%) | "
                f"{t.second} ({100 * t.second / n:.1f}%) | {t.tighter} ({100 * t.tighter / n:.1f}%) | "
                f"{t.late} ({100 * t.late / n:.1f}%) | "
                f"{t.hands} ({100 * t.hands / n:.1f}%) | {t.cleared} ({100 * t.cleared / n:.1f}%) | "
                f"{sl.quantile(q, 0.5):.1f} | {sl.quantile(q, 0.9):.1f} | {sl.quantile(q, 0.99):.1f} | "
                f"{agree}{' (n/a)' if variant in other_looks else ''} |"
            )
    bar.close()
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

"""How the stream guard's hysteresis (K safe checks over T seconds) trades leaks for shown frames.

Every frame of a camera-like clip (``stream_lib.shots``: safe video and stills with nude
paintings cut, panned and slid in) is checked once with the shipped live check; those verdicts
are then replayed through the stream guard for each (K, T), in file mode at max_gap 1, so the
grid costs one pass of the model. Unsafe = a frame the (identical) photo check blocks. Prints a
Markdown table and writes ``bench/results/hysteresis.md``.

Usage::

    .venv/bin/python bench/hysteresis.py --seconds 40,90
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

import stream_lib as sl
from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Decision, Verdict
from captureguard.guard.check import Checker
from captureguard.guard.stream import StreamGuard
from captureguard.sources.synthetic import ClipSource
from captureguard.testing import MemorySink

RESULTS = Path(__file__).resolve().parent / "results"
GRID_K = (1, 2, 3, 4)
GRID_T = (0.0, 0.5, 1.0, 2.0)


@dataclass
class Replay:
    """A checker that returns each frame's precomputed verdict."""

    verdicts: list[Verdict]

    def check(self, frame: Frame) -> Verdict:
        return self.verdicts[frame.index]


def replay(clip: ClipSource, verdicts: list[Verdict], k: int, t: float) -> set[int]:
    """Released frame indices for one (K, T)."""
    sink = MemorySink()
    guard = StreamGuard(Replay(verdicts), StreamSettings(max_gap=1, reopen_checks=k, reopen_s=t), deadline_s=5)
    for i in range(len(clip)):
        for item in guard.process(clip.frame(i)):
            sink.write(item)
    for item in guard.finish():
        sink.write(item)
    guard.close()
    return {item.frame.index for item in sink.items if item.release.released}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", default="40,90", help="clip lengths, comma-separated (default 40,90)")
    args = parser.parse_args()
    lines = [
        "# Stream guard hysteresis: K safe checks spanning T seconds before frames are shown again",
        "",
        f"`python bench/hysteresis.py --seconds {args.seconds}` ({time.strftime('%Y-%m-%d')}); clips at 15 fps, "
        "640x360; max_gap 1, file mode. Unsafe = shows part of a nude painting and the check blocks it.",
    ]
    for seconds in (float(s) for s in args.seconds.split(",")):
        lines += table(seconds)
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hysteresis.md").write_text(text, encoding="utf-8")


def table(seconds: float) -> list[str]:
    """Check every frame of one clip once, then replay the grid of (K, T)."""
    nude, safe = sl.stills()
    clip = ClipSource(sl.shots(seconds, nude, safe), fps=15, size=(640, 360), name="hysteresis").prerender()
    live = Checker.create(mode="live")
    verdicts = [live.check(clip.frame(i)) for i in tqdm(range(len(clip)), desc="checking every frame", unit="frame")]
    unsafe = {i for i, v in enumerate(verdicts) if clip.truth[i] and v.decision is not Decision.ALLOW}
    clean = [i for i in range(len(clip)) if not clip.truth[i]]
    lines = [
        "",
        f"## {seconds:g} s clip: {len(clip)} frames, {sum(clip.truth)} show part of a nude painting, "
        f"{len(unsafe)} unsafe",
        "",
        "| K checks | T seconds | unsafe frames released | clean frames released | painting frames released |",
        "|---:|---:|---:|---:|---:|",
    ]
    for k in GRID_K:
        for t in GRID_T:
            shown = replay(clip, verdicts, k, t)
            painted = sum(1 for i in shown if clip.truth[i])
            share = sum(i in shown for i in clean) / len(clean)
            lines.append(f"| {k} | {t:g} | {len(shown & unsafe)} | {share:.1%} | {painted} |")
    return lines


if __name__ == "__main__":
    main()

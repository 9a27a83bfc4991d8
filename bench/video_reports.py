"""Withheld time per safe video from ``captureguard video --report`` files, runs side by side.

The benchmarks that replay checks (``bench/stream_calibrate.py``, ``bench/leaks.py`` by default)
give each check minutes, so the machine's speed decides nothing there. ``captureguard video`` holds
each check to its deadline (``--deadline-ms``, 0.5 s): on a slower machine a check that overruns
blocks as a timeout and shuts the stream. This reads the JSON reports of such runs (counters, block
reasons and times; no pixels) and prints, per video where any run withheld something, the seconds
withheld per minute, the timeouts and the frames withheld because the second look did not fit
(``PICTURE_LATE``), then the totals. Run the guard first, one directory per run, e.g.::

    for f in ../shared/data/eval/negative/video/*; do
        captureguard video --no-progress --report RUN/$(basename $f).json $f /tmp/out.mp4
    done
    python bench/video_reports.py v2.10=RUN_A withhold=RUN_B
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from captureguard.core.second_look import PICTURE_LATE


@dataclass(frozen=True)
class Run:
    """One video's report: frames in, placeholders, its frame rate, timeouts and late looks."""

    frames: int
    withheld: int
    fps: float
    timeouts: int
    late: int
    checks: int

    @property
    def minutes(self) -> float:
        return self.frames / self.fps / 60.0

    @property
    def withheld_s(self) -> float:
        return self.withheld / self.fps


def read(path: Path) -> Run:
    """A ``captureguard video --report`` file."""
    doc = json.loads(path.read_text())
    stats = doc["stats"]
    first = Counter(b["reasons"][0] for b in doc["blocks"] if b["reasons"])
    return Run(
        frames=int(stats["frames_in"]),
        withheld=int(stats["placeholders"]) + int(stats["dropped"]),
        fps=float(doc["fps"] or 25.0),
        timeouts=first.get("timeout", 0),
        late=first.get(PICTURE_LATE, 0),
        checks=int(stats["checks"]),
    )


def table(runs: dict[str, dict[str, Run]]) -> str:
    """The markdown table and totals of ``runs`` (name -> video -> report)."""
    names = list(runs)
    videos = sorted({v for r in runs.values() for v in r})
    lines = [
        "| video | " + " | ".join(f"{n}: s/min withheld, timeouts, looks left out" for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for video in videos:
        got = [runs[n].get(video) for n in names]
        if not any(r is not None and r.withheld for r in got):
            continue
        cells = ["-" if r is None else f"{r.withheld_s / r.minutes:.1f}, {r.timeouts}, {r.late}" for r in got]
        lines.append(f"| {video} | " + " | ".join(cells) + " |")
    lines.append("")
    for name in names:
        rs = list(runs[name].values())
        withheld, minutes = sum(r.withheld_s for r in rs), sum(r.minutes for r in rs)
        lines.append(
            f"- **{name}**: {len(rs)} videos, {withheld:.1f} s withheld of {minutes:.2f} min = "
            f"**{withheld / max(minutes, 1e-9):.2f} s/min**; {sum(r.timeouts for r in rs)} timeouts and "
            f"{sum(r.late for r in rs)} looks left out in {sum(r.checks for r in rs)} checks"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="NAME=DIR: a directory of `captureguard video --report` JSON files")
    args = ap.parse_args()
    runs: dict[str, dict[str, Run]] = {}
    for spec in args.runs:
        name, _, folder = spec.partition("=")
        if not folder:
            ap.error(f"a run is NAME=DIR, got {spec!r}")
        files = sorted(Path(folder).glob("*.json"))
        if not files:
            ap.error(f"no report files in {folder}")
        runs[name] = {f.name.removesuffix(".json"): read(f) for f in files}
    print(table(runs))


if __name__ == "__main__":
    main()

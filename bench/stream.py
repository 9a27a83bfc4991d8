"""Stream guard benchmark: real time on 2 cores, leaks against ground truth, false blocks, scene cuts.

1. **Real time**: a clip built from the bundled stills and the safe eval videos, with nude
   paintings cut in, panned over and slid in, is played on its 30 fps frame clock (a camera: a
   slow consumer makes it skip frames, never queue them) through ``run_guarded`` with the shipped
   live checker and ``StreamSettings(schedule="latest", max_gap=g)`` into an H.264 MP4 (``Mp4Sink``).
   Reported: output fps, frames released / placeholder / skipped, added latency p50/p99, checks
   per second, and unsafe frames released. *Unsafe* = the frame shows part of a nude painting
   (geometric truth) **and** the photo check (``mode="photo"``) blocks that source frame.
2. **Side by side**: fixed-rate sampling (2 fps; one check per 6 s), each sample's verdict
   applying until the next sample, on the same clips.
3. **False blocks** on the safe eval videos (file mode, shipped settings).
4. **Scene-cut calibration**: thumbnail differences frame to frame (safe videos) vs between stills.

Usage::

    .venv/bin/python bench/stream.py --seconds 12 --sizes 720p,1080p
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

import stream_lib as sl  # bench/ is on sys.path when this file runs as a script
from captureguard.guard.check import Checker
from captureguard.sources.synthetic import ClipSource

RESULTS = Path(__file__).resolve().parent / "results"
GAPS = (0, 1, 2, 3)
#: (size, frames, frames showing a painting, unsafe frames, {sampler: (unsafe released, clean share)})
Side = tuple[str, int, int, int, dict[str, tuple[int, float]]]


def main() -> None:
    """Run every part and write ``bench/results/stream.md`` and ``stream.png``."""
    args = _args()
    live, photo = Checker.create(mode="live"), Checker.create(mode="photo")
    nude, safe = sl.stills()
    lines = [
        "# Stream guard benchmark",
        "",
        f"`python bench/stream.py --seconds {args.seconds:g} --sizes {args.sizes}` "
        f"({time.strftime('%Y-%m-%d')}, 2 CPU cores, live checker, profile child)",
        "",
    ]
    runs, sides = [], []
    bar = tqdm(total=len(args.sizes.split(",")) * (len(GAPS) + 2), desc="stream bench", unit="step")
    for size in args.sizes.split(","):
        clip = ClipSource(sl.shots(args.seconds, nude, safe), fps=30, size=sl.SIZES[size], name=size, paced=True)
        truth = sl.ground_truth(clip, photo)
        bar.update()
        for gap in GAPS:
            runs.append(sl.live_run(clip, truth, live, size=size, max_gap=gap))
            bar.update()
        sides.append((size, len(clip), sum(truth.shows), len(truth.unsafe), _samplers(clip, truth, live)))
        bar.update()
    bar.close()
    lines += _realtime_table(runs) + _side_table(sides, runs)
    fb = sl.false_blocks(live)
    motion, cuts = sl.motion_differences(), sl.cut_differences()
    lines += _false_block_table(fb) + _scene_table(motion, cuts)
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stream.md").write_text(text, encoding="utf-8")
    _plot(runs, sides, motion, cuts, RESULTS / "stream.png")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="clip length in seconds (default 12)")
    parser.add_argument("--sizes", default="720p,1080p", help="comma-separated: 720p,1080p")
    return parser.parse_args()


def _samplers(clip: ClipSource, truth: sl.Truth, live: Checker) -> dict[str, tuple[int, float]]:
    return {"2 fps": sl.sampled(clip, truth, live, 0.5), "1 per 6 s": sl.sampled(clip, truth, live, 6.0)}


def _realtime_table(runs: list[sl.LiveRun]) -> list[str]:
    out = [
        "## Real time: 30 fps clip on its frame clock -> live guard -> H.264 MP4",
        "",
        "| size | max_gap | output fps | released | placeholder | skipped by source | dropped | latency p50 ms "
        "| latency p99 ms | checks/s | check p50 ms | unsafe released (unchecked) | clean frames released |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        s = r.stats
        out.append(
            f"| {r.size} | {r.max_gap} | {r.written / r.wall_s:.1f} | {s['released']} | {s['placeholders']} | "
            f"{r.skipped} | {s['dropped']} | {s['latency_ms_p50']} | {s['latency_ms_p99']} | "
            f"{s['checks'] / r.wall_s:.1f} | {s['check_ms_p50']} | **{r.unsafe_released}** ({r.unsafe_covered}) "
            f"| {r.clean_released:.0%} |"
        )
    return [*out, ""]


def _side_table(sides: list[Side], runs: list[sl.LiveRun]) -> list[str]:
    out = [
        "## Side by side on the same clips: unsafe frames released",
        "",
        "| size | frames | show a painting | unsafe (photo check) | ours, max_gap 1 | 2 fps sampling "
        "| 1 check per 6 s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, n, shows, unsafe, sam in sides:
        ours = next(r for r in runs if r.size == size and r.max_gap == 1)
        cells = " | ".join(f"{u} ({c:.0%} clean released)" for u, c in sam.values())
        out.append(
            f"| {size} | {n} | {shows} | {unsafe} | **{ours.unsafe_released}** ({ours.clean_released:.0%}) | {cells} |"
        )
    return [*out, ""]


def _false_block_table(rows: list[tuple[str, int, int, float]]) -> list[str]:
    out = [
        "## False blocks on the safe eval videos (file mode, shipped settings)",
        "",
        "| video | frames | placeholder frames | blocked s per minute |",
        "|---|---:|---:|---:|",
    ]
    for name, frames, ph, _fps in rows:
        out.append(f"| {name} | {frames} | {ph} | {60 * ph / max(1, frames):.2f} |")
    total_f, total_p = sum(r[1] for r in rows), sum(r[2] for r in rows)
    out.append(f"| **all** | {total_f} | {total_p} | **{60 * total_p / max(1, total_f):.2f}** |")
    return [*out, ""]


def _scene_table(motion: list[float], cuts: list[float]) -> list[str]:
    q = sl.quantile
    return [
        "## Scene-cut calibration (thumbnail difference; default threshold 0.12)",
        "",
        "| set | pairs | p50 | p99 | max | min | p1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| motion, frame to frame in the safe videos | {len(motion)} | {q(motion, 0.5):.3f} | {q(motion, 0.99):.3f} "
        f"| {max(motion):.3f} | {min(motion):.3f} | {q(motion, 0.01):.3f} |",
        f"| cuts, between different stills | {len(cuts)} | {q(cuts, 0.5):.3f} | {q(cuts, 0.99):.3f} "
        f"| {max(cuts):.3f} | {min(cuts):.3f} | {q(cuts, 0.01):.3f} |",
        "",
        f"Motion above 0.12: {sum(d > 0.12 for d in motion)} of {len(motion)}; "
        f"cuts at or below 0.12: {sum(d <= 0.12 for d in cuts)} of {len(cuts)}.",
        "",
    ]


def _plot(runs: list[sl.LiveRun], sides: list[Side], motion: list[float], cuts: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(16, 4.5))
    for size in dict.fromkeys(r.size for r in runs):
        rs = [r for r in runs if r.size == size]
        a.plot([r.max_gap for r in rs], [r.stats["latency_ms_p99"] for r in rs], "o-", label=f"{size} p99")
        a.plot([r.max_gap for r in rs], [r.stats["latency_ms_p50"] for r in rs], "o--", label=f"{size} p50")
    a.axhline(100, color="grey", lw=0.8)
    a.set(xlabel="max_gap (frames)", ylabel="added latency (ms)", title="Live guard latency, 30 fps")
    a.legend()
    labels = ["ours (max_gap 1)", "2 fps sampling", "1 per 6 s"]
    for k, (size, *_rest, sam) in enumerate(sides):
        ours = next(r.unsafe_released for r in runs if r.size == size and r.max_gap == 1)
        b.bar([x + 0.4 * k for x in range(3)], [ours, *(u for u, _ in sam.values())], width=0.4, label=size)
    b.set_xticks([x + 0.2 for x in range(3)], labels)
    b.set(ylabel="unsafe frames released", title="Same clips: unsafe frames released")
    b.legend()
    c.hist(motion, bins=60, alpha=0.6, label="motion (safe videos)", density=True)
    c.hist(cuts, bins=60, alpha=0.6, label="cuts (different stills)", density=True)
    c.axvline(0.12, color="k", lw=0.8)
    c.set(xlabel="thumbnail difference", title="Scene-cut threshold 0.12")
    c.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()

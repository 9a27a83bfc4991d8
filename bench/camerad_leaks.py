"""Leak clips and safe videos through camerad in real time: what apps on the camera and on the
held camera get.

    python bench/camerad_leaks.py                       # every leak clip, every safe video (~15 min)
    python bench/camerad_leaks.py --part videos --out /tmp/x.md

Each leak clip of ``bench/leaks.py`` (a dev positive filmed over safe video at one motion and
scale, H.264) plays in ``camerad``'s ``serve`` on its frame clock (``PacedSource``: the live
schedule, the real check times of this machine), guarded by the shipped live models, with one
reader process on each socket (as ``publish`` is): ``frames.sock`` (the camera) and
``frames-held.sock`` (the held camera, ``record_hold_s`` 0.5 s). Counted per socket from the frame
headers (frame index and release; no pixels are kept): released frames in which the artwork is
substantially visible (>= 10% of the frame, >= 60% of it in view), split by whether the photo
check blocks the artwork as a still, and safe frames withheld (frames that show no part of the
artwork). Each safe video of the manifest plays the same way: seconds withheld per minute on each
socket.

Two caveats, printed in the report. The shipped models were fitted on these artworks, so the
clips are in-sample: the held-out leak counts come from ``bench/stream_calibrate.py --held-out shipped``.
And it is timed: the machine's speed and load decide which frames get checked, so run nothing
beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from captureguard.chokepoint.camerad import PacedSource, ServeOptions, serve
from captureguard.chokepoint.framesock import FrameServer
from captureguard.cli import chokepoint as cli
from captureguard.evaluation.leaks import LeakClip
from captureguard.guard.check import Checker
from captureguard.sources import Source
from captureguard.sources.video import AvFileSource
from leaks import build, clip_arguments, manifest, wanted  # bench/leaks.py: the same clips

OUT = Path(__file__).resolve().parent / "results" / "camerad_leaks.md"
#: A reader process: one ``index shown`` line per frame it receives (no pixels kept).
READER = """
import sys
from captureguard.chokepoint.framesock import SHOWN, FrameClient
with FrameClient(sys.argv[1], connect_timeout_s=5) as client:
    while (item := client.receive(timeout_s=30)) is not None:
        print(item.header.index, int(item.header.release in SHOWN))
"""
SOCKETS = ("camera", "held")


@dataclass
class ClipRun:
    """One clip through camerad: per socket, the frames that arrived as ``(index, shown)``."""

    clip: LeakClip
    got: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)
    skipped: int = 0

    def leaked(self, socket: str) -> int:
        """Released frames in which the artwork is substantially visible."""
        return sum(shown and self.clip.substantial[i] for i, shown in self.got[socket])

    def released(self, socket: str) -> int:
        return sum(shown for _, shown in self.got[socket])

    def safe_withheld(self, socket: str) -> int:
        """Frames showing no part of the artwork that arrived as placeholders."""
        return sum(not shown and not self.clip.visible_any[i] for i, shown in self.got[socket])


Arrivals = dict[str, list[tuple[int, bool]]]


def serve_once(
    source: Source, checker: Checker, hold_s: float, max_gap: int = 1
) -> tuple[Arrivals, dict[str, float], int]:
    """Play ``source`` on its frame clock through camerad's ``serve`` into both sockets; read both
    until end of stream. Returns per socket ``(frame index, shown)``, the guard's stats and the
    frames the paced source skipped."""
    work = Path(tempfile.mkdtemp(prefix="cg-camerad-leaks-"))
    servers = {name: FrameServer(str(work / f"{name}.sock")) for name in SOCKETS}
    settings = cli.CameradSettings(held_socket=servers["held"].path, record_hold_s=hold_s, max_gap=max_gap)
    paced = PacedSource(source)
    # Each reader is a process of its own, as publish is: in-process readers would share camerad's
    # GIL and CPU time accounting and slow its checks.
    readers = {
        name: subprocess.Popen([sys.executable, "-c", READER, s.path], stdout=subprocess.PIPE, text=True)
        for name, s in servers.items()
    }
    deadline = time.monotonic() + 30
    while not all(s.clients for s in servers.values()):  # both connected before the first frame
        if time.monotonic() > deadline:
            raise SystemExit("the reader processes did not connect in 30 s")
        time.sleep(0.02)
    try:
        reports = serve(
            lambda: paced,
            cli.guard_factory(settings, checker),
            servers["camera"],
            held=servers["held"],
            options=ServeOptions(on_demand=True),
        )
    finally:
        for s in servers.values():
            s.close()  # readers get end of stream
    got: Arrivals = {}
    for name, proc in readers.items():
        out, _ = proc.communicate(timeout=60)
        got[name] = [(int(i), shown == "1") for i, shown in (line.split() for line in out.splitlines())]
    return got, (reports[0].stats if reports else {}), paced.skipped


def run_clip(clip: LeakClip, checker: Checker, hold_s: float, max_gap: int = 1) -> ClipRun:
    """One leak clip through camerad."""
    got, stats, skipped = serve_once(clip.source(), checker, hold_s, max_gap)
    return ClipRun(clip, got, stats, skipped)


@dataclass
class VideoRun:
    """One safe video through camerad: frames, and per socket the frames withheld."""

    name: str
    fps: float
    frames: int
    withheld: dict[str, int]
    skipped: int
    stats: dict[str, float] = field(default_factory=dict)

    def per_minute(self, socket: str) -> float:
        """Seconds withheld per minute of video."""
        return self.withheld[socket] / self.fps / max(self.frames / self.fps / 60, 1e-9)


def run_video(path: Path, checker: Checker, hold_s: float, max_gap: int = 1) -> VideoRun:
    """One safe video through camerad (frames the paced source skipped count as withheld: never shown)."""
    source = AvFileSource(path)
    fps = float(source.fps or 25.0)
    got, stats, skipped = serve_once(source, checker, hold_s, max_gap)
    frames = len(got["camera"]) + skipped
    withheld = {k: sum(not shown for _, shown in got[k]) + skipped for k in SOCKETS}
    return VideoRun(path.name, fps, frames, withheld, skipped, stats)


def report(
    runs: list[ClipRun], vids: list[VideoRun], args: argparse.Namespace, started: str, load: tuple[float, ...]
) -> str:
    lines = [
        "# Leak clips and safe videos through camerad in real time: the camera and the held camera",
        "",
        f"`python bench/camerad_leaks.py {args.cli}` ({started} UTC, 2 CPU cores, load average "
        f"{load[0]:.2f} at the end; the shipped live models, `child`; `max_gap` {args.max_gap}; held camera: "
        f"`record_hold_s` {args.hold_s:g}).",
        "",
        "**Timed**: the machine decides which frames get checked (run nothing beside it).",
    ]
    if runs:
        lines += ["", *clip_lines(runs)]
    if vids:
        lines += ["", *video_lines(vids)]
    return "\n".join(lines) + "\n"


def clip_lines(runs: list[ClipRun]) -> list[str]:
    blocked = [r for r in runs if r.clip.blocked_as_still]
    other = [r for r in runs if not r.clip.blocked_as_still]

    def total(rs: list[ClipRun], what: str, socket: str) -> int:
        return sum(getattr(r, what)(socket) for r in rs)

    checks = [r.stats.get("check_ms_p50", 0.0) for r in runs if r.stats]
    lines = [
        "## Leak clips",
        "",
        "**In-sample**: the shipped models were fitted on these artworks; held-out counts come from "
        "`bench/stream_calibrate.py --held-out shipped`.",
        "",
        "| | clips | frames (arrived, camera / held) | substantially visible | leaked, camera "
        "| leaked, held camera | released, camera / held | showing no part of the artwork "
        "| of those withheld, camera / held |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, rs in (("artwork blocked as a still", blocked), ("other artworks", other)):
        if not rs:
            continue
        frames = sum(len(r.clip.substantial) for r in rs)
        arrived = " / ".join(str(sum(len(r.got[k]) for r in rs)) for k in SOCKETS)
        substantial = sum(sum(r.clip.substantial) for r in rs)
        safe = sum(r.clip.visible_any.count(False) for r in rs)
        lines.append(
            f"| {label} | {len(rs)} | {frames} ({arrived}) | {substantial} | **{total(rs, 'leaked', 'camera')}** "
            f"| **{total(rs, 'leaked', 'held')}** | {total(rs, 'released', 'camera')} / "
            f"{total(rs, 'released', 'held')} | {safe} | {total(rs, 'safe_withheld', 'camera')} / "
            f"{total(rs, 'safe_withheld', 'held')} |"
        )
    lines += [
        "",
        f"Checks: {sum(int(r.stats.get('checks', 0)) for r in runs)}, the median of the clips' check p50 "
        f"{statistics.median(checks):.0f} ms, {sum(int(r.stats.get('failed_checks', 0)) for r in runs)} failed "
        f"or over the 0.5 s deadline (they block); frames the paced source skipped (late by a whole frame, "
        f"as a camera moves on): {sum(r.skipped for r in runs)}.",
        "",
        "Clips that leaked to either socket:",
        "",
        "| clip | blocked as a still | leaked, camera | leaked, held camera | checks | check p50 ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in runs:
        if r.leaked("camera") or r.leaked("held"):
            name = r.clip.name.replace("|", " / ")
            lines.append(
                f"| {name} | {'yes' if r.clip.blocked_as_still else 'no'} | {r.leaked('camera')} "
                f"| {r.leaked('held')} | {r.stats.get('checks', 0)} | {r.stats.get('check_ms_p50', 0)} |"
            )
    return lines


def video_lines(vids: list[VideoRun]) -> list[str]:
    minutes = sum(v.frames / v.fps for v in vids) / 60

    def rate(socket: str) -> float:
        return sum(v.withheld[socket] / v.fps for v in vids) / max(minutes, 1e-9)

    lines = [
        "## Safe videos",
        "",
        f"{len(vids)} safe videos of the manifest, {minutes:.1f} min, each played once on its frame clock. "
        "Withheld = arrived as a placeholder, or skipped by the paced source (never shown). The lockstep "
        "figure of `bench/stream_calibrate.py` (2.25 s/min live, 2.39 held) counts only what the checks "
        "decide; here the machine's speed adds the frames no check could cover in time.",
        "",
        "| | seconds withheld per minute, camera | held camera |",
        "|---|---:|---:|",
        f"| all {len(vids)} videos | **{rate('camera'):.1f}** | **{rate('held'):.1f}** |",
        "",
        "| video | fps | frames | withheld s/min, camera | held camera | skipped | checks | not allowed "
        "| check p50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in vids:
        g = v.stats
        lines.append(
            f"| {v.name} | {v.fps:g} | {v.frames} | {v.per_minute('camera'):.1f} | {v.per_minute('held'):.1f} "
            f"| {v.skipped} | {g.get('checks', 0)} | {g.get('blocked_checks', 0)} | {g.get('check_ms_p50', 0)} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    clip_arguments(ap)
    ap.add_argument("--part", choices=("all", "clips", "videos"), default="all", help="run only part")
    ap.add_argument("--hold-s", type=float, default=0.5, help="the held socket's hold (camerad's record_hold_s)")
    ap.add_argument("--max-gap", type=int, default=1, help="camerad's max_gap (default 1, as shipped)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    args.only_blocked = False
    args.cli = " ".join(  # the command line, for the report
        f"--{k.replace('_', '-')} {v}"
        for k, v in (
            ("part", args.part),
            ("limit", args.limit),
            ("clips", args.clips),
            ("videos", args.videos),
            ("hold_s", args.hold_s),
            ("max_gap", args.max_gap),
        )
        if v
        and not (k == "hold_s" and v == 0.5)
        and not (k == "part" and v == "all")
        and not (k == "max_gap" and v == 1)
    )
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    rows, videos = manifest()
    rows = rows[: args.limit] if args.limit else rows
    live = Checker.create(mode="live", profile="child")
    runs: list[ClipRun] = []
    if args.part in ("all", "clips"):
        photo = Checker.create(mode="photo", profile="child")
        for i, row in enumerate(rows):
            if not wanted(row, args):
                continue
            clip = build(i, row, videos, photo, args)
            assert clip is not None
            run = run_clip(clip, live, args.hold_s, args.max_gap)
            runs.append(run)
            print(
                f"{i + 1}/{len(rows)} {clip.name}: leaked camera {run.leaked('camera')}, held {run.leaked('held')}",
                flush=True,
            )
    vids: list[VideoRun] = []
    if args.part in ("all", "videos"):
        for path in videos[: args.videos] if args.videos else videos:
            vids.append(run_video(path, live, args.hold_s, args.max_gap))
            print(f"video {path.name}: {vids[-1].per_minute('camera'):.1f} s/min withheld", flush=True)
    args.out.write_text(report(runs, vids, args, started, os.getloadavg()))
    print(args.out.read_text())


if __name__ == "__main__":
    main()

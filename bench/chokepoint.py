"""Chokepoint benchmark: 720p30 camera -> camerad (guard) -> socket -> publish -> PipeWire -> an app.

A throwaway PipeWire session (pipewire + wireplumber under ``dbus-run-session``, temporary
``XDG_RUNTIME_DIR``) runs the whole Linux chokepoint with its real processes:

* **camerad**: ``captureguard camerad`` playing the conformance clip (index-marked 1280x720
  frames at 30 fps on the frame clock, nude paintings cut, panned and slid in; rendered before
  the clock starts, so playing it costs no CPU, like a camera), guarded by the shipped live models
  (or, for the transport-only row, by a stub that allows every frame);
* **publish**: ``captureguard publish`` and its ``gst-launch-1.0 ... pipewiresink`` child;
* **app**: ``gst-launch-1.0 pipewiresrc target-object=captureguard-camera ! videoconvert`` to BGR;
  in the held row, an app that records: ``target-object=captureguard-camera-held``, fed by
  ``captureguard publish --held`` from camerad's held socket (the stream held back 0.5 s, so that
  the frames shown just before a block are taken back).

Reported per run: delivered fps at the app, added latency (camera frame handed out by the
source -> the app has the whole BGR frame; marked frames only) p50/p99, CPU per process as % of
one core, and leaks: frames at the app whose mark names a frame the photo check blocks
(``Checker.create(mode="photo")``, the strongest check) or that shows any part of a nude painting.

Usage::

    .venv/bin/python bench/chokepoint.py --seconds 24 --frames 600
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NODE, HELD_NODE = "captureguard-camera", "captureguard-camera-held"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the camerad child: the real CLI with capture times recorded -----------------------------------


def camerad_child(argv: list[str]) -> int:
    """``captureguard camerad`` whose source records when each frame is handed out (monotonic s)."""
    from captureguard import Decision, Frame, Verdict
    from captureguard.chokepoint.conformance import MarkedClip
    from captureguard.cli import chokepoint as cli

    own = argparse.ArgumentParser()
    own.add_argument("--times", type=Path, required=True)
    own.add_argument("--stub", action="store_true")
    mine, rest = own.parse_known_args(argv)
    parser = argparse.ArgumentParser()
    cli.add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["camerad", *rest])
    times: dict[int, list[float]] = {}

    class Timed(MarkedClip):
        def __iter__(self):  # type: ignore[no-untyped-def]
            for frame in super().__iter__():
                times.setdefault(frame.index, []).append(time.monotonic())
                yield frame

    clips: list[MarkedClip] = []

    def open_camera(spec: str) -> MarkedClip:  # rendered once, replayed at each loop (like a camera)
        if not clips:
            w, h, seconds = cli._conformance_spec(spec)
            clips.append(Timed(size=(w, h), seconds=seconds, paced=True, cache=True))
        return clips[0]

    class AllowAll:
        def check(self, frame: Frame) -> Verdict:
            return Verdict(Decision.ALLOW, 0.0)

    cli.open_camera = open_camera  # type: ignore[assignment]
    stop_dump = threading.Event()

    def dump() -> None:  # keep the file current: the bench ends camerad with SIGTERM
        while not stop_dump.wait(0.5):
            mine.times.write_text(json.dumps(times))

    threading.Thread(target=dump, daemon=True).start()
    try:
        return cli.run_camerad(args, checker=AllowAll() if mine.stub else None)
    finally:
        stop_dump.set()
        mine.times.write_text(json.dumps(times))


# -- the bench ------------------------------------------------------------------------------------


@dataclass
class Session:
    runtime: Path
    logs: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:
            kw.setdefault("stdout", log)
            proc = subprocess.Popen(argv, env=self.env, stderr=log, start_new_session=True, **kw)  # type: ignore[call-overload]
        self.procs[name] = proc
        return proc

    def sources(self) -> list[str]:
        from captureguard.chokepoint.doctor import video_sources

        out = subprocess.run(["pw-dump"], env=self.env, capture_output=True, timeout=10, check=False).stdout
        return [str(p.get("node.name")) for p in video_sources(json.loads(out or b"[]"))]

    def close(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        shutil.rmtree(self.runtime, ignore_errors=True)


def wait_for(what: str, ok: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def open_session(logs: Path) -> Session:
    runtime = Path(tempfile.mkdtemp(prefix="cg-bench-xdg-"))
    runtime.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPEWIRE", "DBUS", "XDG_RUNTIME"))}
    env.update(XDG_RUNTIME_DIR=str(runtime), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="2")
    s = Session(runtime, logs, env)
    s.start("session", ["dbus-run-session", "--", "sh", "-c", "pipewire & sleep 0.3; exec wireplumber"])
    time.sleep(1.0)
    return s


def cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` (clock ticks)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def pids_of(session: Session) -> dict[str, list[int]]:
    """Processes per stage (children found through /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, ppid = int(stat.parent.name), int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(pid)

    def tree(pid: int) -> list[int]:
        return [pid, *(p for c in children.get(pid, []) for p in tree(c))]

    names = {int(p.parent.name): p.read_text().strip() for p in Path("/proc").glob("[0-9]*/comm") if p.exists()}
    session_tree = tree(session.procs["session"].pid)
    return {
        "camerad (guard)": tree(session.procs["camerad"].pid),
        "publish + gst pipewiresink": tree(session.procs["publish"].pid),
        "pipewire": [p for p in session_tree if names.get(p) == "pipewire"],
        "wireplumber": [p for p in session_tree if names.get(p) == "wireplumber"],
        "app (gst pipewiresrc)": tree(session.procs["app"].pid),
    }


@dataclass
class Run:
    label: str
    frames: int = 0
    fps: float = 0.0
    latency_ms: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    released: int = 0
    placeholders: int = 0
    leaked_unsafe: int = 0
    leaked_any_part: int = 0
    unknown: int = 0
    guard: dict[str, float] = field(default_factory=dict)
    longest_gap_ms: float = 0.0


def run_once(label: str, seconds: float, frames: int, unsafe: set[int], *, stub: bool, held: bool = False) -> Run:
    from captureguard.chokepoint.conformance import MarkedClip

    size = (1280, 720)
    clip = MarkedClip(size=size, seconds=seconds, paced=False)
    work = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    session = open_session(work)
    run = Run(label)
    try:
        sock, times_file = work / "frames.sock", work / "times.json"
        py = sys.executable
        camerad = [py, __file__, "--camerad-child", "--times", str(times_file), *(["--stub"] if stub else [])]
        camerad += ["--source", f"conformance:1280x720:{seconds:g}", "--socket", str(sock), "--view-group", "none"]
        session.start("camerad", [*camerad, "--loop"])
        wait_for("camerad's socket", sock.exists, 180)
        node = HELD_NODE if held else NODE
        publish = ["--held", "--socket", str(work / "frames-held.sock")] if held else ["--socket", str(sock)]
        session.start("publish", [py, "-m", "captureguard", "publish", *publish])
        wait_for("the PipeWire node", lambda: node in session.sources(), 120)
        app_argv = ["gst-launch-1.0", "-q", "pipewiresrc", f"target-object={node}", f"num-buffers={frames}"]
        # A leaky queue, like an app that always hands buffers back: Debian 12's gst pipewiresrc
        # otherwise stalls for good after its downstream blocked once (docs/chokepoint.md).
        app_argv += ["!", "queue", "leaky=downstream", "max-size-buffers=2"]
        app_argv += ["!", "videoconvert", "!", "video/x-raw,format=BGR,width=1280,height=720"]
        app_argv += ["!", "fdsink", "fd=1", "sync=false"]
        app = session.start("app", app_argv, stdout=subprocess.PIPE)
        got, received, (t0, cpu0, _, t1, cpu1) = read_app(app, frames, session, max_s=frames / 30 * 2 + 10)
        run.cpu = {k: 100.0 * (cpu1[k] - cpu0[k]) / CLK_TCK / (t1 - t0) for k in cpu0}
        run.frames = len(got)
        run.fps = sum(1 for t, _ in got if t0 < t <= t1) / (t1 - t0)
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(got)]
        run.longest_gap_ms = max(gaps) * 1e3 if gaps else 0.0
        os.killpg(session.procs["camerad"].pid, signal.SIGTERM)
        session.procs["camerad"].wait(timeout=30)
        captured = {int(k): v for k, v in json.loads(times_file.read_text()).items()}
        run.latency_ms = latencies(got, captured)
        tally = judge(got, received, clip, unsafe)
        run.released, run.placeholders = tally["released"], tally["placeholder"]
        run.leaked_unsafe, run.leaked_any_part = tally["leaked"], tally["any_part"]
        run.unknown = tally["unknown"]
        run.guard = guard_stats((work / "camerad.log").read_text())
    finally:
        session.close()
        shutil.rmtree(work, ignore_errors=True)
    return run


def latencies(got: list[tuple[float, int | None]], captured: dict[int, list[float]]) -> list[float]:
    """Per marked arrival: ms since the latest capture of that frame index before it (the clip loops)."""
    out = []
    for t, index in got:
        before = [c for c in captured.get(index, []) if c <= t] if index is not None else []
        if before:
            out.append((t - max(before)) * 1e3)
    return out


def guard_stats(log: str) -> dict[str, float]:
    """The StreamGuard's counters of camerad's longest session (one pass of the looped clip; no pixels)."""
    import ast

    lines = [line for line in log.splitlines() if line.startswith("camerad: session ")]
    sessions: list[dict[str, float]] = [ast.literal_eval(line.split(": ", 2)[2]) for line in lines]
    return max(sessions, key=lambda g: g.get("frames_in", 0)) if sessions else {}


def judge(
    got: list[tuple[float, int | None]], small: list[np.ndarray], clip: object, unsafe: set[int]
) -> dict[str, int]:
    """Frames at the app vs the clip, on every 4th pixel (full frames would need GBs of RAM)."""
    from captureguard.chokepoint.conformance import NOTICE, MarkedClip
    from captureguard.guard.placeholder import placeholder as placeholder_pixels

    assert isinstance(clip, MarkedClip)
    placeholder = placeholder_pixels(np.zeros((720, 1280, 3), np.uint8), mode="black", notice=NOTICE)[::4, ::4]
    tally = dict.fromkeys(("released", "placeholder", "leaked", "any_part", "unknown"), 0)

    def mad(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())

    for (_, index), pixels in zip(got, small, strict=True):
        if index is None or index >= len(clip):
            tally["placeholder" if mad(pixels, placeholder) <= 12 else "unknown"] += 1
            continue
        tally["any_part"] += clip.truth[index]
        if index in unsafe:
            tally["leaked"] += 1
        elif mad(pixels, clip.frame(index).bgr[::4, ::4]) > 12:
            tally["unknown"] += 1
        else:
            tally["released"] += 1
    return tally


#: (t0, cpu ticks at t0, pids per stage, t1, cpu ticks at t1)
CpuWindow = tuple[float, dict[str, int], dict[str, list[int]], float, dict[str, int]]


def read_app(
    app: subprocess.Popen[bytes], frames: int, session: Session, *, max_s: float
) -> tuple[list[tuple[float, int | None]], list[np.ndarray], CpuWindow]:
    """Read the app's BGR frames for at most ``max_s``: arrival time, mark, every 4th pixel.

    The CPU window opens at the 30th frame (steady state) and closes at the last 10th frame.
    """
    from captureguard.chokepoint.conformance import read_mark

    assert app.stdout is not None
    stdout = app.stdout
    got: list[tuple[float, int | None]] = []
    received: list[np.ndarray] = []
    nbytes = 1280 * 720 * 3
    window: list[tuple[float, dict[str, int], dict[str, list[int]]]] = []
    end: list[tuple[float, dict[str, int]]] = []

    def read() -> None:
        while len(got) < frames:
            buf = stdout.read(nbytes)
            if not buf or len(buf) < nbytes:
                return
            now = time.monotonic()
            bgr = np.frombuffer(buf, np.uint8).reshape(720, 1280, 3)
            got.append((now, read_mark(bgr)))
            received.append(bgr[::4, ::4].copy())
            if len(got) == 30:
                stages = pids_of(session)
                window.append((now, {k: sum(cpu_ticks(p) for p in v) for k, v in stages.items()}, stages))
            if window and len(got) % 10 == 0:  # the window closes at the last sample
                stages = window[0][2]
                end[:] = [(now, {k: sum(cpu_ticks(p) for p in v) for k, v in stages.items()})]

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(max_s)
    if reader.is_alive():
        print(f"  the app took {len(got)} frames in {max_s:g} s; stopping it", file=sys.stderr)
        os.killpg(app.pid, signal.SIGKILL)
        reader.join(10)
    n = len(got)
    if not window or not end:
        raise SystemExit(f"the app received only {n} frames: see the logs")
    last = [i for i, (t, _) in enumerate(got) if t <= end[0][0]][-1] + 1
    return got[:last], received[:last], (window[0][0], window[0][1], window[0][2], end[0][0], end[0][1])


def q(values: list[float], p: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(p * 100) - 1]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--camerad-child":
        sys.exit(camerad_child(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=24.0, help="clip length (longer than the app's run)")
    parser.add_argument("--frames", type=int, default=600, help="frames the app takes per run")
    parser.add_argument("--only", choices=("models", "held", "stub"), help="run one of the three rows")
    args = parser.parse_args()

    from captureguard import Checker, Decision
    from captureguard.chokepoint.conformance import MarkedClip

    clip = MarkedClip(size=(1280, 720), seconds=args.seconds, paced=False)
    photo = Checker.create(mode="photo")
    unsafe = {i for i, t in enumerate(clip.truth) if t and photo.check(clip.frame(i)).decision is Decision.BLOCK}
    print(f"clip: {len(clip)} frames at 1280x720 30 fps; {sum(clip.truth)} show part of a nude painting; "
          f"{len(unsafe)} blocked by the photo check")  # fmt: skip
    runs = []
    if args.only in (None, "models"):
        runs.append(run_once("shipped live models", args.seconds, args.frames, unsafe, stub=False))
    if args.only in (None, "held"):
        label = "shipped live models, held camera (publish --held)"
        runs.append(run_once(label, args.seconds, args.frames, unsafe, stub=False, held=True))
    if args.only in (None, "stub"):
        runs.append(run_once("allow-all stub (transport only)", args.seconds, args.frames, unsafe, stub=True))
    stages = list(runs[0].cpu)
    print(f"\n`python bench/chokepoint.py --seconds {args.seconds:g} --frames {args.frames}` "
          f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores)\n")  # fmt: skip
    print("| guard | frames at app | delivered fps | longest gap ms | latency p50 ms | latency p99 ms | released "
          "| placeholders | leaked (photo-check unsafe) | shown with any part of a painting "
          "| unaccounted |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        p50, p99 = q(r.latency_ms, 0.5), q(r.latency_ms, 0.99)
        leaks = f"| **{r.leaked_unsafe}** | {r.leaked_any_part} | {r.unknown} |"
        print(f"| {r.label} | {r.frames} | {r.fps:.1f} | {r.longest_gap_ms:.0f} | {p50:.1f} | {p99:.1f} "
              f"| {r.released} | {r.placeholders} {leaks}")  # fmt: skip
    print("\nInside camerad (the StreamGuard's own counters, longest session = one pass of the clip):\n")
    print("| guard | frames in | released | placeholders | checks | failed/timed-out checks | check p50 ms "
          "| guard latency p50 ms | guard latency p99 ms |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        g = r.guard
        print(f"| {r.label} | {g.get('frames_in', 0)} | {g.get('released', 0)} | {g.get('placeholders', 0)} "
              f"| {g.get('checks', 0)} | {g.get('failed_checks', 0)} | {g.get('check_ms_p50', 0)} "
              f"| {g.get('latency_ms_p50', 0)} | {g.get('latency_ms_p99', 0)} |")  # fmt: skip
    print(f"\nload average during the runs (other jobs share these cores): {os.getloadavg()}")
    print("\nCPU per stage, % of one core (steady state):\n")
    print("| guard | " + " | ".join(stages) + " | total |")
    print("|---|" + "---:|" * (len(stages) + 1))
    for r in runs:
        print(f"| {r.label} | " + " | ".join(f"{r.cpu[s]:.0f}" for s in stages) + f" | {sum(r.cpu.values()):.0f} |")


if __name__ == "__main__":
    main()

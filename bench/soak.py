"""Soak: the stream guard for simulated half-hours, and ``captureguard serve`` for real minutes.

**Stream** (in process, a fast clock): ``run_guarded`` over frames stamped at 30 fps (64x48, safe
scenes with a 3 s "nude" scene every 20 s; a real :class:`Checker` on a scripted detector that
calls red frames nude). Every ``--fault-every`` simulated seconds the next check gets a fault, in
turn: raise, hang past the deadline, NaN score. Counted: frames in/out, checks, failed checks vs
faults injected, **unsafe frames released** (a nude scene's pixels, or a frame whose own check
faulted, let through), RSS, open file descriptors and threads at start/mid/end.

**Web** (real time): ``captureguard serve`` (real models) in a subprocess; a websocket client acts
as a fake camera at ``--web-fps`` (3 s safe portrait, 3 s nude painting, 3 s safe cat, looping),
turns recording on for each loop and off after it. Counted: answers, released, placeholders,
painting frames released (must be 0), the recordings written and their frames, **painting frames
recorded** (must be 0: each decoded frame is matched to the nearest of the three pictures; the
recordings are held back 0.5 s, so they also lose the safe frames shown just before the painting),
the server's RSS and open fds at start/mid/end.

Usage::

    .venv/bin/python bench/soak.py                       # 30 simulated min + 10 real min
    .venv/bin/python bench/soak.py --sim-minutes 2 --web-minutes 0.33   # the bounded test version

Exit status 1 if any unsafe frame was released, a counter is inconsistent or RSS/fds grew
between mid and end by more than the tolerance.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from captureguard.core.detection import Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.ledger import StreamSettings
from captureguard.core.policy import Profile
from captureguard.errors import DetectionError
from captureguard.guard.allowed import AllowedFrame, Release
from captureguard.guard.check import Checker
from captureguard.guard.stream import StreamGuard
from captureguard.pipeline import run_guarded

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "src" / "captureguard" / "data" / "demo"
FPS = 30
SAFE_COLOURS = [(40, 160, 40), (160, 120, 60), (200, 90, 90)]  # BGR: none of them red
NUDE_COLOUR = (30, 30, 220)  # BGR red: the scripted detector calls it nudity
FAULTS = ("raise", "hang", "nan")
RSS_TOLERANCE = 0.10  # mid -> end growth allowed (fraction of mid), plus 8 MB of allocator noise
FD_TOLERANCE = 4


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds(pid: int | str = "self") -> int:
    """Open file descriptors (Linux /proc)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Sample:
    label: str
    rss_mb: float
    fds: int
    threads: int = 0


# -- stream soak --------------------------------------------------------------------------------


def scene_at(t_s: float) -> tuple[bool, tuple[int, int, int]]:
    """(nude, colour) of the scripted timeline: every 20 s, 3 s of the red "nude" scene."""
    cycle = int(t_s // 20)
    if t_s % 20 >= 17:
        return True, NUDE_COLOUR
    return False, SAFE_COLOURS[cycle % len(SAFE_COLOURS)]


class SimSource:
    """``minutes`` of 30 fps frames with simulated timestamps (produced as fast as they are taken)."""

    fps = float(FPS)
    live = False
    name = "soak"

    def __init__(self, minutes: float) -> None:
        self.count = round(minutes * 60 * FPS)
        self.nude: set[int] = set()
        self._rng = np.random.default_rng(0)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self.count):
            t_s = i / FPS
            nude, colour = scene_at(t_s)
            if nude:
                self.nude.add(i)
            pixels = np.empty((48, 64, 3), np.uint8)
            pixels[:] = colour
            pixels[self._rng.integers(0, 48), :] = 255  # a moving line: ordinary motion, no cut
            yield Frame.from_bgr(pixels, index=i, timestamp_s=t_s, source="soak", copy=False)

    def close(self) -> None:
        pass


@dataclass
class ScriptedDetector:
    """Red frames are nude; every ``fault_every_s`` the next check gets the next fault."""

    fault_every_s: float
    hang_s: float
    name: str = "scripted"
    calls: int = 0
    faulted: set[int] = field(default_factory=set)
    injected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULTS, 0))
    _next_fault_s: float = 0.0

    def __post_init__(self) -> None:
        self._next_fault_s = self.fault_every_s

    def detect(self, frame: Frame) -> Detections:
        self.calls += 1
        if frame.timestamp_s >= self._next_fault_s:
            self._next_fault_s += self.fault_every_s
            kind = FAULTS[sum(self.injected.values()) % len(FAULTS)]
            self.injected[kind] += 1
            self.faulted.add(frame.index)
            if kind == "raise":
                raise DetectionError("soak: injected failure")
            if kind == "hang":
                time.sleep(self.hang_s)
            return Detections.whole_image(float("nan"), height=frame.height, width=frame.width, model=self.name)
        b, g, r = (float(v) for v in frame.bgr.reshape(-1, 3).mean(axis=0))
        score = 0.999 if r > 150 and g < 100 and b < 100 else 0.01
        return Detections.whole_image(score, height=frame.height, width=frame.width, model=self.name)


class SoakSink:
    """Counts what it receives; an unsafe frame is a released nude frame or a released faulted check."""

    def __init__(self, source: SimSource, detector: ScriptedDetector, marks: dict[int, str]) -> None:
        self.source, self.detector, self.marks = source, detector, marks
        self.written = 0
        self.released = 0
        self.unsafe: list[int] = []
        self.samples: list[Sample] = []

    def write(self, item: AllowedFrame) -> None:
        if not isinstance(item, AllowedFrame):
            raise TypeError("SoakSink takes AllowedFrame")
        self.written += 1
        index = item.frame.index
        if item.release.released:
            self.released += 1
            own_check_faulted = item.release is Release.CHECKED and index in self.detector.faulted
            if index in self.source.nude or own_check_faulted:
                self.unsafe.append(index)
        if index in self.marks:
            self.samples.append(Sample(self.marks[index], rss_mb(), open_fds(), threading.active_count()))

    def close(self) -> None:
        pass


def stream_soak(minutes: float, *, fault_every_s: float = 3.0, deadline_s: float = 0.1) -> dict[str, Any]:
    """Run the stream soak; returns its figures."""
    source = SimSource(minutes)
    detector = ScriptedDetector(fault_every_s, hang_s=deadline_s * 3)
    checker = Checker([detector], FusionModel(-4.0, {"nsfw_logit": 1.0}), Profile("soak", 0.5, 0.3))
    marks = {FPS * 10: "start", source.count // 2: "mid", source.count - 1: "end"}
    sink = SoakSink(source, detector, marks)
    guard = StreamGuard(checker, StreamSettings(max_gap=1, schedule="lockstep"), deadline_s=deadline_s)
    t0 = time.monotonic()
    with guard:
        report = run_guarded(source, guard, [sink])
    wall_s = time.monotonic() - t0
    stats = report.stats
    injected = sum(detector.injected.values())
    consistent = (
        stats["frames_in"] == source.count == sink.written
        and stats["released"] + stats["placeholders"] + stats["dropped"] == source.count
        and stats["released"] == sink.released
        and stats["failed_checks"] >= injected
        and stats["checks"] >= detector.calls
    )
    return {
        "simulated_min": minutes,
        "wall_s": round(wall_s, 1),
        "frames": source.count,
        "nude_frames": len(source.nude),
        "released": stats["released"],
        "placeholders": stats["placeholders"],
        "checks": stats["checks"],
        "failed_checks": stats["failed_checks"],
        "faults_injected": injected,
        "faults": dict(detector.injected),
        "unsafe_released": len(sink.unsafe),
        "unsafe_first": sink.unsafe[:10],
        "counters_consistent": consistent,
        "error": report.error,
        "samples": sink.samples,
    }


# -- web soak -----------------------------------------------------------------------------------


def _bgr(name: str) -> np.ndarray:
    """A demo picture at the fake camera's 640x480."""
    bgr = cv2.imread(str(DEMO / name), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"missing demo picture {name}")
    return cv2.resize(bgr, (640, 480), interpolation=cv2.INTER_AREA)


def _jpeg(name: str) -> bytes:
    ok, buf = cv2.imencode(".jpg", _bgr(name), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return bytes(buf.tobytes())


WEB_SCRIPT = (
    ("safe", "matplotlib_grace_hopper.jpg"),
    ("nudity", "prani_godward_nude_on_the_beach.jpg"),
    ("safe", "skimage_chelsea.png"),
)


def web_soak(minutes: float, *, fps: float = 10.0, min_frames: int = 0) -> dict[str, Any]:
    """Run ``captureguard serve`` and a websocket fake camera for ``minutes`` (and at least
    ``min_frames`` frames, however slow the machine); returns its figures."""
    from websockets.sync.client import connect

    from captureguard.testing.web_harness import Server

    pictures = [(label, _jpeg(name)) for label, name in WEB_SCRIPT]
    per_segment = round(3 * fps)
    counts = {"sent": 0, "answered": 0, "released": 0, "placeholders": 0, "dropped": 0, "painting_released": 0}
    counts |= {"recordings": 0, "errors": 0}
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp) / "data", timeout_s=120) as server:
        pid = server._proc.pid if server._proc is not None else 0
        base = server.url.rstrip("/")
        with httpx.Client(base_url=base) as http:
            token = http.get("/api/session").json()["csrf_token"]
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        ws_url = base.replace("http", "ws", 1) + "/ws/viewfinder"
        t_end = time.monotonic() + minutes * 60
        t_mid = time.monotonic() + minutes * 30
        with connect(ws_url, additional_headers={"Cookie": cookie}, max_size=2**24) as ws:
            ws.send(json.dumps({"type": "hello", "csrf": token}))
            n = 0
            while time.monotonic() < t_end or n < min_frames:
                if n == per_segment:  # after warm-up: the baseline
                    samples.append(Sample("start", rss_mb(pid), open_fds(pid)))
                if not samples[1:] and time.monotonic() >= t_mid and samples:
                    samples.append(Sample("mid", rss_mb(pid), open_fds(pid)))
                step = n % (3 * per_segment)
                if step == 0:
                    ws.send(json.dumps({"type": "record", "on": True}))
                label, data = pictures[step // per_segment]
                t_frame = time.monotonic()
                ws.send(data)
                counts["sent"] += 1
                _answer(ws, label, counts)
                if step == 3 * per_segment - 1:
                    ws.send(json.dumps({"type": "record", "on": False}))
                    counts["recordings"] += 1
                n += 1
                time.sleep(max(0.0, 1 / fps - (time.monotonic() - t_frame)))
        samples.append(Sample("end", rss_mb(pid), open_fds(pid)))
        alive = server._proc is not None and server._proc.poll() is None
        code = server.stop()
        pictures_bgr = [(label, _bgr(name)) for label, name in WEB_SCRIPT]
        counts |= recorded(Path(tmp) / "data" / "gallery" / "videos", pictures_bgr)
    return {"real_min": minutes, **counts, "server_alive_at_end": alive, "exit_code": code, "samples": samples}


def recorded(folder: Path, pictures: list[tuple[str, np.ndarray]]) -> dict[str, int]:
    """The finished recordings in ``folder``: how many, their frames, and how many of those show
    the painting (nearest of ``pictures`` by mean absolute difference, and close to it; a
    placeholder is near none; a frame of another size matches nothing)."""
    import av

    out = {"recordings_written": 0, "recorded_frames": 0, "recorded_placeholders": 0, "painting_recorded": 0}
    for path in sorted(folder.glob("*.mp4")) if folder.is_dir() else []:
        out["recordings_written"] += 1
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                bgr = frame.to_ndarray(format="bgr24").astype(np.int16)
                diffs = [float(np.abs(bgr - pic).mean()) if bgr.shape == pic.shape else 255.0 for _, pic in pictures]
                nearest = int(np.argmin(diffs))
                out["recorded_frames"] += 1
                if diffs[nearest] > 25:
                    out["recorded_placeholders"] += 1
                elif pictures[nearest][0] == "nudity":
                    out["painting_recorded"] += 1
    return out


def _answer(ws: Any, label: str, counts: dict[str, int]) -> None:
    while True:
        message = json.loads(ws.recv(timeout=30))
        kind = message.get("type")
        if kind == "frame":
            ws.recv(timeout=30)  # the JPEG shown
            counts["answered"] += 1
            if message["blocked"]:
                counts["placeholders"] += 1
            else:
                counts["released"] += 1
                counts["painting_released"] += label == "nudity"
            return
        if kind == "dropped":
            counts["dropped"] += 1
            return
        if kind == "error":
            counts["errors"] += 1
            raise RuntimeError(f"viewfinder error: {message}")
        # recording status messages: ignore


# -- report -------------------------------------------------------------------------------------


def flat(samples: list[Sample]) -> bool:
    """RSS and fds did not grow from mid to end beyond the tolerance."""
    by = {s.label: s for s in samples}
    if "mid" not in by or "end" not in by:
        return False
    mid, end = by["mid"], by["end"]
    return end.rss_mb <= mid.rss_mb * (1 + RSS_TOLERANCE) + 8 and end.fds <= mid.fds + FD_TOLERANCE


def table(stream: dict[str, Any] | None, web: dict[str, Any] | None) -> str:
    rows = ["| part | figure | value |", "|---|---|---|"]
    for name, result in (("stream", stream), ("web", web)):
        if result is None:
            continue
        for key, value in result.items():
            if key in ("samples", "unsafe_first") or (key == "error" and not value):
                continue
            rows.append(f"| {name} | {key} | {value} |")
        samples = result["samples"]
        for s in samples:
            extra = f", threads {s.threads}" if s.threads else ""
            rows.append(f"| {name} | {s.label}: RSS MB / open fds | {s.rss_mb:.1f} / {s.fds}{extra} |")
        rows.append(f"| {name} | RSS and fds flat (mid -> end) | {flat(samples)} |")
    return "\n".join(rows)


def ok(stream: dict[str, Any] | None, web: dict[str, Any] | None) -> bool:
    good = True
    if stream is not None:
        good &= stream["unsafe_released"] == 0 and stream["counters_consistent"] and flat(stream["samples"])
        good &= not stream["error"]
    if web is not None:
        good &= web["painting_released"] == 0 and web["errors"] == 0 and web["server_alive_at_end"]
        good &= web["answered"] + web["dropped"] == web["sent"] and flat(web["samples"])
        good &= web["painting_recorded"] == 0 and web["recordings_written"] > 0
    return bool(good)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sim-minutes", type=float, default=30.0, help="simulated minutes of stream (0: skip)")
    p.add_argument("--web-minutes", type=float, default=10.0, help="real minutes of viewfinder (0: skip)")
    p.add_argument("--web-fps", type=float, default=10.0, help="fake camera frames per second")
    p.add_argument("--fault-every", type=float, default=3.0, help="simulated seconds between injected faults")
    p.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = p.parse_args(argv)
    stream = stream_soak(args.sim_minutes, fault_every_s=args.fault_every) if args.sim_minutes > 0 else None
    if stream is not None:
        print(table(stream, None), flush=True)
    web = web_soak(args.web_minutes, fps=args.web_fps) if args.web_minutes > 0 else None
    text = table(stream, web)
    print(text)
    passed = ok(stream, web)
    print("soak:", "PASS" if passed else "FAIL")
    if args.out is not None:
        command = "python bench/soak.py " + " ".join(argv if argv is not None else sys.argv[1:])
        args.out.write_text(f"# Soak\n\n`{command.strip()}`\n\n{text}\n\nresult: {'PASS' if passed else 'FAIL'}\n")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())

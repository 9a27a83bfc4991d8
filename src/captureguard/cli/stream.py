"""``captureguard video`` and ``captureguard camera``: the stream guard from the command line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from captureguard.core.frame import Frame
from captureguard.core.ledger import MAX_HOLD_S, RECORDING_HOLD_S, StreamSettings
from captureguard.errors import CaptureGuardError, ConfigError
from captureguard.guard.check import Checker
from captureguard.guard.placeholder import Placeholder
from captureguard.guard.stream import StreamGuard
from captureguard.pipeline import RunReport, run_guarded
from captureguard.sinks import Sink
from captureguard.sources import Source

EXIT_OK, EXIT_FLAGGED, EXIT_ERROR = 0, 1, 2
#: ``captureguard video``'s hold-back (``StreamSettings.hold_s``) and ``camera --record``'s
#: (``record_hold_s``; README, "Leaks").
VIDEO_HOLD_S = RECORDING_HOLD_S


def add_stream_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``video`` and ``camera``."""
    v = sub.add_parser(
        "video",
        help="guard a video file into a new MP4 that holds only checked or covered frames",
        description="Guard a video file into a new MP4 (H.264) that holds only checked or covered frames. "
        "OUT must end in .mp4 (other containers are refused, never written under another name) and must not "
        "be IN itself (also not through a link). Ctrl-C or SIGTERM stops early: OUT is finalised and playable "
        "up to the last frame written.",
    )
    v.add_argument("input", metavar="IN", help="video file")
    v.add_argument("output", metavar="OUT", type=Path, help="guarded .mp4 to write (only .mp4)")
    v.add_argument("--report", type=Path, help="write a JSON report (counters, blocks; no pixels)")
    v.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_guard_options(v, hold_s=VIDEO_HOLD_S, hold_help=f"default {VIDEO_HOLD_S:g}: a file has no viewer waiting")

    c = sub.add_parser("camera", help="guard a live camera into a recording, a preview and/or a virtual camera")
    c.add_argument("--device", default="0", help="camera index (default 0), or an RTSP/HTTP URL, or a file")
    c.add_argument("--record", type=Path, help="record the guarded stream to this .mp4 (only .mp4)")
    c.add_argument("--photos", type=Path, help="folder for photos: send SIGUSR1 (or press p in the preview)")
    c.add_argument(
        "--preview",
        action="store_true",
        help="show the guarded stream in a window (needs a display and opencv-python, not the headless build)",
    )
    c.add_argument("--virtualcam", action="store_true", help="publish the guarded stream as a virtual camera")
    c.add_argument("--seconds", type=float, default=0.0, help="stop after this long (default: until Ctrl-C)")
    c.add_argument("--report", type=Path, help="write a JSON report when done")
    _add_guard_options(c, hold_s=0.0, hold_help="default 0: it delays the preview and virtual camera too")
    c.add_argument(
        "--record-hold-s",
        type=float,
        default=RECORDING_HOLD_S,
        metavar="S",
        help=f"hold the recording (--record) back S seconds and take out of it the frames shown just before the"
        f" stream shuts; the preview and virtual camera do not wait (default {RECORDING_HOLD_S:g}; 0 or at most"
        f" --hold-s: the recording gets what the preview gets; at most {MAX_HOLD_S:g})",
    )


def add_profile_options(p: argparse.ArgumentParser) -> None:
    """``--profile`` and ``--profiles-file`` (every command that checks)."""
    p.add_argument("--profile", default="child", help="policy profile: child (default), teen, adult")
    p.add_argument("--profiles-file", type=Path, help="TOML file of profiles (default: shipped)")


def _add_guard_options(p: argparse.ArgumentParser, *, hold_s: float, hold_help: str) -> None:
    d = StreamSettings()
    add_profile_options(p)
    p.add_argument(
        "--max-gap",
        type=int,
        default=d.max_gap,
        help=f"unchecked frames allowed between two safe checks (default {d.max_gap}; 0 = check every frame)",
    )
    p.add_argument(
        "--on-block",
        choices=("placeholder", "stop"),
        default="placeholder",
        help="keep recording with placeholders (default) or stop and finalise",
    )
    p.add_argument(
        "--placeholder",
        choices=("black", "blur", "drop"),
        default="black",
        help="what replaces a withheld frame: black (default) or a heavy blur, with a notice; or drop it",
    )
    p.add_argument("--deadline-ms", type=float, default=500.0, help="a check slower than this blocks (default 500)")
    p.add_argument(
        "--hold-s",
        type=float,
        default=hold_s,
        metavar="S",
        help=f"hold each frame back S seconds and withhold it after all when the stream shuts within them: a nude"
        f" picture coming into view is caught a few checks late ({hold_help}; 0 = none; at most {MAX_HOLD_S:g})",
    )
    p.add_argument(
        "--detectors",
        type=Path,
        metavar="FILE",
        help="detectors TOML ([live]; [photo] for photos; default: shipped)",
    )


def _guard(args: argparse.Namespace, *, live: bool) -> StreamGuard:
    checker = Checker.create(
        profile=args.profile, mode="live", profiles_path=args.profiles_file, detectors_path=args.detectors
    )
    settings = StreamSettings(
        max_gap=args.max_gap,
        schedule="latest" if live else "lockstep",
        max_delay_frames=max(12, args.max_gap + 2),
        withheld="drop" if args.placeholder == "drop" else "placeholder",
        hold_s=args.hold_s,
        record_hold_s=getattr(args, "record_hold_s", 0.0) if getattr(args, "record", None) else 0.0,
    )
    look: Placeholder = "blur" if args.placeholder == "blur" else "black"
    return StreamGuard(checker, settings, deadline_s=args.deadline_ms / 1e3, placeholder=look)


def run_video(args: argparse.Namespace) -> int:
    """``captureguard video IN OUT``: exit 0 nothing withheld, 1 something withheld, 2 error."""
    from captureguard.sinks.mp4 import Mp4Sink
    from captureguard.sources.video import open_source

    check_output(args.output, "OUT", source=args.input)
    guard = _guard(args, live=False)  # a bad --profile/--detectors fails before anything is opened
    source = open_source(args.input)
    total = getattr(source, "frame_count", None) or None
    sink = Mp4Sink(args.output, fps=source.fps or 30.0)
    stop = threading.Event()
    with tqdm(total=total, unit="frame", desc="guarding", disable=args.no_progress, leave=False) as bar:

        def tick(frame: Frame) -> None:
            bar.update()

        with _signals(stop, None):
            report, error = _run(source, guard, [sink], args, on_frame=tick, stop=stop)
    if stop.is_set():
        print(f"stopped early: {args.output} holds the guarded frames up to the stop", file=sys.stderr)
    return _finish(report, args, error, output=args.output)


def check_output(output: Path, what: str, *, source: str | None = None) -> None:
    """Refuse an output the MP4 sink must not write: not ``.mp4``, or the input itself.

    Raises:
        ConfigError: the suffix is not ``.mp4`` (an ``.avi``/``.mkv`` would hold MP4 data under a
            wrong name), or ``output`` is ``source`` (same path, a link to it, or a hard link).
    """
    if output.suffix.lower() != ".mp4":
        raise ConfigError(f"{what} {output} must end in .mp4: captureguard writes MP4 (H.264) only")
    if source is None or not output.exists() or not os.path.exists(source):
        return
    if os.path.samefile(source, output):
        raise ConfigError(f"{what} {output} is the input video {source}; write the guarded copy to a new file")


def run_camera(args: argparse.Namespace) -> int:
    """``captureguard camera``: runs until Ctrl-C/SIGTERM (or ``--seconds``); photos on SIGUSR1."""
    from captureguard.sources.video import open_source

    if args.record is not None:
        check_output(args.record, "--record", source=args.device)
    source = open_source(args.device)
    try:
        guard = _guard(args, live=source.live)  # a bad --profile/--detectors: one line, nothing recorded
    except CaptureGuardError:
        source.close()
        raise
    stop = threading.Event()
    photos = _PhotoTrigger(args) if args.photos else None
    sinks = _camera_sinks(args, source.fps or 30.0, stop, photos)
    recorders = _camera_recorders(args, source.fps or 30.0)
    if args.seconds > 0:
        threading.Timer(args.seconds, stop.set).start()
    print(f"guarding {source.name}; Ctrl-C to stop" + ("; SIGUSR1 takes a photo" if photos else ""), file=sys.stderr)
    with _signals(stop, photos):
        report, error = _run(source, guard, sinks, args, on_frame=photos, stop=stop, recorders=recorders)
    if photos is not None:
        photos.wait()
    return _finish(report, args, error, output=args.record, written=report.recorded)


def _camera_recorders(args: argparse.Namespace, fps: float) -> list[Sink]:
    """The sinks that keep the stream: the recording (held ``--record-hold-s``)."""
    if not args.record:
        return []
    from captureguard.sinks.mp4 import Mp4Sink

    return [Mp4Sink(args.record, fps=fps)]


def _camera_sinks(
    args: argparse.Namespace, fps: float, stop: threading.Event, photos: _PhotoTrigger | None
) -> list[Sink]:
    """The sinks someone watches: the preview and the virtual camera (never held)."""
    sinks: list[Sink] = []
    if args.preview:
        from captureguard.sinks.preview import PreviewSink

        def on_key(key: str) -> None:
            if key == "p" and photos is not None:
                photos.request()
            elif key in ("q", "\x1b"):  # q or Esc
                stop.set()

        sinks.append(PreviewSink("captureguard (p: photo, q: quit)", on_key=on_key))
    if args.virtualcam:
        from captureguard.sinks.virtualcam import VirtualCamSink

        sinks.append(VirtualCamSink.for_stream(fps=fps))
    return sinks


class _PhotoTrigger:
    """On request, hands the next raw camera frame (full resolution) to the photo guard."""

    def __init__(self, args: argparse.Namespace) -> None:
        from captureguard.guard.photo import PhotoGuard
        from captureguard.sinks.photo_store import PhotoStore

        checker = Checker.create(
            profile=args.profile,
            mode="photo",
            profiles_path=args.profiles_file,
            detectors_path=getattr(args, "detectors", None),
            deadline_s=10.0,
        )
        self._guard = PhotoGuard(checker, PhotoStore(args.photos))
        self._wanted = threading.Event()
        self._threads: list[threading.Thread] = []

    def request(self) -> None:
        self._wanted.set()

    def __call__(self, frame: Frame) -> None:
        if self._wanted.is_set():
            self._wanted.clear()
            t = threading.Thread(target=self._take, args=(frame,), name="captureguard-photo", daemon=True)
            self._threads.append(t)
            t.start()

    def _take(self, frame: Frame) -> None:
        name = f"photo-{frame.index:06d}-{frame.timestamp_s:010.3f}.jpg".replace(".", "_", 1)
        result = self._guard.save(frame, name)
        outcome = f"saved {result.path}" if result.path else f"not saved ({result.verdict.decision.value})"
        print(f"photo at frame {frame.index}: {outcome}", file=sys.stderr)

    def wait(self) -> None:
        for t in self._threads:
            t.join(timeout=15)


@contextmanager
def _signals(stop: threading.Event, photos: _PhotoTrigger | None) -> Iterator[None]:
    """Ctrl-C / SIGTERM end the run cleanly (the recording is finalised); SIGUSR1 takes a photo."""
    handlers: dict[int, Callable[..., object]] = {
        signal.SIGINT: lambda *_: stop.set(),
        signal.SIGTERM: lambda *_: stop.set(),
    }
    if photos is not None and hasattr(signal, "SIGUSR1"):
        handlers[signal.SIGUSR1] = lambda *_: photos.request()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, h) for sig, h in handlers.items()}
    try:
        yield
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def _run(
    source: Source,
    guard: StreamGuard,
    sinks: list[Sink],
    args: argparse.Namespace,
    *,
    on_frame: Callable[[Frame], None] | None,
    stop: threading.Event | None = None,
    recorders: list[Sink] | None = None,
) -> tuple[RunReport, str]:
    report = RunReport(source.name, source.fps)
    try:
        run_guarded(
            source,
            guard,
            sinks,
            recorders=recorders or [],
            on_block=args.on_block,
            on_frame=on_frame,
            stop=stop,
            report=report,
        )
    except CaptureGuardError as exc:
        return report, str(exc)
    return report, ""


def _finish(
    report: RunReport, args: argparse.Namespace, error: str, *, output: Path | None, written: int | None = None
) -> int:
    """Print the summary (``written``: frames in ``output``, default ``report.written``), write the
    ``--report``; returns the exit code."""
    s = report.stats
    recording = ""
    if "recorded_released" in s:
        recording = f"; the recording {s['recorded_released']} released, {s['recorded_withheld']} withheld"
    print(
        f"{report.source}: {s.get('frames_in', 0)} frames in, {s.get('released', 0)} released "
        f"({s.get('released_checked', 0)} checked, {s.get('released_covered', 0)} covered), "
        f"{s.get('placeholders', 0)} placeholders, {s.get('dropped', 0)} dropped; {s.get('checks', 0)} checks; "
        f"added latency p50 {s.get('latency_ms_p50', 0)} ms, p99 {s.get('latency_ms_p99', 0)} ms"
        + recording
        + ("; stopped at the first block" if report.stopped_on_block else "")
    )
    written = report.written if written is None else written
    if output is not None and written:
        print(f"wrote {output} ({written} frames, only checked or covered frames and placeholders)")
    if args.report:
        doc = {
            "command": args.command,
            "profile": args.profile,
            "max_gap": args.max_gap,
            "hold_s": args.hold_s,
            "record_hold_s": getattr(args, "record_hold_s", None),
            **report.to_dict(),
        }
        args.report.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    if error:
        print(f"captureguard: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_FLAGGED if report.blocks else EXIT_OK

"""The chokepoint's commands: ``camerad``, ``publish`` and ``doctor``.

``add_parsers(subparsers)`` registers them; ``run(args)`` dispatches (returns None for other
commands). Both are wired into ``captureguard.cli`` with two lines.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import stat
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captureguard import ConfigError, Sink, Source, StreamGuard, StreamSettings
from captureguard.chokepoint.framesock import DEFAULT_HELD_SOCKET, DEFAULT_SOCKET, FrameServer
from captureguard.chokepoint.peercred import group_id
from captureguard.chokepoint.publish import PublishOptions
from captureguard.core.ledger import RECORDING_HOLD_S, Schedule
from captureguard.guard.placeholder import Placeholder
from captureguard.guard.stream import FrameChecker

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path("/etc/captureguard/camerad.toml")
COMMANDS = ("camerad", "publish", "doctor")
#: PipeWire node names: the live camera, and the held one for apps that record (``publish --held``).
LIVE_NODE, HELD_NODE = "captureguard-camera", "captureguard-camera-held"
EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


@dataclass(frozen=True)
class CameradSettings:
    """camerad's settings after the config file and the command line (``resolve_settings``).

    ``held_socket`` (None: off) carries the same stream held back ``record_hold_s`` seconds, for
    apps that record (``captureguard publish --held``).
    """

    source: str = "0"
    socket: str = DEFAULT_SOCKET
    held_socket: str | None = DEFAULT_HELD_SOCKET
    record_hold_s: float = RECORDING_HOLD_S
    view_group: str | None = "cgview"
    socket_mode: int = 0o660
    profile: str = "child"
    profiles_file: str | None = None
    max_gap: int = 1
    placeholder: Placeholder = "black"
    deadline_ms: float = 500.0
    virtualcam: bool = False
    always_on: bool = False
    idle_close_s: float = 3.0
    loop: bool = False


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``camerad``, ``publish`` and ``doctor`` (defaults None: the config file fills them)."""
    c = sub.add_parser("camerad", help="the camera daemon: real camera -> guard -> released frames to a socket")
    c.add_argument("--config", type=Path, help=f"TOML settings, root-owned (default {DEFAULT_CONFIG} if present)")
    c.add_argument(
        "--source", help="camera index, device path, URL, video file, or 'conformance' (the marked test clip)"
    )
    c.add_argument("--socket", help=f"frame socket path (default {DEFAULT_SOCKET})")
    c.add_argument(
        "--held-socket",
        help=f"the held socket for recording apps (default beside --socket: {DEFAULT_HELD_SOCKET}; 'none': off)",
    )
    c.add_argument(
        "--record-hold-s",
        type=float,
        help=f"how long the held socket holds frames back (default {RECORDING_HOLD_S})",
    )
    c.add_argument("--view-group", help="group allowed to read frames (default cgview; 'none': only this user)")
    c.add_argument("--socket-mode", help="socket file mode in octal (default 660)")
    c.add_argument("--profile", help="policy profile (default child)")
    c.add_argument("--profiles-file", help="TOML file of profiles")
    c.add_argument("--max-gap", type=int, help="unchecked frames allowed between two safe checks (default 1)")
    c.add_argument("--placeholder", choices=("black", "blur"), help="what replaces withheld frames (default black)")
    c.add_argument("--deadline-ms", type=float, help="a check slower than this blocks (default 500)")
    c.add_argument("--virtualcam", action="store_true", default=None, help="also feed a v4l2loopback device")
    c.add_argument("--always-on", action="store_true", default=None, help="keep the camera open with no reader")
    c.add_argument("--idle-close-s", type=float, help="close the camera this long after the last reader left (3)")
    c.add_argument("--loop", action="store_true", default=None, help="replay a file source when it ends")

    p = sub.add_parser("publish", help="this user's PipeWire camera, fed only by camerad's socket")
    p.add_argument(
        "--held",
        action="store_true",
        help="publish camerad's held socket: the camera for apps that record (changes the defaults below)",
    )
    p.add_argument("--socket", help=f"camerad's frame socket (default {DEFAULT_SOCKET}; --held: {DEFAULT_HELD_SOCKET})")
    p.add_argument("--node-name", help=f"PipeWire node.name (default {LIVE_NODE}; --held: {HELD_NODE})")
    p.add_argument("--description", help="the name apps show")
    p.add_argument("--format", default="YUY2", help="raw format offered to apps (default YUY2)")
    p.add_argument("--fps", type=int, default=30, help="frame rate announced to apps (default 30)")
    p.add_argument("--connect-timeout-s", type=float, help="give up if camerad is not there this long (default: wait)")
    p.add_argument(
        "--always",
        action="store_true",
        help="read camerad's socket all the time (default: only while an app reads the camera, so that "
        "camerad can close the camera when none does)",
    )

    d = sub.add_parser("doctor", help="check that no real camera is reachable outside the guard (exit 1 if one is)")
    d.add_argument("--json", action="store_true", help="print one JSON document")
    d.add_argument("--socket", default=DEFAULT_SOCKET, help="camerad's frame socket")
    d.add_argument("--held-socket", default=DEFAULT_HELD_SOCKET, help="camerad's held socket (for recording apps)")
    d.add_argument("--no-pipewire", action="store_true", help="skip asking PipeWire for video sources")
    d.add_argument("--dev", default="/dev", help=argparse.SUPPRESS)
    d.add_argument("--sys", default="/sys", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int | None:
    """Run a chokepoint command; None when ``args.command`` is not one of them."""
    if args.command == "camerad":
        return run_camerad(args)
    if args.command == "publish":
        return run_publish(args)
    if args.command == "doctor":
        from captureguard.chokepoint.doctor import run_doctor

        return run_doctor(args)
    return None


# -- camerad ------------------------------------------------------------------------------------


def load_config(path: Path) -> dict[str, Any]:
    """Read ``[camerad]`` from a root-owned TOML file that only root (or this user) can write.

    Raises:
        ConfigError: unreadable, invalid, or writable by someone else (a user must not be able
            to relax the guard by editing it).
    """
    try:
        st = path.stat()
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read camerad config {path}: {exc}") from exc
    if st.st_uid not in (0, os.geteuid()) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(f"{path} must be owned by root and writable only by root (chmod 644, chown root:root)")
    table = data.get("camerad", {})
    unknown = set(table) - set(CameradSettings.__dataclass_fields__)
    if not isinstance(table, dict) or unknown:
        raise ConfigError(f"{path}: unknown [camerad] keys {sorted(unknown)}")
    return table


def resolve_settings(args: argparse.Namespace, config: dict[str, Any]) -> CameradSettings:
    """Defaults < config file < command line (pure)."""
    values: dict[str, Any] = {}
    for name in CameradSettings.__dataclass_fields__:
        cli = getattr(args, name, None)
        if cli is not None:
            values[name] = cli
        elif name in config:
            values[name] = config[name]
    if isinstance(values.get("socket_mode"), str):
        values["socket_mode"] = int(values["socket_mode"], 8)
    if str(values.get("view_group", "cgview")).lower() == "none":
        values["view_group"] = None
    if "source" in values:
        values["source"] = str(values["source"])
    if "held_socket" not in values:  # beside the socket: frames.sock -> frames-held.sock
        sock = Path(values.get("socket", DEFAULT_SOCKET))
        values["held_socket"] = str(sock.with_name(f"{sock.stem}-held{sock.suffix or '.sock'}"))
    elif str(values["held_socket"]).lower() == "none":
        values["held_socket"] = None
    if values.get("placeholder", "black") not in ("black", "blur"):
        raise ConfigError(f"placeholder must be 'black' or 'blur', got {values['placeholder']!r}")
    settings = CameradSettings(**values)
    if settings.held_socket is not None:
        if settings.held_socket == settings.socket:
            raise ConfigError(f"held_socket and socket are the same path ({settings.socket})")
        if not settings.record_hold_s > 0:
            raise ConfigError(
                f"record_hold_s must be above 0 with a held socket, got {settings.record_hold_s} "
                "(held_socket = 'none' turns the held socket off)"
            )
        StreamSettings(record_hold_s=settings.record_hold_s)  # out of range: ConfigError now, not per session
    return settings


def open_camera(spec: str) -> Source:
    """The source camerad guards: a camera index or device path, a URL, a file, or ``conformance``."""
    from captureguard import open_source
    from captureguard.chokepoint.camerad import PacedSource
    from captureguard.chokepoint.conformance import MarkedClip

    if spec == "conformance" or spec.startswith("conformance:"):
        w, h, seconds = _conformance_spec(spec)
        return MarkedClip(size=(w, h), seconds=seconds, paced=True)
    if spec.startswith("/dev/video"):
        spec = spec.removeprefix("/dev/video")  # OpenCV opens V4L2 devices by index
    source = open_source(spec)
    return source if source.live else PacedSource(source)


def _conformance_spec(spec: str) -> tuple[int, int, float]:
    """``conformance[:WxH[:SECONDS]]`` -> (w, h, seconds); default 1280x720, 10 s."""
    parts = spec.split(":")[1:]
    try:
        w, h = (int(v) for v in parts[0].split("x")) if parts else (1280, 720)
        return w, h, float(parts[1]) if len(parts) > 1 else 10.0
    except ValueError as exc:
        raise ConfigError(f"expected conformance[:WIDTHxHEIGHT[:SECONDS]], got {spec!r}") from exc


def guard_factory(s: CameradSettings, checker: FrameChecker | None = None) -> Callable[[Source], StreamGuard]:
    """Builds a fresh StreamGuard per camera session (the checker is built once)."""
    if checker is None:
        from captureguard import Checker

        checker = Checker.create(profile=s.profile, mode="live", profiles_path=s.profiles_file)

    def make(source: Source) -> StreamGuard:
        schedule: Schedule = "latest" if source.live else "lockstep"
        settings = StreamSettings(
            max_gap=s.max_gap,
            schedule=schedule,
            max_delay_frames=max(12, s.max_gap + 2),
            record_hold_s=s.record_hold_s if s.held_socket else 0.0,
        )
        return StreamGuard(checker, settings, deadline_s=s.deadline_ms / 1e3, placeholder=s.placeholder)

    return make


def run_camerad(args: argparse.Namespace, *, checker: FrameChecker | None = None) -> int:
    """``captureguard camerad``: serve until SIGTERM/SIGINT (or a file source ends without --loop).

    ``checker`` replaces the shipped models (tests use a scripted one).
    """
    from captureguard.chokepoint.camerad import ServeOptions, serve

    config_path = args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    s = resolve_settings(args, load_config(config_path) if config_path else {})
    make_guard = guard_factory(s, checker)  # models load before the socket opens
    try:
        gid = group_id(s.view_group)
    except KeyError as exc:
        raise ConfigError(
            f"group {s.view_group!r} does not exist; run make install-chokepoint or pass --view-group none"
        ) from exc
    Path(s.socket).parent.mkdir(parents=True, exist_ok=True)
    server = FrameServer(s.socket, view_gid=gid, mode=s.socket_mode)
    held: FrameServer | None = None
    try:
        if s.held_socket is not None:
            Path(s.held_socket).parent.mkdir(parents=True, exist_ok=True)
            held = FrameServer(s.held_socket, view_gid=gid, mode=s.socket_mode)
    except BaseException:
        server.close()
        raise
    stop = threading.Event()
    options = ServeOptions(on_demand=not s.always_on, idle_close_s=s.idle_close_s, loop=s.loop)
    print(f"camerad: guarding {s.source} -> {s.socket} (profile {s.profile})", file=sys.stderr, flush=True)
    if held is not None:
        print(f"camerad: held back {s.record_hold_s:g} s -> {s.held_socket}", file=sys.stderr, flush=True)
    try:
        with _stop_on_signals(stop):
            reports = serve(
                lambda: open_camera(s.source),
                make_guard,
                server,
                held=held,
                extra_sinks=_extra_sinks(s),
                options=options,
                stop=stop,
            )
    finally:
        server.close()
        if held is not None:
            held.close()
    for r in reports:
        print(f"camerad: session {r.source}: {r.stats}", file=sys.stderr)
    return EXIT_OK


def _extra_sinks(s: CameradSettings) -> Callable[[Source], list[Sink]]:
    def make(source: Source) -> list[Sink]:
        if not s.virtualcam:
            return []
        from captureguard.sinks.virtualcam import VirtualCamSink

        return [VirtualCamSink.for_stream(fps=source.fps or 30.0)]

    if s.virtualcam:
        from captureguard.sinks.virtualcam import VirtualCamSink

        VirtualCamSink.for_stream(fps=30.0).close()  # fail now (no pyvirtualcam / no device), not later
    return make


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- publish ------------------------------------------------------------------------------------


def publish_options(args: argparse.Namespace) -> PublishOptions:
    """``publish``'s options: the live camera, or with ``--held`` the held one (pure)."""
    held = bool(getattr(args, "held", False))
    default_socket, default_node = (DEFAULT_HELD_SOCKET, HELD_NODE) if held else (DEFAULT_SOCKET, LIVE_NODE)
    description = (
        "Camera for recording (guarded by captureguard, held back)" if held else "Camera (guarded by captureguard)"
    )
    return PublishOptions(
        args.socket or default_socket,
        args.node_name or default_node,
        args.description or description,
        args.format,
        args.fps,
        on_demand=not getattr(args, "always", False),
    )


def run_publish(args: argparse.Namespace) -> int:
    """``captureguard publish``: forward camerad's frames to a PipeWire camera until SIGTERM."""
    from captureguard.chokepoint.publish import run_publish as forward

    opts = publish_options(args)
    stop = threading.Event()
    print(f"publish: {opts.socket_path} -> PipeWire node {opts.node_name}", file=sys.stderr, flush=True)
    with _stop_on_signals(stop):
        return forward(opts, stop, connect_timeout_s=args.connect_timeout_s)

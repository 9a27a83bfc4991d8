"""``captureguard serve``: the guarded camera web app and local API."""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import secrets
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from captureguard.core.ledger import MAX_HOLD_S, RECORDING_HOLD_S

if TYPE_CHECKING:
    from captureguard.web.pin import PinStore

EXIT_OK, EXIT_ERROR = 0, 2


def add_serve_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``serve``."""
    s = sub.add_parser("serve", help="serve the guarded camera web app and the local check API")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0 picks a free one)")
    s.add_argument(
        "--data",
        type=Path,
        default=Path("captureguard-data"),
        help="folder for settings, the admin PIN, the event log and the gallery (default ./captureguard-data)",
    )
    s.add_argument("--profile", default="child", help="profile until the admin saves settings (default child)")
    s.add_argument("--max-viewers", type=int, default=2, help="viewfinders at once (default 2)")
    s.add_argument("--messages", type=Path, help="TOML file of block/warn/help texts (default: shipped)")
    s.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads per model (default 2)")
    s.add_argument("--tls-cert", type=Path, metavar="PEM", help="certificate chain: serve HTTPS (with --tls-key)")
    s.add_argument("--tls-key", type=Path, metavar="PEM", help="private key of --tls-cert")
    s.add_argument(
        "--detectors", type=Path, metavar="FILE", help="detectors TOML with [photo] and [live] (default: shipped)"
    )
    s.add_argument(
        "--viewer-idle-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="close a viewfinder socket that sends nothing for this many seconds (default 30)",
    )
    s.add_argument(
        "--record-hold-s",
        type=float,
        default=RECORDING_HOLD_S,
        metavar="S",
        help="hold viewfinder recordings back S seconds and leave out the frames shown just before the stream"
        f" shuts; the viewfinder never waits (default {RECORDING_HOLD_S:g}; 0 = none; at most {MAX_HOLD_S:g})",
    )
    s.add_argument(
        "--set-pin",
        action="store_true",
        help="set the admin PIN here (asked for twice; or one line on stdin) and exit, without serving",
    )
    s.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another name or address the browser may use for this server (with a non-loopback --host)",
    )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def tls_problem(cert: Path | None, key: Path | None) -> str | None:
    """Why ``--tls-cert``/``--tls-key`` cannot be used, or None if they can (or both are absent)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        return "--tls-cert and --tls-key go together: give both, or neither for plain HTTP"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        return f"cannot use the certificate {cert} with the key {key}: {exc}"
    return None


def run_serve(args: argparse.Namespace) -> int:
    """Load the models, then serve until SIGINT/SIGTERM (recordings finalised on the way out).

    At start-up, while no admin PIN is set, a one-time setup code is printed on the console:
    setting the first PIN on the settings page needs it (``--set-pin`` sets it here instead).
    """
    from captureguard.errors import ConfigError
    from captureguard.web.config import ServerConfig
    from captureguard.web.pin import PinStore
    from captureguard.web.preflight import check_config
    from captureguard.web.server import serve
    from captureguard.web.state import load_services

    if args.viewer_idle_timeout <= 0:
        print("captureguard: error: --viewer-idle-timeout must be positive (seconds)", file=sys.stderr)
        return EXIT_ERROR
    problem = tls_problem(args.tls_cert, args.tls_key)
    if problem is not None:
        print(f"captureguard: error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    if not is_loopback(args.host):
        hint = (
            ""
            if args.tls_cert
            else " Browsers allow the camera only on https:// (or localhost): give --tls-cert and --tls-key"
            " for phones and other machines."
        )
        print(
            f"captureguard: warning: --host {args.host} is not a loopback address, so other machines on "
            "the network can reach this camera app, its gallery and its API. "
            "Use --host 127.0.0.1 unless you mean that." + hint,
            file=sys.stderr,
        )
    config = ServerConfig(
        data_dir=args.data,
        host=args.host,
        port=args.port,
        max_viewers=args.max_viewers,
        messages_path=args.messages,
        default_profile=args.profile,
        threads=args.threads,
        allowed_hosts=tuple(args.allow_host),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        detectors_path=args.detectors,
        viewer_idle_timeout_s=args.viewer_idle_timeout,
        record_hold_s=args.record_hold_s,
        setup_code=secrets.token_urlsafe(12),
    )
    check_config(config)  # a bad file or --data: one line and exit 2, before anything loads
    pins = PinStore(config.data_dir / "admin.json")
    if args.set_pin:
        return _set_pin(pins)
    services = load_services(config, profile=args.profile)  # errors here print cleanly, before listening

    def listening(url: str) -> None:
        print(f"captureguard serving on {url}", flush=True)
        try:
            has_pin = pins.has_pin
        except ConfigError as exc:  # the app runs locked under the strictest settings
            print(f"captureguard: warning: {exc}", file=sys.stderr, flush=True)
            return
        if not has_pin:
            print(
                f"first-run setup code: {config.setup_code} (setting the admin PIN on {url}settings needs it; "
                "good for one PIN)",
                flush=True,
            )

    started = serve(
        config,
        services=services,
        on_listening=listening,
        log_level=("warning", "info", "debug")[min(args.verbose, 2)],
        access_log=args.verbose > 1,
    )
    return EXIT_OK if started else EXIT_ERROR


def _set_pin(pins: PinStore) -> int:
    """``serve --set-pin``: a new PIN from the terminal (asked twice) or one line of stdin
    (then, when a PIN exists already, the current one on the next line)."""
    if sys.stdin.isatty():
        new = getpass.getpass("new admin PIN: ")
        if getpass.getpass("repeat it: ") != new:
            print("captureguard: error: the two PINs differ; nothing changed", file=sys.stderr)
            return EXIT_ERROR
    else:
        new = sys.stdin.readline().rstrip("\r\n")
    current = None
    if pins.has_pin:
        current = getpass.getpass("current admin PIN: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    pins.set_pin(new, current=current)  # PinError/ConfigError: one line, exit 2 (a CaptureGuardError)
    print(f"admin PIN saved in {pins.path}")
    return EXIT_OK

"""The ``captureguard`` command line.

Exit codes: 0 when every image was allowed, 1 when any was blocked or warned, 2 on usage or
input errors (an unreadable image counts: it could not be verified).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from captureguard import _logsafe
from captureguard._version import __version__
from captureguard.cli import chokepoint as chokepoint_cli
from captureguard.cli.check import ScanRow, check_paths, check_report_path, write_report
from captureguard.cli.eval import add_eval_command, run_eval
from captureguard.cli.serve import add_serve_command, run_serve
from captureguard.cli.stream import add_profile_options, add_stream_commands, run_camera, run_video
from captureguard.core.policy import load_profiles
from captureguard.core.verdict import Decision
from captureguard.errors import CaptureGuardError
from captureguard.guard.check import Checker
from captureguard.sources.image import DEFAULT_MAX_MEGAPIXELS, iter_image_paths

EXIT_OK, EXIT_FLAGGED, EXIT_ERROR = 0, 1, 2
#: A photo check that takes longer than this is blocked (fail closed), not waited for.
DEFAULT_DEADLINE_MS = 10_000.0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also documents the commands)."""
    p = argparse.ArgumentParser(
        prog="captureguard", description="On-device guard that keeps nudity out of what a camera saves."
    )
    p.add_argument("--version", action="version", version=f"captureguard {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_checker_options(sp: argparse.ArgumentParser) -> None:
        add_profile_options(sp)
        sp.add_argument(
            "--mode",
            choices=("photo", "live"),
            default="photo",
            help="detector set and fusion head: photo (default: up to 6 person crops) or live (the stream's: 2 crops)",
        )
        sp.add_argument(
            "--max-megapixels",
            type=float,
            default=DEFAULT_MAX_MEGAPIXELS,
            help=f"refuse larger images (decompression-bomb guard, default {DEFAULT_MAX_MEGAPIXELS:g})",
        )
        sp.add_argument(
            "--detectors",
            type=Path,
            metavar="FILE",
            help="detectors TOML (a [photo] and/or [live] list of models) replacing the shipped one",
        )
        sp.add_argument(
            "--deadline-ms",
            type=float,
            default=DEFAULT_DEADLINE_MS,
            help=f"block any check slower than this (default {DEFAULT_DEADLINE_MS:g}; 0 = no limit)",
        )

    c = sub.add_parser("check", help="check image files; exit 0 if all allowed, 1 if any blocked/warned, 2 on errors")
    c.add_argument("images", nargs="+", type=Path, metavar="IMG")
    c.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    add_checker_options(c)

    s = sub.add_parser("scan", help="check every image under a directory and write a report")
    s.add_argument("directory", type=Path, metavar="DIR")
    s.add_argument("--report", type=Path, help="write a .csv or .json report here")
    s.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_checker_options(s)

    d = sub.add_parser("demo", help="guard the bundled public-domain stills and print decisions and timings")
    d.add_argument("--out", type=Path, default=Path("captureguard-demo"), help="where allowed photos are saved")
    d.add_argument("--profile", default="child", help="policy profile (default: child)")
    d.add_argument("--no-video", action="store_true", help="skip the video part")

    add_stream_commands(sub)
    add_eval_command(sub)
    add_serve_command(sub)
    chokepoint_cli.add_parsers(sub)

    pr = sub.add_parser("profiles", help="list the policy profiles and their thresholds")
    pr.add_argument("--profiles-file", type=Path, help="TOML file of profiles (default: shipped)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    _logsafe.install()  # no level writes pixels or image metadata (Pillow's EXIF dumps, socket frames)
    try:
        if (code := chokepoint_cli.run(args)) is not None:
            return code
        if args.command == "eval":
            return run_eval(args)
        if args.command == "check":
            return _check(args)
        if args.command == "scan":
            return _scan(args)
        if args.command == "video":
            return run_video(args)
        if args.command == "camera":
            return run_camera(args)
        if args.command == "serve":
            return run_serve(args)
        if args.command == "demo":
            from captureguard.cli.demo import run_demo

            return run_demo(out_dir=args.out, profile=args.profile, video=not args.no_video)
        return _profiles(args)
    except CaptureGuardError as exc:
        print(f"captureguard: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("captureguard: interrupted", file=sys.stderr)
        return 130


def _checker(args: argparse.Namespace) -> Checker:
    deadline = args.deadline_ms / 1e3 if args.deadline_ms else None
    return Checker.create(
        profile=args.profile,
        mode=args.mode,
        profiles_path=args.profiles_file,
        detectors_path=args.detectors,
        deadline_s=deadline,
    )


def _exit_code(rows: Sequence[ScanRow]) -> int:
    if any(r.error for r in rows):
        return EXIT_ERROR
    if any(r.verdict is not None and r.verdict.decision is not Decision.ALLOW for r in rows):
        return EXIT_FLAGGED
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    checker = _checker(args)
    rows = check_paths(checker, args.images, max_megapixels=args.max_megapixels, progress=False)
    if args.json:
        print(json.dumps({"profile": checker.profile.name, "results": [r.to_dict() for r in rows]}, indent=2))
    else:
        for r in rows:
            print(r.to_line(), file=sys.stderr if r.error else sys.stdout)
    return _exit_code(rows)


def _scan(args: argparse.Namespace) -> int:
    if not args.directory.is_dir():
        print(f"captureguard: error: {args.directory} is not a directory", file=sys.stderr)
        return EXIT_ERROR
    if args.report is not None:
        check_report_path(args.report)  # before scanning, not after
    paths = list(iter_image_paths(args.directory))
    checker = _checker(args)
    rows = check_paths(checker, paths, max_megapixels=args.max_megapixels, progress=not args.no_progress)
    counts = {d.value: sum(1 for r in rows if r.verdict and r.verdict.decision is d) for d in Decision}
    errors = [r for r in rows if r.error]
    print(
        f"scanned {len(rows)} images under {args.directory}: "
        f"{counts['allow']} allowed, {counts['warn']} warned, {counts['block']} blocked, {len(errors)} unreadable"
    )
    for r in rows:
        if r.verdict is not None and r.verdict.decision is not Decision.ALLOW:
            print(r.to_line())
    if errors:
        print("unreadable files (skipped):", file=sys.stderr)
        for r in errors:
            print(f"  {r.path}: {r.error}", file=sys.stderr)
    if args.report:
        write_report(rows, args.report, profile=checker.profile.name)
        print(f"report written to {args.report}")
    return _exit_code(rows)


def _profiles(args: argparse.Namespace) -> int:
    for p in load_profiles(args.profiles_file).values():
        classes = ", ".join(f"{k}>={v:g}" for k, v in p.class_thresholds.items()) or "none"
        print(
            f"{p.name}: block at fused score >= {p.block_score:g}, warn >= {p.warn_score:g}; "
            f"per-class blocks: {classes}; underwear warning: {'on' if p.warn_underwear else 'off'}"
        )
        if p.description:
            print(f"    {p.description}")
    return EXIT_OK

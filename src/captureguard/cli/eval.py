"""``captureguard eval MANIFEST.csv``: measure captureguard and the reference APIs on your own data.

Exit codes: 0 on success, 2 on a bad manifest, an unwritable output directory or a missing
dependency (the message says which and how to fix it).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from captureguard.errors import CaptureGuardError

log = logging.getLogger(__name__)
EXIT_OK, EXIT_ERROR = 0, 2


def add_eval_command(sub: Any) -> None:
    """Add the ``eval`` sub-command to ``sub`` (an argparse sub-parsers object)."""
    e = sub.add_parser("eval", help="benchmark on a labelled manifest: report.md/.html, metrics.json, plots")
    e.add_argument("manifest", type=Path, metavar="MANIFEST.csv", help="CSV with columns path,label[,kind,group,...]")
    e.add_argument(
        "--out", type=Path, default=Path("captureguard-eval"), help="output directory (default: %(default)s)"
    )
    e.add_argument(
        "--configs",
        nargs="+",
        metavar="NAME",
        help="scorer groups to run: ours, ref:nudenet, ref:opennsfw (default: all)",
    )
    e.add_argument("--perturb", action="store_true", help="also re-check every still under camera perturbations")
    e.add_argument(
        "--perturbations",
        type=_names,
        metavar="NAME,...",
        help="only these perturbations (comma-separated; implies --perturb), e.g. "
        "motion_blur,defocus,low_light,moire,text_overlay (default: all 12)",
    )
    e.add_argument(
        "--perturb-safe",
        choices=("all", "people"),
        default="all",
        help="safe stills re-checked under perturbations: all, or only photos of people (kinds face_closeup, "
        "portrait, people_*, person_*, shirtless_sports); every nudity still is (default: %(default)s)",
    )
    e.add_argument(
        "--coverage",
        type=Path,
        action="append",
        default=[],
        metavar="MANIFEST.csv",
        help="a coverage-only manifest (e.g. synthetic renders): scored and tabled by variant, skin tone, view, "
        "pose, but kept out of the headline metrics (repeatable)",
    )
    e.add_argument("--thumbnails", action="store_true", help="show thumbnails of SAFE images that were blocked")
    e.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    e.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    e.add_argument("--no-videos", action="store_true", help="skip the video rows")
    e.add_argument(
        "--detectors",
        type=Path,
        metavar="FILE",
        help="detectors TOML for ours ([photo], [live]; default: shipped)",
    )


def _names(text: str) -> list[str]:
    """``--perturbations``: a comma-separated list of known perturbation names."""
    from captureguard.evaluation.perturb import PERTURBATIONS

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PERTURBATIONS]
    if unknown or not names:
        given = ", ".join(unknown) or "(none given)"
        raise argparse.ArgumentTypeError(f"unknown perturbation(s) {given}; choose from {', '.join(PERTURBATIONS)}")
    return names


def _prepare_out(out: Path) -> str | None:
    """Create ``out`` and ``out/cache``; returns an error message instead of raising."""
    try:
        (out / "cache").mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("", "utf-8")
        probe.unlink()
    except OSError as exc:
        return f"cannot write the output directory {out}: {exc.strerror or exc}; choose another with --out"
    return None


def _check_detectors(path: Path | None) -> None:
    """Build the ``--detectors`` file's photo and live detector sets once, before any work, so a bad
    file is one line here rather than an error per image in the worker processes."""
    if path is None:
        return
    from captureguard.guard.check import Checker

    for mode in ("photo", "live"):
        Checker.create(mode=mode, detectors_path=path, threads=1).close()


def run_eval(args: argparse.Namespace, *, scorers: Sequence[Any] | None = None) -> int:
    """Run ``captureguard eval``; ``scorers`` replaces the shipped configurations (tests use fakes)."""
    from captureguard.evaluation.manifest import read_manifest

    t0 = time.perf_counter()
    try:
        items = read_manifest(args.manifest)
        coverage = [i for m in getattr(args, "coverage", []) for i in read_manifest(m) if not i.is_video]
    except CaptureGuardError as exc:
        print(f"captureguard eval: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        _check_detectors(getattr(args, "detectors", None))
    except CaptureGuardError as exc:
        print(f"captureguard eval: {exc}", file=sys.stderr)
        return EXIT_ERROR
    problem = _prepare_out(args.out)
    if problem:
        print(f"captureguard eval: {problem}", file=sys.stderr)
        return EXIT_ERROR
    try:
        written = _evaluate(args, items, scorers, coverage)
    except CaptureGuardError as exc:
        print(f"captureguard eval: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"wrote {', '.join(str(p) for p in written)} in {time.perf_counter() - t0:.1f} s")
    return EXIT_OK


def _evaluate(
    args: argparse.Namespace, items: Sequence[Any], scorers: Sequence[Any] | None, coverage: Sequence[Any] = ()
) -> list[Path]:
    from captureguard.evaluation.coverage import read_attributes
    from captureguard.evaluation.plots import write_coverage_plot, write_plots
    from captureguard.evaluation.render import blocks, thumbnail_uri, to_html, to_markdown
    from captureguard.evaluation.report import build_metrics, write_metrics

    perturb = bool(args.perturb or getattr(args, "perturbations", None))
    if scorers is None:
        from captureguard.evaluation.configs import default_scorers

        scorers = default_scorers(
            perturb=perturb,
            configs=args.configs,
            detectors=args.detectors,
            perturbations=getattr(args, "perturbations", None),
        )
    result = _run_all_stills(args, items, scorers, coverage)
    if not getattr(args, "no_videos", False):
        videos = [i for i in items if i.is_video]
        progress = not args.no_progress
        result.videos, video_errors = _run_videos(videos, progress=progress, out=args.out, detectors=args.detectors)
        result.errors += video_errors
    attributes = {p: a for m in getattr(args, "coverage", []) for p, a in read_attributes(m).items()}
    doc = build_metrics(result, manifest=args.manifest, attributes=attributes)
    doc["perturb_safe"] = getattr(args, "perturb_safe", "all")
    plots = write_plots(args.out, result.stills, doc["configurations"])
    plots += write_coverage_plot(args.out, doc["coverage"])
    thumbs = {}
    if args.thumbnails:  # safe rows only: a nudity image must never be embedded
        shown = {r["path"] for c in doc["configurations"].values() for r in c["false_blocks"]}
        thumbs = {
            str(s.item.path): thumbnail_uri(s.item.path)
            for s in result.stills
            if s.item.label == "safe" and str(s.item.path) in shown
        }
    content = blocks(doc, plots, thumbs)
    out = args.out
    write_metrics(doc, out / "metrics.json")
    (out / "report.md").write_text(to_markdown(content), "utf-8")
    (out / "report.html").write_text(to_html(content), "utf-8")
    return [out / "report.md", out / "report.html", out / "metrics.json", *plots]


def _run_all_stills(
    args: argparse.Namespace, items: Sequence[Any], scorers: Sequence[Any], coverage_items: Sequence[Any]
) -> Any:
    """The manifest's and the coverage manifests' stills through the scorers; the perturbation
    scorers only on the manifest's stills (``--perturb-safe people``: its nudity and people rows)."""
    from captureguard.evaluation.coverage import is_people_photo
    from captureguard.evaluation.runner import run_stills

    stills = [i for i in items if not i.is_video]
    listed = {i.path for i in stills}
    coverage = [i for i in coverage_items if i.path not in listed]
    core = [s for s in scorers if not s.name.startswith("perturb:")]
    perturbed = [s for s in scorers if s.name.startswith("perturb:")]
    run = functools.partial(
        run_stills, cache_dir=args.out / "cache", workers=max(1, args.workers), progress=not args.no_progress
    )
    result = run([*stills, *coverage], core)
    mine = {s.path for s in coverage}
    result.coverage = [s for s in result.stills if s.item.path in mine]
    result.stills = [s for s in result.stills if s.item.path not in mine]
    if perturbed:
        people_only = getattr(args, "perturb_safe", "all") == "people"
        chosen = [i for i in stills if not people_only or i.label == "nudity" or is_people_photo(i.kind)]
        second = run(chosen, perturbed)
        result.peak_rss_kb = max(result.peak_rss_kb, second.peak_rss_kb)
        extra = {s.item.path: s.scores for s in second.stills}
        for still in result.stills:
            still.scores.update(extra.get(still.item.path, {}))
    return result


def _run_videos(
    videos: Sequence[Any], *, progress: bool, out: Path, detectors: Path | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Each video through the stream guard and the sampling baselines, in this process.

    Results are cached in ``OUT/cache/videos`` by file hash, manifest row and checker version,
    so a re-run with nothing changed decodes no video and loads no model.
    """
    if not videos:
        return [], []
    from tqdm import tqdm

    from captureguard.evaluation.configs import ours_version
    from captureguard.evaluation.video_cache import VideoCache
    from captureguard.evaluation.videos import evaluate_video
    from captureguard.guard.check import Checker

    cache = VideoCache(out / "cache" / "videos", version=f"live-{ours_version(detectors)}")
    checker: Checker | None = None
    results, errors = [], []
    try:
        for item in tqdm(videos, desc="videos", unit="video", disable=not progress, leave=False):
            try:
                cached = cache.load(item)
                if cached is not None:
                    results.append(cached)
                    continue
                checker = checker or Checker.create(mode="live", detectors_path=detectors)
                result = evaluate_video(item, checker).to_dict()
                cache.store(item, result)
                results.append(result)
            except CaptureGuardError as exc:
                errors.append({"path": str(item.path), "error": str(exc)})
    finally:
        if checker is not None:
            checker.close()
    return results, errors

"""Leak benchmark: released frames in which a nude artwork is substantially visible, end to end.

    python bench/leaks.py                 # every dev positive, every safe video (about 40 min on 2 busy cores)
    python bench/leaks.py --limit 12      # a quick look

Each dev positive (``../shared/data/eval/manifest.csv``, label ``nudity``; read in place, never
copied) is filmed once into a 720p30 clip: a safe video, the artwork over another safe video for
``--seconds`` (one of six motions: cut in, pan, zoom out, zoom in, slide in, camera shake; at one
of six scales, 10-95% of the frame's area; motion and scale rotate over the artworks), a safe
video again, joined by hard cuts, encoded with H.264 in memory. Every clip and every safe video
of the manifest runs through ``run_guarded`` with the shipped live checker (``Checker.create(
mode="live", profile="child")``, lockstep file mode like ``captureguard video``) once per
stream setting. Whole-frame checks are shared between settings (:class:`MemoChecker`).

Counted per setting: released frames in which a nude artwork fills >= 10% of the frame with
>= 60% of it in view, split by whether the photo check blocks that artwork as a still; safe
videos' withheld seconds per minute; per-frame live recall (whole-frame live checks on the
substantially visible frames). Writes ``bench/results/leaks.md`` (no pixels anywhere).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Decision
from captureguard.evaluation.leaks import (
    FILE_DEADLINE_S,
    MOTIONS,
    SCALES,
    LeakClip,
    MemoChecker,
    clip_numbers,
    make_clip,
    run_clip,
    run_source,
)
from captureguard.evaluation.manifest import VIDEO_SUFFIXES
from captureguard.guard.check import Checker
from captureguard.sources.synthetic import Shot, Still, VideoShot
from captureguard.sources.video import AvFileSource

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"
OUT = Path(__file__).resolve().parent / "results" / "leaks.md"

#: Stream evidence off (K3 over 0.5 s, every allowed check counts, no cut reopening; following as
#: shipped) vs the shipped defaults (chosen by bench/stream_calibrate.py).
PREVIOUS = replace(StreamSettings(), reopen_checks=3, reopen_s=0.5, confident_below=1.0, reopen_on_cut=False)
SETTINGS: dict[str, StreamSettings] = {
    "previous (evidence off: K3 T0.5, no margin, no cut reopening)": PREVIOUS,
    "previous, no following": replace(PREVIOUS, follow_region=False),
    "shipped": StreamSettings(),
}


@dataclass
class Tally:
    """Counts for one setting."""

    leaks_blocked: int = 0  # released substantial frames, artwork blocked as a still
    leaks_other: int = 0
    frames_blocked: int = 0  # substantial frames, artwork blocked as a still
    frames_other: int = 0
    clips: int = 0  # clips run with this setting
    clips_leaking: list[str] = field(default_factory=list)  # clips of still-blocked artworks that leaked
    safe_withheld_s: float = 0.0
    safe_minutes: float = 0.0
    per_video: dict[str, float] = field(default_factory=dict)  # withheld s/min per safe video


def manifest() -> tuple[list[dict[str, str]], list[Path]]:
    rows = list(csv.DictReader((EVAL / "manifest.csv").open()))
    nude = [r for r in rows if r["label"] == "nudity"]
    videos = [
        EVAL / r["path"]
        for r in rows
        if r["label"] == "safe" and (Path(r["path"]).suffix.lower() in VIDEO_SUFFIXES or r["kind"].startswith("video"))
    ]
    return nude, videos


def backgrounds(videos: list[Path], i: int):  # type: ignore[no-untyped-def]
    moving = [v for v in videos if v.suffix.lower() != ".gif"]

    def make(seconds: float, part: int) -> Shot:
        return VideoShot(moving[(3 * i + part) % len(moving)], seconds)

    return make


def artwork(row: dict[str, str]) -> Still:
    """Dev positive ``row`` as the still its clip is filmed from."""
    return Still.from_path(EVAL / row["path"], unsafe=True, name=Path(row["path"]).stem)


def blocked_as_still(art: Still, photo: Checker) -> bool:
    """Whether the photo check blocks the artwork itself (the leak benchmark's split)."""
    return photo.check(Frame.from_bgr(art.bgr, source=art.name)).decision is Decision.BLOCK


def build(i: int, row: dict[str, str], videos: list[Path], photo: Checker, args: argparse.Namespace) -> LeakClip | None:
    """Film dev positive ``i``; its motion and scale rotate with ``i`` (None: skipped, ``--only-blocked``)."""
    art = artwork(row)
    blocked = blocked_as_still(art, photo)
    if args.only_blocked and not blocked:
        return None
    return make_clip(
        art,
        blocked_as_still=blocked,
        background=backgrounds(videos, i),
        motion=MOTIONS[i % len(MOTIONS)],
        scale=SCALES[(i + i // len(MOTIONS)) % len(SCALES)],
        seconds=args.seconds,
        safe_s=args.safe_seconds,
    )


def clip_arguments(ap: argparse.ArgumentParser) -> None:
    """The options that choose the leak clips (shared with ``bench/stream_calibrate.py``)."""
    ap.add_argument("--limit", type=int, default=0, help="only the first N positives (0: all)")
    ap.add_argument(
        "--clips",
        default="",
        help="only these positives (comma-separated file stems; each keeps the motion and scale of its place)",
    )
    ap.add_argument("--videos", type=int, default=0, help="only the first N safe videos (0: all)")
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds the artwork is on screen per clip")
    ap.add_argument("--safe-seconds", type=float, default=0.75, help="safe video before and after it")


def wanted(row: dict[str, str], args: argparse.Namespace) -> bool:
    """Whether ``--clips`` (empty: all) names this positive's file stem."""
    names = {n for n in getattr(args, "clips", "").split(",") if n}
    return not names or Path(row["path"]).stem in names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    clip_arguments(ap)
    ap.add_argument("--start", type=int, default=0, help="skip the first N positives (split a run over processes)")
    ap.add_argument("--part", choices=("all", "clips", "videos"), default="all", help="run only part (2 processes)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--json", type=Path, default=Path("/tmp/leaks.json"), help="raw numbers (no pixels)")
    ap.add_argument("--assemble", type=Path, nargs="*", help="only write the report from these raw JSON files")
    ap.add_argument("--only-blocked", action="store_true", help="only artworks the photo check blocks as stills")
    ap.add_argument("--settings", help="comma-separated prefixes of the settings to run (default: all)")
    ap.add_argument(
        "--deadline-ms",
        type=float,
        default=0.0,
        help="hold each check to this deadline, as `captureguard video --deadline-ms` does (0: 120 s, so "
        "that the machine's speed decides nothing; with a deadline, run nothing else beside it)",
    )
    ap.add_argument("--detectors", type=Path, help="detectors TOML for the live and photo checks (default: shipped)")
    args = ap.parse_args()
    if args.settings:
        keep = [k for k in SETTINGS if any(k.startswith(p) for p in args.settings.split(","))]
        for k in set(SETTINGS) - set(keep):
            del SETTINGS[k]
    if args.assemble:
        args.out.write_text(report(assemble(args.assemble), args=args))
        print(args.out.read_text())
        return
    rows, videos = manifest()
    rows = rows[: args.limit] if args.limit else rows
    safe_videos = videos[: args.videos] if args.videos else videos
    live = MemoChecker(Checker.create(mode="live", profile="child", detectors_path=args.detectors))
    raw = {"clips": [], "videos": []}
    if args.part in ("all", "clips"):
        photo = Checker.create(mode="photo", profile="child", detectors_path=args.detectors)
        for i, row in enumerate(rows):
            if i < args.start or not wanted(row, args):
                continue
            clip = build(i, row, videos, photo, args)
            if clip is None:
                continue
            raw["clips"].append(run_clip_all(clip, live, deadline_s=deadline_s(args)))
            args.json.write_text(json.dumps(raw))
            print(f"ran {i + 1}/{len(rows)} {clip.name} still-blocked={clip.blocked_as_still}", flush=True)
            live.memo.clear()  # one clip's checks are never needed again
    if args.part in ("all", "videos"):
        for path in safe_videos:
            raw["videos"].append(run_video_all(path, live, deadline_s=deadline_s(args)))
            args.json.write_text(json.dumps(raw))
            print(f"video {path.name}", flush=True)
    args.out.write_text(report(raw, args=args))
    print(args.out.read_text())


def deadline_note(args: argparse.Namespace) -> str:
    """How the report's checks were timed."""
    if getattr(args, "deadline_ms", 0.0) > 0:
        return (
            f"each check held to {args.deadline_ms:g} ms as in `captureguard video --deadline-ms` "
            "(this machine's speed counts)"
        )
    return f"checks held to {FILE_DEADLINE_S:g} s (the machine's speed decides nothing)"


def deadline_s(args: argparse.Namespace) -> float:
    """The checks' deadline (``--deadline-ms``; 0: the file benchmarks' 120 s)."""
    return args.deadline_ms / 1e3 if args.deadline_ms > 0 else FILE_DEADLINE_S


def assemble(paths: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """Merge raw JSON files (entries of the same clip or video from runs of different settings)."""
    merged: dict[str, dict[str, dict[str, Any]]] = {"clips": {}, "videos": {}}
    for path in paths:
        part = json.loads(path.read_text())
        for key, entries in merged.items():
            for entry in part[key]:
                entries.setdefault(entry["name"], {}).update(entry)
    return {key: list(entries.values()) for key, entries in merged.items()}


def run_clip_all(clip: LeakClip, live: MemoChecker, *, deadline_s: float = FILE_DEADLINE_S) -> dict[str, object]:
    """One clip through every setting; returns its raw numbers (scores, no pixels)."""
    entry: dict[str, object] = {
        "name": clip.name,
        "blocked_as_still": clip.blocked_as_still,
        "substantial": sum(clip.substantial),
    }
    for name, settings in SETTINGS.items():
        entry[name] = clip_numbers(run_clip(clip, live, settings, deadline_s=deadline_s), clip)
    whole = live.whole(clip.name)
    entry["whole"] = {int(i): round(v.verdict.score, 4) for i, v in whole.items()}
    entry["whole_block"] = [int(i) for i, v in whole.items() if v.verdict.decision is not Decision.ALLOW]
    entry["substantial_frames"] = [i for i, s in enumerate(clip.substantial) if s]
    return entry


def run_video_all(path: Path, live: MemoChecker, *, deadline_s: float = FILE_DEADLINE_S) -> dict[str, object]:
    """One safe video through every setting: withheld frames per setting."""
    entry: dict[str, object] = {"name": path.name}
    for name, settings in SETTINGS.items():
        source = AvFileSource(path)
        fps = source.fps or 25.0
        released = run_source(source, live, settings, deadline_s=deadline_s)
        entry[name] = {"withheld": released.count(False), "frames": len(released), "fps": float(fps)}
    entry["whole"] = {int(i): round(v.verdict.score, 4) for i, v in live.whole(str(path)).items()}
    return entry


def tally(raw: dict[str, list[dict[str, Any]]]) -> dict[str, Tally]:
    """Sum the raw per-clip and per-video numbers per setting."""
    out = {name: Tally() for name in SETTINGS if all(name in e for e in (*raw["clips"], *raw["videos"]))}
    for name, t in out.items():
        for c in raw["clips"]:
            if name not in c:
                continue  # a run of some settings only (``--settings``, ``--only-blocked``)
            t.clips += 1
            leaked = c[name]["leaked"]
            if c["blocked_as_still"]:
                t.leaks_blocked += leaked
                t.frames_blocked += c["substantial"]
                if leaked:
                    t.clips_leaking.append(c["name"])
            else:
                t.leaks_other += leaked
                t.frames_other += c["substantial"]
        for v in raw["videos"]:
            if name not in v:
                continue
            r = v[name]
            withheld_s, minutes = r["withheld"] / r["fps"], r["frames"] / r["fps"] / 60
            t.safe_withheld_s += withheld_s
            t.safe_minutes += minutes
            t.per_video[v["name"]] = withheld_s / max(minutes, 1e-9)
    return out


def report(raw: dict[str, list[dict[str, Any]]], *, args: argparse.Namespace) -> str:
    """The markdown report: settings side by side on the same clips, live recall, score quantiles."""
    clips = raw["clips"]
    blocked = [c for c in clips if c["blocked_as_still"]]
    head = [k for k in SETTINGS if k.startswith(("previous", "shipped"))]
    lines = [
        "# Leak benchmark: released frames showing a substantially visible nude artwork",
        "",
        f"`python bench/leaks.py` ({time.strftime('%Y-%m-%d')}). Up to {len(clips)} clips (one per dev positive; "
        f"the photo check blocks {len(blocked)} of these artworks as stills), 720p30 H.264 in memory, the "
        f"artwork on screen {args.seconds} s between {args.safe_seconds} s of safe video; up to "
        f"{len(raw['videos'])} safe videos of the manifest. "
        f"{'Live checker of ' + str(args.detectors) if getattr(args, 'detectors', None) else 'Shipped live checker'}, "
        "child profile, lockstep file mode (like `captureguard video`), "
        f"{deadline_note(args)}. Substantially visible: the artwork fills >= 10% of the frame with "
        ">= 60% of it in view (clip geometry, not a model). Each table compares its settings on the clips and "
        "videos that ran with all of them.",
        "",
        "## Previous vs shipped stream settings",
        "",
        *table(raw, head),
        "",
        "## Every setting tried",
        "",
        *table(raw, [k for k in SETTINGS if not k.startswith("shipped")]),
        "",
        *per_motion(raw, head),
        "",
        *live_recall(raw),
        "",
        *margins(raw),
        "",
    ]
    return "\n".join(lines) + "\n"


def table(raw: dict[str, list[dict[str, Any]]], names: list[str]) -> list[str]:
    """One table of ``names`` side by side, on the clips and videos that ran with all of them."""
    sub = {key: [e for e in entries if all(n in e for n in names)] for key, entries in raw.items()}
    tallies = tally(sub)
    n_blocked = sum(1 for c in sub["clips"] if c["blocked_as_still"])
    lines = [
        f"{len(sub['clips'])} clips ({n_blocked} of artworks the photo check blocks as stills), "
        f"{len(sub['videos'])} safe videos.",
        "",
        "| setting | leaked frames, still-blocked artworks | clips leaking | leaked frames, other artworks "
        "| safe frames withheld in the clips | safe videos withheld s/min | worst safe video s/min |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        t = tallies[name]
        worst = max(t.per_video.values(), default=0.0)
        per_min = t.safe_withheld_s / max(t.safe_minutes, 1e-9)
        held = sum(c[name]["safe_withheld"] for c in sub["clips"])
        lines.append(
            f"| {name} | {t.leaks_blocked} / {t.frames_blocked} | {len(t.clips_leaking)} / {n_blocked} "
            f"| {t.leaks_other} / {t.frames_other} | {held} | {per_min:.2f} | {worst:.1f} |"
        )
    leaking = sorted({c for t in tallies.values() for c in t.clips_leaking})
    return [*lines, "", "Still-blocked artworks' clips that leaked: " + (", ".join(leaking) or "none")]


def per_motion(raw: dict[str, list[dict[str, Any]]], names: list[str]) -> list[str]:
    """Leaked frames of still-blocked (and other) artworks per clip motion, for ``names``."""
    out = ["## Per clip motion: leaked frames, still-blocked artworks (other artworks)", ""]
    out += ["| motion | clips | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    motions = sorted({c["name"].split("|")[1] for c in raw["clips"]})
    for motion in motions:
        cs = [c for c in raw["clips"] if c["name"].split("|")[1] == motion and all(n in c for n in names)]
        cells = []
        for n in names:
            still = sum(c[n]["leaked"] for c in cs if c["blocked_as_still"])
            other = sum(c[n]["leaked"] for c in cs if not c["blocked_as_still"])
            cells.append(f"{still} ({other})")
        out.append(f"| {motion} | {len(cs)} | " + " | ".join(cells) + " |")
    return out


def live_recall(raw) -> list[str]:  # type: ignore[no-untyped-def]
    out = ["## Per-frame live recall (whole-frame live checks on substantially visible frames)", ""]
    out += ["| artworks | checked frames | blocked by the live check |", "|---|---:|---:|"]
    for label, want in (("blocked as stills", True), ("not blocked as stills", False)):
        n = hit = 0
        for c in raw["clips"]:
            if c["blocked_as_still"] is not want:
                continue
            subst = set(c["substantial_frames"])
            checked = [i for i in c["whole"] if int(i) in subst]
            n += len(checked)
            hit += sum(1 for i in checked if int(i) in set(c["whole_block"]))
        out.append(f"| {label} | {n} | {hit} ({hit / max(n, 1):.0%}) |")
    return out


def margins(raw) -> list[str]:  # type: ignore[no-untyped-def]
    missed = []
    for c in raw["clips"]:
        if not c["blocked_as_still"]:
            continue
        subst, blocks = set(c["substantial_frames"]), set(c["whole_block"])
        missed += [s for i, s in c["whole"].items() if int(i) in subst and int(i) not in blocks]
    safe = [s for v in raw["videos"] for s in v["whole"].values()]

    def q(values: list[float], p: float) -> str:
        if not values:
            return "-"
        values = sorted(values)
        return f"{values[min(len(values) - 1, int(p * len(values)))]:.3f}"

    return [
        "## Fused live scores (for the margin): whole-frame checks the live path allowed",
        "",
        "| frames | n | p10 | p25 | p50 | p75 | p90 | p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| substantially visible, still-blocked artworks, allowed (misses) | {len(missed)} | "
        + " | ".join(q(missed, p) for p in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99))
        + " |",
        f"| safe videos (all checks) | {len(safe)} | "
        + " | ".join(q(safe, p) for p in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99))
        + " |",
    ]


if __name__ == "__main__":
    main()

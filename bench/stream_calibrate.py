"""Choose the stream evidence settings (K, T, margin, cut reopening) from leak clips and safe videos.

    python bench/stream_calibrate.py                      # all dev positives and safe videos (~30-40 min)
    python bench/stream_calibrate.py --from-json /tmp/stream_calibrate.json   # re-choose, no models
    python bench/stream_calibrate.py --apply              # ...and write the choice into the defaults
    python bench/stream_calibrate.py --from-json RAW --restill   # the photo path changed, the live one not

Re-run it whenever the live models or the live head change: it measures with the **current** live
checker (``Checker.create(mode="live", profile="child")``) and nothing in it holds a score. The
margin is a fraction of the live block threshold (``StreamSettings.confident_below``: a safe check
counts towards reopening only below ``margin x block_score``), so it moves with the head.

The clips are those of ``bench/leaks.py`` (one per dev positive: six motions at six scales over
the safe videos, 720p30 H.264 in memory; the same build, so the numbers compare). Each clip and
each safe video is decoded once and played through the real :class:`StreamGuard` (lockstep file
mode, as ``captureguard video``) once per candidate; whole-frame checks do not depend on the
candidate, so :class:`SecondLookMemo` runs each once (crop checks while shut, and the second look's
crop checks, are memoised too).

The grid: the shipped settings with ``(reopen_checks, reopen_s)`` in ``--kt``, ``confident_below``
in ``--margins``, ``reopen_on_cut`` in ``--cut`` and the warn rule in ``--warn`` (``shut``: every
warn shuts, ``withhold``: none does, ``runN``: ``warn_run`` N; default ``shut,run2,run4``; following as
shipped) and the recording hold-back in ``--hold`` (``hold_s``; ``flag:S`` for ``hold_after = "flag"``;
default ``0``, none, as a viewfinder's). The rule (no single
file decides it; only totals are compared):

1. safe videos: withheld s/min at most the baseline's (``--baseline``: margin 1.0, no cut
   reopening, K3 T0.5; or ``--budget`` s/min, e.g. what the models shipped before withheld in their
   own run) plus ``--slack`` of it (default 10%, at least 0.25 s/min): longer evidence may cost a
   little more withholding, not much more;
2. photos of people (the dev set's safe ``face_closeup``, ``portrait``, ``people_*``, ``person_*``,
   ``shirtless_sports`` stills, live check): at most ``--unsure-max`` (0.5%) of them allowed but
   *not* confident under the margin. A camera held on such a scene after a block could never
   reopen (no count of confident checks, no new scene), which is worse than a false block (that
   ends with the scene): half the issue's 1% false-block budget for photos of people. (Under the
   v2 head a suited portrait at 0.34 did exactly that with margin 0.5);
3. a second look (``--picture`` rule, v2.10) only if the dev stills stay within the live
   false-block budget with it (``bench/second_look.py``: <= 1% of the safe stills pooled and of the
   people photos blocked, out of fold; the report marks the others);
4. among those, fewest released substantially visible frames of artworks the photo check blocks
   as stills; then fewest safe-video s/min; then fewest leaked frames of the other artworks; then
   fewest safe frames withheld in the clips; then the smaller K, T and the larger margin.

Writes ``bench/results/stream_calibration.md`` and raw numbers (no pixels) to ``--json``
(``--from-json`` on a file without the people photos' scores computes them, ~2 min).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.second_look import PictureRule
from captureguard.core.verdict import Decision
from captureguard.errors import ConfigError
from captureguard.evaluation.leaks import SecondLookMemo, clip_numbers, run_source
from captureguard.guard.check import Checker, PictureCheck
from captureguard.sources.image import load_image
from captureguard.sources.video import AvFileSource
from held_out import HeldOut
from leaks import (  # bench/leaks.py: the same clips
    EVAL,
    artwork,
    blocked_as_still,
    build,
    clip_arguments,
    manifest,
    wanted,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "stream_calibration.md"
LEDGER = ROOT / "src" / "captureguard" / "core" / "ledger.py"
PEOPLE_KINDS = ("face_closeup", "portrait", "people_", "person_", "shirtless_sports")
Raw = dict[str, list[dict[str, Any]]]


class Frames:
    """A decoded stream held in memory (a :class:`~captureguard.sources.Source` played many times)."""

    live = False

    def __init__(self, frames: list[Frame], *, fps: float, name: str) -> None:
        self.frames, self.fps, self.name = frames, fps, name

    def __iter__(self) -> Iterator[Frame]:
        return iter(self.frames)

    def close(self) -> None:
        """Nothing to release."""


#: a candidate's second look: ``(rule, off)`` for :meth:`SecondLookMemo.with_rule` (None, False: the
#: live check's own, as configured)
Look = tuple[PictureRule | None, bool]
NO_SECOND_LOOK = " no-second-look"


def pictures(args: argparse.Namespace) -> dict[str, Look]:
    """Name suffix -> the live check's second look, in ``--picture`` order (the first is the
    baseline's): ``shipped`` (the live check as configured; no suffix), ``off`` (without it) or
    ``[MODE[@PEOPLE]:]F/S/O[/R[@MS]]`` (the crop's check and its people's input size, from score,
    min share, offset, refine share and its time limit of
    :class:`~captureguard.core.second_look.PictureRule`; the limit is applied to each check's
    recorded times, as the live check applies it to its own)."""
    out: dict[str, Look] = {}
    for spec in getattr(args, "picture", "shipped").split(","):
        if spec == "shipped":
            out[""] = (None, False)
        elif spec == "off":
            out[NO_SECOND_LOOK] = (None, True)
        else:
            try:
                rule = PictureRule.from_spec(spec)
            except ConfigError:
                raise SystemExit(
                    "--picture values are 'shipped', 'off' or"
                    f" [MODE[@PEOPLE]:]FROM/MIN_SHARE/OFFSET[/REFINE[@WITHIN_MS]], got {spec!r}"
                ) from None
            out[f" pic{rule.spec}"] = (rule, False)
    return out


def inner_bases(live: Checker, looks: dict[str, Look]) -> dict[str, Checker | None]:
    """The crop checks (:attr:`PictureRule.inner`) the ``--picture`` rules name besides ``live``'s
    configured one, built once: ``live`` (None: ``live``'s own full set, taken per checker) and
    ``photo[@PEOPLE]`` (the photo check, its people at that input size), sharing ``live``'s detectors."""
    configured = live.picture.rule.inner if live.picture is not None else "photo"
    out: dict[str, Checker | None] = {}
    for key in sorted({rule.inner for rule, _ in looks.values() if rule is not None} - {configured}):
        mode, people = PictureRule.split_inner(key)  # a rule's own key: well formed
        if key == "live":
            out[key] = None
        elif mode == "photo":
            out[key] = Checker.create(mode="photo", profile="child", reuse=live, people_input=people)
        else:
            raise SystemExit(f"--picture: a second look of {key!r} is not measured here (photo, photo@PEOPLE, live)")
    return out


def inner_checks(
    live: Checker, bases: dict[str, Checker | None], held: HeldOut | None = None, fold: int = 0
) -> dict[str, Checker]:
    """The crop checks of :func:`inner_bases` for ``live`` (mode ``live``: its own full set, no
    cascade, no second look); with ``held``, the photo checks with fold ``fold``'s models."""
    out = {}
    for key, base in bases.items():
        if base is None:
            out[key] = dataclasses.replace(live, first=None, picture=None)
        else:
            out[key] = held.checker(base, "photo", fold) if held is not None else base
    return out


def look_of(name: str, looks: dict[str, Look]) -> Look:
    """The second look of candidate ``name`` (by its suffix; none: as configured)."""
    return next((look for suffix, look in looks.items() if suffix and name.endswith(suffix)), (None, False))


def candidates(args: argparse.Namespace) -> dict[str, StreamSettings]:
    """Name -> settings: the shipped ones with K/T, margin and cut reopening from the grid, each
    with every second look of ``--picture`` (its name suffix, :func:`pictures`)."""
    base = StreamSettings()
    out: dict[str, StreamSettings] = {}
    looks = pictures(args)
    for kt in args.kt.split(","):
        k, t = kt.split("/")
        for m in args.margins.split(","):
            for cut in args.cut.split(","):
                for warn in args.warn.split(","):
                    for hold in args.hold.split(","):
                        s = dataclasses.replace(
                            base,
                            reopen_checks=int(k),
                            reopen_s=float(t),
                            confident_below=float(m),
                            reopen_on_cut=cut == "on",
                            warn_shuts=_warn_shuts(warn),
                            warn_run=_warn_run(warn),
                            warn_window=_warn_window(warn),
                            **_hold(hold),
                        )
                        for suffix in looks:
                            out[name_of(s) + suffix] = s
    out.setdefault(baseline_name(args), baseline(args))
    return out


def _hold(value: str) -> dict[str, Any]:
    """``S`` or ``flag:S``: the recording hold-back (``hold_s``, ``hold_after``; 0: none)."""
    after, _, secs = value.rpartition(":")
    try:
        if after not in ("", "flag"):
            raise ValueError(after)
        return {"hold_s": float(secs), "hold_after": after or "shut"}
    except ValueError:
        raise SystemExit(f"--hold values are S or flag:S (seconds), got {value!r}") from None


def _warn_shuts(value: str) -> bool:
    run, slash, window = value[3:].partition("/")
    runs = value.startswith("run") and run.isdigit() and (not slash or window.isdigit())
    if value not in ("shut", "withhold") and not runs:
        raise SystemExit(f"--warn values are 'shut', 'withhold', 'runN' and 'runN/M', got {value!r}")
    return value != "withhold"


def _warn_run(value: str) -> int:
    """``runN``: a warn shuts the stream when it ends N flagged checks in a row (``warn_run``);
    ``runN/M``: ...or when N of the last M checks were flagged (``warn_window``)."""
    return int(value[3:].partition("/")[0]) if value.startswith("run") else 1


def _warn_window(value: str) -> int:
    return int(value.partition("/")[2] or 0) if value.startswith("run") else 0


def baseline(args: argparse.Namespace) -> StreamSettings:
    k, t, m, cut, *warn = args.baseline.split(",")
    return dataclasses.replace(
        StreamSettings(),
        reopen_checks=int(k),
        reopen_s=float(t),
        confident_below=float(m),
        reopen_on_cut=cut == "on",
        warn_shuts=_warn_shuts(warn[0] if warn else "shut"),
        warn_run=_warn_run(warn[0] if warn else "shut"),
        warn_window=_warn_window(warn[0] if warn else "shut"),
    )


def baseline_name(args: argparse.Namespace) -> str:
    """The baseline's name: its settings, with the first ``--picture`` second look."""
    return name_of(baseline(args)) + next(iter(pictures(args)))


def name_of(s: StreamSettings) -> str:
    """The setting's name in reports and raw numbers (warns shutting the stream, as before, unnamed)."""
    name = f"K{s.reopen_checks} T{s.reopen_s:g} margin{s.confident_below:g} cut-{'on' if s.reopen_on_cut else 'off'}"
    if not s.warn_shuts:
        name = f"{name} warn-withhold"
    elif s.warn_run != 1:
        name = f"{name} warn-run{s.warn_run}"
    if s.warn_shuts and s.warn_window > s.warn_run:
        name = f"{name}of{s.warn_window}"
    if s.hold_s:
        name += f" hold{'-flag' if s.hold_after == 'flag' else ''}{s.hold_s:g}"
    return name


def measure(args: argparse.Namespace, grid: dict[str, StreamSettings]) -> Raw:
    """Run every clip and safe video through every candidate; raw counts per candidate."""
    rows, videos = manifest()
    rows = rows[: args.limit] if args.limit else rows
    shipped = Checker.create(mode="live", profile="child")
    photo = Checker.create(mode="photo", profile="child", reuse=shipped)
    configured = shipped.picture is not None
    if not configured:  # rules measured on a live check configured without a second look
        shipped = dataclasses.replace(shipped, picture=PictureCheck(PictureRule(), photo))
    looks = pictures(args)

    def run_all(frames: Frames, memo: SecondLookMemo) -> dict[str, list[bool]]:
        """Each candidate's releases."""
        out = {}
        for name, settings in grid.items():
            rule, off = look_of(name, looks)
            off = off or (rule is None and not configured)  # "shipped" without one: none
            out[name] = run_source(frames, memo.with_rule(rule, off=off), settings)
        return out

    bases = inner_bases(shipped, looks)
    live = SecondLookMemo(shipped, inners=inner_checks(shipped, bases))
    held = HeldOut.load(stills_only=args.held_out == "stills-only") if args.held_out else None
    raw: Raw = {"clips": [], "videos": [], "block_score": [live.block_score]}  # type: ignore[list-item]
    raw["held_out"] = [args.held_out or ""]  # type: ignore[list-item]
    started = time.monotonic()
    for i, row in enumerate(rows):
        if not wanted(row, args):
            continue
        if held is not None:  # this artwork's fold: models fitted without it
            fold = held.fold(row["path"])
            clip = build(i, row, videos, held.checker(photo, "photo", fold), args)
            folded = held.checker(shipped, "live", fold)
            live = SecondLookMemo(folded, inners=inner_checks(folded, bases, held, fold))
        else:
            clip = build(i, row, videos, photo, args)
        if clip is None:
            continue
        frames = Frames(list(clip.source()), fps=clip.fps, name=clip.name)
        entry: dict[str, Any] = {
            "name": clip.name,
            "motion": clip.motion,
            "scale": clip.scale,
            "blocked_as_still": clip.blocked_as_still,
            "substantial": sum(clip.substantial),
        }
        for name, released in run_all(frames, live).items():
            entry[name] = clip_numbers(released, clip)
        raw["clips"].append(entry)
        live.clear()
        print(f"clip {i + 1}/{len(rows)} {clip.name} ({time.monotonic() - started:.0f} s)", flush=True)
        args.json.write_text(json.dumps(raw))
    live = SecondLookMemo(shipped, inners=inner_checks(shipped, bases))  # safe videos: never fitted on
    for path in [] if args.no_videos else videos[: args.videos] if args.videos else videos:
        source = AvFileSource(path)
        fps = source.fps or 25.0
        frames = Frames(list(source), fps=fps, name=str(path))
        source.close()
        entry = {"name": path.name, "frames": len(frames.frames), "fps": float(fps)}
        for name, released in run_all(frames, live).items():
            entry[name] = {"withheld": released.count(False)}
        raw["videos"].append(entry)
        live.clear()
        print(f"video {path.name} ({time.monotonic() - started:.0f} s)", flush=True)
        args.json.write_text(json.dumps(raw))
    return raw


def restill(raw: Raw, *, held_out: str = "") -> int:
    """Re-decide every clip's ``blocked_as_still`` with the current photo check (``held_out``: each
    artwork by the photo models fitted without its fold), keeping the live numbers: for a change of
    the photo path alone. Returns how many clips changed side.

    Raises:
        SystemExit: the clips are not those of the manifest's positives, in order.
    """
    rows, _ = manifest()
    if [c["name"].split("|")[0] for c in raw["clips"]] != [Path(r["path"]).stem for r in rows]:
        raise SystemExit("--restill: the raw clips are not the manifest's positives in order")
    photo = Checker.create(mode="photo", profile="child")
    held = HeldOut.load(stills_only=held_out == "stills-only") if held_out else None
    changed = 0
    for row, clip in zip(rows, raw["clips"], strict=True):
        check = held.checker(photo, "photo", held.fold(row["path"])) if held is not None else photo
        blocked = blocked_as_still(artwork(row), check)
        changed += blocked != clip["blocked_as_still"]
        clip["blocked_as_still"] = blocked
    print(f"--restill: {changed} of {len(rows)} artworks changed side", flush=True)
    return changed


def people_scores(*, held_out: str = "") -> list[dict[str, Any]]:
    """Live verdicts (allowed, fused score) of the dev set's safe photos of people (``held_out``:
    each by the models fitted without its fold)."""
    rows = list(csv.DictReader((EVAL / "manifest.csv").open()))
    people = [r for r in rows if r["label"] == "safe" and r["kind"].startswith(PEOPLE_KINDS)]
    live = Checker.create(mode="live", profile="child")
    held = HeldOut.load(stills_only=held_out == "stills-only") if held_out else None
    out = []
    for r in people:
        check = held.checker(live, "live", held.fold(r["path"])) if held is not None else live
        verdict = check.check(load_image(EVAL / r["path"]))
        out.append({"kind": r["kind"], "allowed": verdict.decision is Decision.ALLOW, "score": round(verdict.score, 4)})
    print(f"{len(out)} photos of people checked", flush=True)
    return out


def unsure_share(raw: Raw, settings: StreamSettings) -> float:
    """Share of the people photos allowed but not confident under ``settings``' margin."""
    block = float(raw["block_score"][0])
    people = raw["people"]
    unsure = sum(1 for p in people if p["allowed"] and p["score"] >= settings.confident_below * block)
    return unsure / max(len(people), 1)


def totals(raw: Raw, name: str) -> dict[str, float]:
    """One candidate's totals over the clips and videos that ran with it."""
    clips = [c for c in raw["clips"] if name in c]
    videos = [v for v in raw["videos"] if name in v]
    minutes = sum(v["frames"] / v["fps"] for v in videos) / 60
    withheld_s = sum(v[name]["withheld"] / v["fps"] for v in videos)
    return {
        "leaked_blocked": sum(c[name]["leaked"] for c in clips if c["blocked_as_still"]),
        "frames_blocked": sum(c["substantial"] for c in clips if c["blocked_as_still"]),
        "clips_leaking": sum(1 for c in clips if c["blocked_as_still"] and c[name]["leaked"]),
        "leaked_other": sum(c[name]["leaked"] for c in clips if not c["blocked_as_still"]),
        "frames_other": sum(c["substantial"] for c in clips if not c["blocked_as_still"]),
        "clip_safe_withheld": sum(c[name]["safe_withheld"] for c in clips),
        "safe_s_per_min": withheld_s / max(minutes, 1e-9),
        "worst_video_s_per_min": max((v[name]["withheld"] * 60 / v["frames"] for v in videos), default=0.0),
    }


def within(raw: Raw, grid: dict[str, StreamSettings], base: str, args: argparse.Namespace) -> list[str]:
    """The candidates within the rule's safe-video allowance and people-photo limit, and whose second
    look keeps the dev stills within the live false-block budget (``over_budget``: the others)."""
    t = {name: totals(raw, name) for name in grid}
    return [
        n
        for n in grid
        if t[n]["safe_s_per_min"] <= allowance(t[base]["safe_s_per_min"], args) + 1e-9
        and unsure_share(raw, grid[n]) <= args.unsure_max + 1e-9
        and n not in getattr(args, "over_budget", ())
    ]


def over_budget(grid: dict[str, StreamSettings], args: argparse.Namespace) -> set[str]:
    """Candidates whose second look (an ``F/S/O`` rule) blocks more than 1% of the dev safe stills,
    pooled or of the people photos, out of fold (``bench/second_look.py``, its cached looks)."""
    looks = pictures(args)
    rules = {suffix: rule for suffix, (rule, _) in looks.items() if rule is not None}
    if not rules:
        return set()
    import second_look  # bench/second_look.py: held-out models, only when rules are compared

    fails = {suffix for suffix, rule in rules.items() if not second_look.within_budget(rule)}
    return {n for n in grid if any(n.endswith(suffix) for suffix in fails)}


def choose(raw: Raw, grid: dict[str, StreamSettings], base: str, args: argparse.Namespace) -> str:
    """The rule of the module docstring; the baseline when no candidate is within the allowance
    (a ``--budget`` that every setting of these models exceeds; the report says so)."""
    t = {name: totals(raw, name) for name in grid}
    allowed = within(raw, grid, base, args)
    if not allowed:
        return base
    s = grid

    def key(n: str) -> tuple[float, ...]:
        x = t[n]
        return (
            x["leaked_blocked"],
            round(x["safe_s_per_min"], 2),
            x["leaked_other"],
            x["clip_safe_withheld"],
            s[n].reopen_checks,
            s[n].reopen_s,
            -s[n].confident_below,
        )

    return min(allowed, key=key)


def allowance(base_s_per_min: float, args: argparse.Namespace) -> float:
    """The most safe-video s/min a candidate may withhold: the baseline's plus the slack (with
    ``--budget``, that many s/min plus the slack: the version shipped before, measured in its own run)."""
    base = args.budget if args.budget is not None else base_s_per_min
    return float(base + max(args.slack_min, args.slack * base))


def report(raw: Raw, grid: dict[str, StreamSettings], base: str, chosen: str, args: argparse.Namespace) -> str:
    block = raw.get("block_score", ["?"])[0]
    n_blocked = sum(1 for c in raw["clips"] if c["blocked_as_still"])
    command = " ".join(["python bench/stream_calibrate.py", *sys.argv[1:]])
    lines = [
        "# Stream evidence calibration: K, T, margin and cut reopening on leak clips and safe videos",
        "",
        f"`{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). "
        + (
            f"**Held out ({raw['held_out'][0]})**: each clip (and each photo of a person) checked with the probe"
            " and heads fitted without its fold (bench/held_out.py; the live and photo checks otherwise as"
            " shipped); the safe videos with the shipped models. "
            if raw.get("held_out", [""])[0]
            else "Live checker as shipped at the time (in-sample for the dev artworks the clips are filmed from). "
        )
        + f"Child profile, block score {block}; {len(raw['clips'])} clips "
        f"({n_blocked} of artworks the photo check blocks as stills), {len(raw['videos'])} safe videos. "
        "Leaked: released frames in which the artwork fills >= 10% of the frame with >= 60% of it in view. "
        f"Rule: safe videos within {'the baseline' if args.budget is None else f'{args.budget:g} s/min'}"
        f" + {args.slack:.0%} (at least + {args.slack_min} s/min) and "
        f"at most {args.unsure_max:.1%} of "
        f"the {len(raw['people'])} photos of people allowed but above the margin, then fewest leaks of "
        "still-blocked artworks, then fewest safe-video s/min (bench/stream_calibrate.py docstring).",
        "",
        f"**Chosen: {chosen}** (baseline: {base})."
        + ("" if within(raw, grid, base, args) else " No setting is within the allowance: the baseline is kept."),
        "",
        "| setting | leaked frames, still-blocked artworks | clips leaking | leaked frames, other artworks "
        "| safe frames withheld in the clips | safe videos withheld s/min | worst safe video s/min "
        "| people photos above the margin |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    order = sorted(grid, key=lambda n: (n != base, n != chosen, n))
    for n in order:
        x = totals(raw, n)
        mark = " (baseline)" if n == base else " (chosen)" if n == chosen else ""
        mark += " (over the stills budget)" if n in getattr(args, "over_budget", ()) else ""
        lines.append(
            f"| {n}{mark} | {x['leaked_blocked']} / {x['frames_blocked']} | {x['clips_leaking']} / {n_blocked} "
            f"| {x['leaked_other']} / {x['frames_other']} | {x['clip_safe_withheld']} | {x['safe_s_per_min']:.2f} "
            f"| {x['worst_video_s_per_min']:.1f} | {unsure_share(raw, grid[n]):.1%} |"
        )
    lines += ["", *by_kind(raw, base, chosen, "motion"), "", *by_kind(raw, base, chosen, "scale"), ""]
    lines += ["Safe videos withheld (s/min), baseline -> chosen, where either is above 0:", ""]
    for v in raw["videos"]:
        minutes = v["frames"] / v["fps"] / 60
        a, b = (v[n]["withheld"] / v["fps"] / minutes for n in (base, chosen))
        if a or b:
            lines.append(f"- {v['name']}: {a:.1f} -> {b:.1f}")
    return "\n".join(lines) + "\n"


def by_kind(raw: Raw, base: str, chosen: str, kind: str) -> list[str]:
    """Leaks and clip withholding per motion (or scale), baseline vs chosen."""
    values = sorted({c[kind] for c in raw["clips"]}, key=str)
    out = [
        f"Per {kind} (baseline -> chosen):",
        "",
        f"| {kind} | clips (still-blocked) | leaked, still-blocked | leaked, other "
        "| safe frames withheld in the clips |",
        "|---|---:|---:|---:|---:|",
    ]
    for value in values:
        cs = [c for c in raw["clips"] if c[kind] == value and base in c and chosen in c]
        nb = sum(c["blocked_as_still"] for c in cs)

        def s(n: str, *, still: bool, cs: list[dict[str, Any]] = cs) -> int:
            return sum(c[n]["leaked"] for c in cs if c["blocked_as_still"] is still)

        held = [sum(c[n]["safe_withheld"] for c in cs) for n in (base, chosen)]
        out.append(
            f"| {value} | {len(cs)} ({nb}) | {s(base, still=True)} -> {s(chosen, still=True)} "
            f"| {s(base, still=False)} -> {s(chosen, still=False)} | {held[0]} -> {held[1]} |"
        )
    return out


def apply(settings: StreamSettings) -> None:
    """Write the chosen K, T, margin, cut reopening and warn rule into the defaults of ``StreamSettings``."""
    whole = LEDGER.read_text()
    start = whole.index("class StreamSettings:")
    end = whole.index("def __post_init__", start)  # only StreamSettings' own fields
    text = whole[start:end]
    values = {
        "reopen_checks: int": str(settings.reopen_checks),
        "reopen_s: float": repr(settings.reopen_s),
        "confident_below: float": repr(settings.confident_below),
        "reopen_on_cut: bool": str(settings.reopen_on_cut),
        "warn_shuts: bool": str(settings.warn_shuts),
        "warn_run: int": str(settings.warn_run),
    }
    for field_, value in values.items():
        text, n = re.subn(rf"^(    {re.escape(field_)} = ).*$", rf"\g<1>{value}", text, count=1, flags=re.M)
        if n != 1:
            raise SystemExit(f"cannot find the default of {field_} in {LEDGER}")
    LEDGER.write_text(whole[:start] + text + whole[end:])
    print(f"wrote {name_of(settings)} into {LEDGER.relative_to(ROOT)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    clip_arguments(ap)
    ap.add_argument("--kt", default="2/0.25,3/0.5,4/0.75,5/1.0", help="K/T pairs (checks/seconds)")
    ap.add_argument("--margins", default="1.0,0.9,0.8,0.7,0.6,0.5", help="confident_below values (x block score)")
    ap.add_argument("--cut", default="off,on", help="reopen_on_cut values")
    ap.add_argument(
        "--warn",
        default="shut,run2,run4",
        help="warn rules: 'shut' (a warn shuts the stream like a block), 'withhold' (only its frame),"
        " 'runN' (a warn shuts when it ends N flagged checks in a row: warn_run)",
    )
    ap.add_argument(
        "--hold",
        default="0",
        help="recording hold-backs (StreamSettings.hold_s): seconds, or flag:SECONDS to take frames back"
        " before any flagged check instead of only a shut stream; 0: none (the viewfinder's)",
    )
    ap.add_argument(
        "--picture",
        default="shipped",
        help="the live check's second look (the photo check on the located picture): 'shipped' (as"
        " configured), 'off' and/or [MODE[@PEOPLE]:]FROM/MIN_SHARE/OFFSET[/REFINE[@WITHIN_MS]] rules"
        " (core.second_look.PictureRule; MODE: the crop's check, photo or live: the live check's full set;"
        " PEOPLE: the photo check's people read at that input size;"
        " WITHIN_MS: the tighter crop's time limit, on each check's recorded times); the first is the baseline's",
    )
    ap.add_argument("--baseline", default="3,0.5,1.0,off", help="K,T,margin,cut[,warn] of the baseline")
    ap.add_argument("--slack", type=float, default=0.10, help="extra safe-video s/min allowed (share of baseline)")
    ap.add_argument(
        "--budget",
        type=float,
        help="safe-video s/min to hold to instead of the baseline's (plus the slack): e.g. what the shipped"
        " models withheld in their own run, when the models change",
    )
    ap.add_argument("--slack-min", type=float, default=0.25, help="...but at least this many s/min")
    ap.add_argument("--unsure-max", type=float, default=0.005, help="people photos allowed but above the margin")
    ap.add_argument("--json", type=Path, default=Path("/tmp/stream_calibrate.json"), help="raw numbers (no pixels)")
    ap.add_argument("--from-json", type=Path, help="choose from these raw numbers (no models run)")
    ap.add_argument(
        "--restill",
        action="store_true",
        help="with --from-json: re-decide which artworks the photo check blocks as stills with the current photo"
        " path, keeping the live numbers (valid only when the live models are those the numbers were measured with)",
    )
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--apply", action="store_true", help="write the choice into StreamSettings' defaults")
    ap.add_argument("--no-videos", action="store_true", help="only the leak clips (no safe videos: s/min not measured)")
    ap.add_argument(
        "--held-out",
        choices=("shipped", "stills-only"),
        help="check each clip and people photo with the probe and heads fitted without its fold (bench/held_out.py):"
        " as shipped, or the stills-only baseline (fit_heads.py --stills-only)",
    )
    args = ap.parse_args()
    args.only_blocked = False
    grid = candidates(args)
    raw = json.loads(args.from_json.read_text()) if args.from_json else measure(args, grid)
    if args.restill:
        if not args.from_json:
            raise SystemExit("--restill re-decides the photo side of raw numbers: use it with --from-json")
        restill(raw, held_out=str(raw.get("held_out", [""])[0]))
        args.json.write_text(json.dumps(raw))
    if "people" not in raw:
        raw["people"] = people_scores(held_out=str(raw.get("held_out", [""])[0]))
        args.json.write_text(json.dumps(raw))
    grid = {n: s for n, s in grid.items() if all(n in e for e in (*raw["clips"], *raw["videos"]))}
    base = baseline_name(args)
    args.over_budget = over_budget(grid, args)
    chosen = choose(raw, grid, base, args)
    args.out.write_text(report(raw, grid, base, chosen, args))
    print(args.out.read_text())
    if args.apply:
        apply(grid[chosen])


if __name__ == "__main__":
    main()

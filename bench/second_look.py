"""The live check's second look on the dev stills and scene copies, out of fold: which rules keep the budget.

The second look (``captureguard.core.second_look``) runs the photo check on the picture locator's
outer box when the live check is unsure. On camera frames with a small nude artwork it finds what
the live check misses (the held-out leak clips, ``bench/stream_calibrate.py --picture``); on the
dev stills it can add false blocks: a face photo's crop blown up, a safe painting the photo check
blocks. This measures, for a grid of rules (:class:`~captureguard.core.second_look.PictureRule`:
``from_score``, ``min_share``, ``offset``, ``refine``: the tighter crop, measured after v2.10 and off as
shipped; ``live:`` rules read the crop with the live check's own full set), the live check's blocks
with the second look on

* the 1,828 dev stills (74 nude artworks; 1,754 safe, 681 of them photos of people, 99 artworks),
* their 2,050 scene copies (``tools/detect_v2/scenes.py``: every still pasted at 10-50% of a
  720p frame),

each checked by the live and photo models fitted without its fold (``bench/held_out.py``), so
every number is out of fold. A rule is **within budget** when the live check with it blocks at
most 1% of the safe stills pooled and of the people photos (``evaluate.threshold_for``'s count,
the issue's live target), like the live check alone.

Per still and scene the live score, the crop check's score and the box's share of the frame, and
the tighter crop's score and share of the crop (when under ``REFINE_MAX``), are computed once (the
loosest rule: every frame with a located picture) and cached in ``$CG_V2_CACHE/second_look/`` (~25
min on 2 cores the first time, per crop check; again after the fold models are re-fitted); the
table then takes seconds.

    python bench/second_look.py                      # the table, bench/results/second_look.md
    python bench/second_look.py --rules 0.05/0.2/1.39,0.1/0.2/0.85,0.05/0.2/1.39/0.7,live:0.05/0.2/1.5
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: `tools.*`

from tools.calibrate_fusion import DEFAULT_MANIFEST, load_frame, read_manifest
from tools.detect_v2 import evaluate, fit_heads, scenes

from captureguard.core.frame import Frame
from captureguard.core.second_look import PictureRule
from captureguard.core.verdict import Decision
from captureguard.errors import ConfigError
from captureguard.guard.check import Checker, PictureCheck
from held_out import HeldOut

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "second_look.md"
CACHE = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache")) / "second_look"
#: the largest refine share measured: the tighter crop is read (and cached) when under it
REFINE_MAX = 0.9
RULES = (
    "0.05/0.2/0,0.05/0.2/0.85,0.05/0.2/1.39,0.05/0.2/2.2,0.1/0.2/1.39,0.2/0.2/1.39,0.05/0/1.39,0/0.2/1.39,0/0/0,"
    "0.05/0.2/1.39/0.5,0.05/0.2/1.39/0.7,0.05/0.2/1.39/0.9,0.05/0.2/2/0.7"
)
#: one row per still or scene: [live score, live blocked, crop score (None: no picture), box share,
#: the tighter crop's score (None: not read), the picture located in the crop's share of the crop]
Rows = list[list[Any]]


def looks(which: str, inners: Sequence[str] = ("photo",), *, tighter: bool = True) -> dict[str, Rows]:
    """Per dev still (``stills``) or scene copy (``scenes``), in manifest / plan order, the fold
    models' live verdict and each ``inners`` check (:attr:`PictureRule.inner`: ``photo``, or
    ``photo@PEOPLE`` with its people read at that input size; ``live``: the live check's full set,
    without its cascade) of the located picture, by inner check. Each is cached in its own file;
    the missing ones are computed in one pass (the live check once per still). ``tighter``: the
    tighter crops are read too (False: left out, faster; their columns None, and only rules without
    ``refine`` may read those rows; a cache with them serves either way)."""
    for inner in inners:
        mode, people = split(inner)
        if mode not in ("photo", "live") or (people and mode != "photo"):
            raise SystemExit(f"a crop check of {inner!r} is not measured here (photo, photo@PEOPLE, live)")
    items = read_manifest(DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    base = [it.sha256[:12] for it in items] + [f"{int(f)}" for f in d.folds] + [fold_models_id()]
    full, light = [*base, f"refine<{REFINE_MAX}"], [*base, "refine<0"]
    out: dict[str, Rows] = {}
    for inner in inners:
        path = cache_path(which, inner)
        cached = json.loads(path.read_text()) if path.exists() else {}
        if cached.get("version") == full or (not tighter and cached.get("version") == light):
            out[inner] = list(cached["rows"])
    missing = [inner for inner in dict.fromkeys(inners) if inner not in out]
    if missing:
        computed = compute_looks(which, missing, tighter=tighter)
        CACHE.mkdir(parents=True, exist_ok=True)
        for inner, rows in computed.items():
            cache_path(which, inner).write_text(json.dumps({"version": full if tighter else light, "rows": rows}))
        out |= computed
    return out


def fold_models_id() -> str:
    """A short hash of the fold heads file (``make calibrate`` re-fits it with the probes and locators
    under it): rows cached with other fold models are computed again. A re-fit with other BLAS kernels
    or package versions moves the numbers (docs/accuracy.md, "After v2.10, fourth"; pinned since)."""
    path = fit_heads.FOLD_HEADS
    return "heads:" + (hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else "none")


def compute_looks(which: str, missing: Sequence[str], *, tighter: bool) -> dict[str, Rows]:
    """:func:`looks`' rows of the ``missing`` inner checks, computed (no cache)."""
    items = read_manifest(DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    held = HeldOut.load()
    live0 = Checker.create(mode="live", profile="child", second_look=False)
    photos = {
        inner: Checker.create(mode="photo", profile="child", reuse=live0, people_input=split(inner)[1])
        for inner in missing
        if inner != "live"
    }
    if which == "stills":
        jobs = [(i, int(d.folds[i])) for i in range(len(items))]
    else:
        plan = scenes.plan(items, d)
        jobs = [(k, int(d.folds[plan[k].item])) for k in range(len(plan))]
    rows: dict[str, dict[int, list[Any]]] = {inner: {} for inner in missing}
    started, fold, check = time.monotonic(), -1, live0
    seconds: dict[str, Checker] = {}
    for n, (k, f) in enumerate(sorted(jobs, key=lambda j: j[1])):  # by fold: one checker per fold
        if f != fold:
            fold, check = f, held.checker(live0, "live", f)  # no second look: its own verdict
            seconds = {}
            for inner in missing:
                crops = (
                    held.checker(photos[inner], "photo", f)
                    if inner != "live"
                    else dataclasses.replace(check, first=None)
                )
                seconds[inner] = dataclasses.replace(check, picture=PictureCheck(PictureRule(split(inner)[0]), crops))
        bgr = np.asarray(load_frame(items[k].path).bgr) if which == "stills" else scenes.scene_frame(items, plan[k])[0]
        frame = Frame.from_bgr(bgr, source=f"{which}:{k}")
        seen = check.inspect(frame)
        crop = Checker.picture_crop(frame, seen)
        for inner, second in seconds.items():
            first = second.picture_inspection(frame, crop[0]) if crop is not None else None
            inside = Checker.tighter_crop(frame, crop[0], first) if tighter and crop and first is not None else None
            score2 = None
            if inside is not None and inside[1] < REFINE_MAX:
                score2 = second.picture_inspection(frame, inside[0]).verdict.score
            rows[inner][k] = [
                seen.verdict.score,
                seen.verdict.decision is Decision.BLOCK,
                first.verdict.score if first is not None else None,
                crop[1] if crop else None,
                score2,
                inside[1] if inside is not None else None,
            ]
        if n % 100 == 0:
            print(f"{which} {n}/{len(jobs)} ({time.monotonic() - started:.0f} s)", flush=True)
    return {inner: [rows[inner][k] for k in range(len(jobs))] for inner in missing}


def split(inner: str) -> tuple[str, int]:
    """:meth:`PictureRule.split_inner`, or exit with the reason."""
    try:
        return PictureRule.split_inner(inner)
    except ConfigError as e:
        raise SystemExit(str(e)) from None


def cache_path(which: str, inner: str) -> Path:
    """Where :func:`looks` caches the rows of ``which`` read by crop check ``inner``."""
    return CACHE / (f"{which}.json" if inner == "photo" else f"{which}_{inner}.json")


def blocked(rows: Rows, rule: PictureRule | None) -> np.ndarray:
    """Whether the live check (with ``rule``'s second look; None: without) blocks each row."""
    own = np.array([r[1] for r in rows], bool)
    if rule is None:
        return own
    live = np.array([r[0] for r in rows])
    crop = np.array([-1.0 if r[2] is None else r[2] for r in rows])
    share = np.array([0.0 if r[3] is None else r[3] for r in rows])
    # ``refine_within_ms`` is not modelled (the cache holds no times): every tighter crop is read,
    # which blocks at least what the limited rule blocks (a look more only adds blocks)
    wants = ~own & (live >= rule.from_score) & (share >= rule.min_share) & (crop >= 0)
    counted = np.array([rule.counted(float(c)) if c >= 0 else 0.0 for c in crop])
    first = wants & (counted >= 0.5)
    if rule.refine <= 0:
        return own | first
    if rule.refine > REFINE_MAX:
        raise SystemExit(f"refine {rule.refine} is over the cached tighter crops' {REFINE_MAX}")
    crop2 = np.array([-1.0 if len(r) < 6 or r[4] is None else r[4] for r in rows])
    rel = np.array([1.0 if len(r) < 6 or r[5] is None else r[5] for r in rows])
    counted2 = np.array([rule.counted(float(c)) if c >= 0 else 0.0 for c in crop2])
    return own | first | (wants & ~first & (rel < rule.refine) & (counted2 >= 0.5))


def within_budget(rule: PictureRule | None) -> bool:
    """Whether the live check with ``rule``'s second look blocks at most 1% of the dev safe stills,
    pooled and of the people photos, out of fold (the cached looks; computed if missing)."""
    d = evaluate.Data.of(read_manifest(DEFAULT_MANIFEST))
    inner = rule.inner if rule else "photo"
    return in_budget(blocked(looks("stills", [inner], tighter=bool(rule and rule.refine))[inner], rule), d)


def in_budget(b: np.ndarray, d: evaluate.Data) -> bool:
    """Whether blocks ``b`` of the dev stills hold 1% of the safe stills pooled and of the people photos."""
    safe, people = d.y == 0, d.cats == "people"
    return bool(b[safe].sum() <= int(0.01 * safe.sum()) and b[people].sum() <= int(0.01 * people.sum()))


def parse_rule(spec: str) -> PictureRule:
    """``[MODE[@PEOPLE]:]F/S/O[/R[@MS]]`` (:meth:`PictureRule.from_spec`), or exit with the reason."""
    try:
        return PictureRule.from_spec(spec)
    except ConfigError as e:
        raise SystemExit(str(e)) from None


def parse_rules(spec: str) -> dict[str, PictureRule | None]:
    """``off`` and ``[MODE[@PEOPLE]:]F/S/O[/R[@MS]]`` rules -> name -> rule."""
    out: dict[str, PictureRule | None] = {"off (the live check alone)": None}
    for s in spec.split(","):
        rule = parse_rule(s)
        inner = rule.mode if rule.mode == "photo" else f"{rule.mode} (full set)"
        if rule.people_input:
            inner += f", people at {rule.people_input}"
        blocks_from = 1 / (1 + math.exp(-rule.offset))
        tighter = f", tighter crop under {rule.refine:.0%} of it" if rule.refine else ""
        if rule.refine_within_ms:  # the cached stills hold no times: the upper bound
            tighter += f", read as if always within {rule.refine_within_ms:g} ms"
        numbers = rule.spec.split(":")[-1].replace("/", " / ")
        out[f"{inner} {numbers} (crop blocks from {blocks_from:.2f}{tighter})"] = rule
    return out


def table(rules: dict[str, PictureRule | None], *, with_scenes: bool = True) -> list[str]:
    """The report's rows, one per rule (None: the live check alone); ``with_scenes``: the scene
    copies' columns too (else "-", and they are not computed)."""
    items = read_manifest(DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    inners = sorted({r.inner for r in rules.values() if r is not None}) or ["photo"]
    need = any(r is not None and r.refine for r in rules.values())  # tighter crops only when a rule reads them
    stills = looks("stills", inners, tighter=need)
    scene_rows = looks("scenes", inners, tighter=need) if with_scenes else {}
    plan = scenes.plan(items, d)
    ys = d.y[[sc.item for sc in plan]]
    area = np.array([sc.area for sc in plan])
    safe, people, art = d.y == 0, d.cats == "people", d.cats == "art"
    lines = [
        "| crop check, rule: from score / min share / offset | nude stills | safe stills blocked | people | art "
        "| within budget | nude scenes at "
        + " / ".join(f"{a:.0%}" for a in scenes.POSITIVE_AREAS)
        + " | safe scenes |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name, rule in rules.items():
        m = rule.inner if rule is not None else inners[0]  # the live check alone: any inner's rows
        b = blocked(stills[m], rule)
        ok = in_budget(b, d)
        cells, safe_scenes = "-", "-"
        if with_scenes:
            s = blocked(scene_rows[m], rule)
            cells = " / ".join(str(int(s[(ys == 1) & (area == a)].sum())) for a in scenes.POSITIVE_AREAS)
            safe_scenes = f"{int(s[ys == 0].sum())}/{int((ys == 0).sum())}"
        lines.append(
            f"| {name} | {int(b[d.y == 1].sum())}/{int((d.y == 1).sum())} | {int(b[safe].sum())}/{int(safe.sum())} "
            f"| {int(b[people].sum())}/{int(people.sum())} | {int(b[art].sum())}/{int(art.sum())} "
            f"| {'yes' if ok else 'no'} | {cells} | {safe_scenes} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--rules",
        default=RULES,
        help="comma-separated [MODE[@PEOPLE]:]FROM/MIN_SHARE/OFFSET[/REFINE] rules (MODE: the crop's check, photo or"
        " live; PEOPLE: the photo check's people read at that input size; REFINE: read the tighter crop under that"
        " share of the first, at most REFINE_MAX)",
    )
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--no-scenes", action="store_true", help="the stills only (the budget); not the scene copies")
    args = ap.parse_args()
    command = " ".join(["python bench/second_look.py", *sys.argv[1:]])
    lines = [
        "# The live check's second look on the dev stills and scene copies (out of fold)",
        "",
        f"`{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). Each still and scene copy checked"
        " by the live and photo models fitted without its fold (bench/held_out.py), child profile. Budget: at most"
        " 1% of the safe stills pooled and of the photos of people blocked, as the live check alone.",
        "",
        *table(parse_rules(args.rules), with_scenes=not args.no_scenes),
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()

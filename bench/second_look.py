"""The live check's second look on the dev stills and scene copies, out of fold: which rules keep the budget.

The second look (``captureguard.core.second_look``) runs the photo check on the picture locator's
outer box when the live check is unsure. On camera frames with a small nude artwork it finds what
the live check misses (the held-out leak clips, ``bench/stream_calibrate.py --picture``); on the
dev stills it can add false blocks: a face photo's crop blown up, a safe painting the photo check
blocks. This measures, for a grid of rules (:class:`~captureguard.core.second_look.PictureRule`:
``from_score``, ``min_share``, ``offset``), the live check's blocks with the second look on

* the 1,828 dev stills (74 nude artworks; 1,754 safe, 681 of them photos of people, 99 artworks),
* their 2,050 scene copies (``tools/detect_v2/scenes.py``: every still pasted at 10-50% of a
  720p frame),

each checked by the live and photo models fitted without its fold (``bench/held_out.py``), so
every number is out of fold. A rule is **within budget** when the live check with it blocks at
most 1% of the safe stills pooled and of the people photos (``evaluate.threshold_for``'s count,
the issue's live target), like the live check alone.

Per still and scene the live score, the crop check's score and the box's share of the frame are
computed once (the loosest rule: every frame with a located picture) and cached in
``$CG_V2_CACHE/second_look/`` (~17 min on 2 cores the first time); the table then takes seconds.

    python bench/second_look.py                      # the table, bench/results/second_look.md
    python bench/second_look.py --rules 0.05/0.2/1.39,0.1/0.2/0.85
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: `tools.*`

from tools.calibrate_fusion import DEFAULT_MANIFEST, load_frame, read_manifest
from tools.detect_v2 import evaluate, scenes

from captureguard.core.frame import Frame
from captureguard.core.second_look import PictureRule
from captureguard.core.verdict import Decision
from captureguard.guard.check import Checker, PictureCheck
from held_out import HeldOut

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "second_look.md"
CACHE = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache")) / "second_look"
RULES = "0.05/0.2/0,0.05/0.2/0.85,0.05/0.2/1.39,0.05/0.2/2.2,0.1/0.2/1.39,0.2/0.2/1.39,0.05/0/1.39,0/0.2/1.39,0/0/0"
#: one row per still or scene: [live score, live blocked, crop score (None: no picture), box share]
Rows = list[list[Any]]


def looks(which: str) -> Rows:
    """Per dev still (``stills``) or scene copy (``scenes``), in manifest / plan order, the fold
    models' live verdict and the photo check of the located picture (cached)."""
    items = read_manifest(DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    version = [it.sha256[:12] for it in items] + [f"{int(f)}" for f in d.folds]
    path = CACHE / f"{which}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached["version"] == version:
            return list(cached["rows"])
    held = HeldOut.load()
    live0 = Checker.create(mode="live", profile="child", second_look=False)
    photo0 = Checker.create(mode="photo", profile="child", reuse=live0)
    if which == "stills":
        jobs = [(i, int(d.folds[i])) for i in range(len(items))]
    else:
        plan = scenes.plan(items, d)
        jobs = [(k, int(d.folds[plan[k].item])) for k in range(len(plan))]
    rows: dict[int, list[Any]] = {}
    started, fold, check, second = time.monotonic(), -1, live0, live0
    for n, (k, f) in enumerate(sorted(jobs, key=lambda j: j[1])):  # by fold: one checker per fold
        if f != fold:
            fold, check = f, held.checker(live0, "live", f)  # no second look: its own verdict
            second = dataclasses.replace(check, picture=PictureCheck(PictureRule(), held.checker(photo0, "photo", f)))
        bgr = np.asarray(load_frame(items[k].path).bgr) if which == "stills" else scenes.scene_frame(items, plan[k])[0]
        frame = Frame.from_bgr(bgr, source=f"{which}:{k}")
        seen = check.inspect(frame)
        crop = Checker.picture_crop(frame, seen)
        score = second.picture_inspection(frame, crop[0]).verdict.score if crop is not None else None
        rows[k] = [seen.verdict.score, seen.verdict.decision is Decision.BLOCK, score, crop[1] if crop else None]
        if n % 100 == 0:
            print(f"{which} {n}/{len(jobs)} ({time.monotonic() - started:.0f} s)", flush=True)
    out = [rows[k] for k in range(len(jobs))]
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": version, "rows": out}))
    return out


def blocked(rows: Rows, rule: PictureRule | None) -> np.ndarray:
    """Whether the live check (with ``rule``'s second look; None: without) blocks each row."""
    own = np.array([r[1] for r in rows], bool)
    if rule is None:
        return own
    live = np.array([r[0] for r in rows])
    crop = np.array([-1.0 if r[2] is None else r[2] for r in rows])
    share = np.array([0.0 if r[3] is None else r[3] for r in rows])
    wants = ~own & (live >= rule.from_score) & (share >= rule.min_share) & (crop >= 0)
    counted = np.array([rule.counted(float(c)) if c >= 0 else 0.0 for c in crop])
    return own | (wants & (counted >= 0.5))


def within_budget(rule: PictureRule | None) -> bool:
    """Whether the live check with ``rule``'s second look blocks at most 1% of the dev safe stills,
    pooled and of the people photos, out of fold (the cached looks; computed if missing)."""
    d = evaluate.Data.of(read_manifest(DEFAULT_MANIFEST))
    b = blocked(looks("stills"), rule)
    safe, people = d.y == 0, d.cats == "people"
    return bool(b[safe].sum() <= int(0.01 * safe.sum()) and b[people].sum() <= int(0.01 * people.sum()))


def parse_rules(spec: str) -> dict[str, PictureRule | None]:
    """``off`` and ``F/S/O`` (from score, min share, offset) -> name -> rule."""
    out: dict[str, PictureRule | None] = {"off (the live check alone)": None}
    for s in spec.split(","):
        f, m, o = (float(x) for x in s.split("/"))
        out[f"{f:g} / {m:g} / {o:g} (crop blocks from {1 / (1 + math.exp(-o)):.2f})"] = PictureRule(
            from_score=f, min_share=m, offset=o
        )
    return out


def table(rules: dict[str, PictureRule | None]) -> list[str]:
    items = read_manifest(DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    stills, scene_rows = looks("stills"), looks("scenes")
    plan = scenes.plan(items, d)
    ys = d.y[[sc.item for sc in plan]]
    area = np.array([sc.area for sc in plan])
    safe, people, art = d.y == 0, d.cats == "people", d.cats == "art"
    lines = [
        "| rule: from score / min share / offset | nude stills | safe stills blocked | people | art "
        "| within budget | nude scenes at "
        + " / ".join(f"{a:.0%}" for a in scenes.POSITIVE_AREAS)
        + " | safe scenes |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name, rule in rules.items():
        b, s = blocked(stills, rule), blocked(scene_rows, rule)
        ok = within_budget(rule)
        cells = " / ".join(str(int(s[(ys == 1) & (area == a)].sum())) for a in scenes.POSITIVE_AREAS)
        lines.append(
            f"| {name} | {int(b[d.y == 1].sum())}/{int((d.y == 1).sum())} | {int(b[safe].sum())}/{int(safe.sum())} "
            f"| {int(b[people].sum())}/{int(people.sum())} | {int(b[art].sum())}/{int(art.sum())} "
            f"| {'yes' if ok else 'no'} | {cells} | {int(s[ys == 0].sum())}/{int((ys == 0).sum())} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default=RULES, help="comma-separated FROM/MIN_SHARE/OFFSET rules")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    command = " ".join(["python bench/second_look.py", *sys.argv[1:]])
    lines = [
        "# The live check's second look on the dev stills and scene copies (out of fold)",
        "",
        f"`{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). Each still and scene copy checked"
        " by the live and photo models fitted without its fold (bench/held_out.py), child profile. Budget: at most"
        " 1% of the safe stills pooled and of the photos of people blocked, as the live check alone.",
        "",
        *table(parse_rules(args.rules)),
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()

"""Fit the picture locator (``captureguard.core.locator``) and cache the crops it finds.

The live check's misses are small artworks: a nude painting that fills 10-35% of a 720p frame.
Given the pasted artwork's own box, the probe finds 55 of 74 at 10% of the frame, against 29 with
the person crops (``not_shipped.py crops``). The locator learns that box from the scene copies
(``scenes.py``: every dev still pasted into a camera frame over a safe still of its own fold, at a
known place, ``scenes.placement``):

1. Labels: a cell of a :data:`GRID_FIT` x ``GRID_FIT`` grid over open_nsfw's input (the whole
   frame) is "picture" when the pasted still covers more than half of it. Nude and safe stills
   are pasted alike, so it learns "a picture in front of the camera", not nudity; the probe then
   reads the crop. At 14 x 14 (since v2.6) a cell's features are open_nsfw's third-stage map at
   that cell (``cells.fine_maps``, 512 channels) beside its last map's cell above it
   (``cells.maps``, 1024): the same pass, a box of half-size cells. v2.5 used the last map alone
   at 7 x 7.
2. Model: per map a PCA (:data:`BLOCKS`; fitted per fold), each cell's projections and their
   differences from the frame's mean cell, a logistic regression (scikit-learn, build time only).
   It is linear in the cell's features and the frame's mean cell, so it ships as two vectors and
   an intercept (``data/locator_open_nsfw.json``).
3. Grouped CV with the probe's folds (``evaluate.Data``: one per positive group): per fold a
   locator fitted without that fold's scenes (``$CG_V2_CACHE/locator/folds.npz``; the folds are
   merged into :data:`LOCATOR_FOLDS` for the fits, so a fold's locator is also fitted without
   some other folds); those place the crops of every still, perturbed copy and scene of the fold
   (:func:`located`), so the probe is fitted and scored on crops placed by a locator that never
   saw them, and the held-out leak benchmark (``bench/held_out.py``) checks each clip with its
   fold's locator.

4. Box rules (``--box-rules``, no model runs once the maps and fold locators are cached): each
   fold locator's cell probabilities of its fold's scenes, boxed by the whole confident cells
   (``spread`` 0, shipped) or by the moments of their probability mass (``spread`` > 0), grown
   by ``grow``; IoU with the pasted still, the share of it covered and the share of the box on it.

    .venv/bin/python tools/detect_v2/locator.py [--write]   # ~7 min, then ~12 min of crops once
    .venv/bin/python tools/detect_v2/locator.py --box-rules # the box rules' table (~1 min)
    .venv/bin/python tools/detect_v2/locator.py --table     # the located boxes (fine, outer) on the scenes
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from captureguard.core.locator import PictureLocator, cell_rect, stack_maps
from tools.calibrate_fusion import DEFAULT_MANIFEST, Item, load_frame, read_manifest
from tools.detect_v2 import cells, evaluate, scenes

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache")) / "locator"
OUT = ROOT / "src" / "captureguard" / "data" / "locator_open_nsfw.json"
FOLDS = CACHE / "folds.npz"
#: the grid the tool fits (``PictureLocator.grid``; the maps it reads: ``models.probe.LOCATOR_MAPS``),
#: the channels and PCA dimensions of each of those maps, and the box thresholds. v2.5 shipped 7
#: (the last map alone, 1024 channels to 96 dimensions) with (relative, floor) = (0.3, 0.2).
GRID_FIT = 14
BLOCKS = {7: ((1024, 96),), 14: ((512, 64), (1024, 96))}
RELATIVE, FLOOR = 0.5, 0.2
#: the outer box (``PictureLocator.outer_pool``, ``outer_relative``, ``outer_floor``; since v2.7, the
#: live probes' third block): the cell probabilities pooled 2 x 2 to 7 x 7 and boxed by v2.5's
#: rule. One-off measurement (2026-12-06, 10 merged folds, probe of the frame and crops fitted on the
#: scene copies, threshold at 17 of 1,754 safe scenes): nude scenes caught at 10 / 20 / 35 / 50% of
#: the frame 34 / 38 / 44 / 50 with the frame and the fine box's crop, 37 / 42 / 43 / 51 with the
#: outer crop beside them (relative 0.5: 37 / 44 / 40 / 50; the fine rule's second-best group instead:
#: fewer).
OUTER = (2, 0.3, 0.2)
#: the fold locators are fitted on merged folds: fold f's is fitted without the scenes of every
#: fold g with g % LOCATOR_FOLDS == f % LOCATOR_FOLDS (so never on fold f's); 10 fits, not 67
LOCATOR_FOLDS = 10
#: the box rule (``PictureLocator.spread``, ``grow``; ``--box-rules``). Shipped: (0, 1.0), the
#: confident cells whole (2.4x the pasted still's area at 10% of the frame, median IoU 0.39).
#: Measured and not shipped (docs/accuracy.md, 2026-12-05): (1.73, 1.0), sqrt(3) standard
#: deviations of their probability mass, IoU 0.47 / 0.67 / 0.63 / 0.65 at 10 / 20 / 35 / 50%; with
#: the live probes and head refitted on its crops, nude scenes 34 / 47 / 52 / 59 (shipped 34 / 50 /
#: 53 / 61), stills 61 in both: a tighter box cuts off part of a larger picture.
SPREAD, GROW = 0.0, 1.0
#: ``PictureLocator.gate``: box only when the top cell's probability reaches this (0: always box, as
#: shipped). Measured and not shipped at 0.8 (docs/accuracy.md, "after v2.8", 2026-12-06): probes
#: and heads refitted on the gated crops find 3 fewer live stills (64/74) and 3 fewer synthetic nude
#: renders (both at skin tone 3), for 136 instead of 152 leaked frames held out and 5.35 instead of
#: 5.46 s/min on the safe videos. A fit with a gate names it in the locator's version.
GATE = 0.0
VERSION = "locator-open_nsfw-cells14-v3" + (f"-gate{GATE:g}" if GATE else "")
#: inverse L2 strength, every STEP-th training cell in the PCA
C, STEP = 0.1, 5
#: a cell is "picture" when the pasted still covers more than this share of it
COVER = 0.5


def cover(box: tuple[int, int, int, int], hw: tuple[int, int], grid: int = GRID_FIT) -> np.ndarray:
    """``(grid * grid,)`` share of each cell (row-major) that ``box`` (frame pixels) covers."""
    h, w = hw
    x0, y0, x1, y1 = box
    out = np.zeros(grid * grid)
    for k in range(grid * grid):
        a, b, c, d = cell_rect(*divmod(k, grid), h, w, grid)
        out[k] = max(0.0, min(c, x1) - max(a, x0)) * max(0.0, min(d, y1) - max(b, y0)) / ((c - a) * (d - b))
    return out


def fit(
    x: np.ndarray, target: np.ndarray, grid: int = GRID_FIT, blocks: tuple[tuple[int, int], ...] | None = None
) -> PictureLocator:
    """A locator on scenes' cells ``x`` (scenes, grid * grid, features) with labels ``target``
    (scenes, grid * grid). The features are ``blocks`` of ``(channels, PCA dimensions)`` side by
    side (default: :data:`BLOCKS` of ``grid``, or one block to 96 dimensions when ``x`` is not those maps):
    each block is projected by its own PCA, and the logistic regression reads each cell's
    projections and their differences from the frame's mean cell, then is folded back into raw
    feature units (cell weights, mean-cell context, intercept)."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    if blocks is None:
        blocks = BLOCKS[grid] if sum(ch for ch, _ in BLOCKS[grid]) == x.shape[-1] else ((x.shape[-1], 96),)
    if sum(ch for ch, _ in blocks) != x.shape[-1]:
        raise ValueError(f"blocks {blocks} do not add up to the {x.shape[-1]} features per cell")
    n, start, parts, projs = x.shape[0], 0, [], []
    for ch, k in blocks:
        flat = x[..., start : start + ch].reshape(-1, ch).astype(np.float32)
        pca = PCA(k, random_state=0).fit(flat[::STEP])
        a = pca.transform(flat).reshape(n, grid * grid, k)
        parts.append((a, a - a.mean(1, keepdims=True)))
        projs.append((pca.components_.T.astype(np.float64), pca.mean_.astype(np.float64)))
        start += ch
    feats = np.concatenate([p for pair in parts for p in pair], -1).reshape(n * grid * grid, -1)
    lr = LogisticRegression(C=C, max_iter=2000).fit(feats, target.ravel())
    coef, at = lr.coef_[0], 0
    weights, context, intercept = [], [], float(lr.intercept_[0])
    for proj, mean in projs:
        k = proj.shape[1]
        w1, w2 = coef[at : at + k], coef[at + k : at + 2 * k]
        at += 2 * k
        weights.append(proj @ (w1 + w2))
        context.append(-(proj @ w2))
        intercept -= float(mean @ proj @ w1)
    return PictureLocator(
        np.concatenate(weights),
        np.concatenate(context),
        intercept,
        relative=RELATIVE,
        floor=FLOOR,
        version=VERSION,
        spread=SPREAD,
        grow=GROW,
        grid=grid,
        outer_pool=OUTER[0] if grid == 14 else 0,
        outer_relative=OUTER[1],
        outer_floor=OUTER[2],
        gate=GATE,
    )


def scene_cells(items: list[Item], plan: list[scenes.Scene], grid: int = GRID_FIT) -> np.ndarray:
    """Every scene copy's cells as the run-time check stacks them (``stack_maps``), ``(scenes,
    grid * grid, features)`` float16, from the cached maps."""
    _, coarse = cells.maps(items, plan)
    if grid == 7:
        return coarse
    fine = cells.fine_maps(items, plan)  # (scenes, 196, 512), row-major like the run-time maps
    return np.stack(
        [stack_maps([f.T.reshape(-1, 14, 14), c.T.reshape(-1, 7, 7)], 14) for f, c in zip(fine, coarse, strict=True)]
    )


@dataclasses.dataclass
class Fitted:
    """The shipped locator and one per grouped fold (fitted without that fold's scenes)."""

    shipped: PictureLocator
    folds: dict[int, PictureLocator]

    def save(self) -> None:
        ids = sorted(self.folds)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(
            FOLDS,
            fold=np.array(ids),
            weights=np.stack([self.folds[f].weights for f in ids]),
            context=np.stack([self.folds[f].context for f in ids]),
            intercept=np.array([self.folds[f].intercept for f in ids]),
            grid=np.array(self.shipped.grid),
            relative=np.array(self.shipped.relative),
            floor=np.array(self.shipped.floor),
        )


def fold_locators() -> dict[int, PictureLocator]:
    """The per-fold locators :func:`main` left in :data:`FOLDS`."""
    if not FOLDS.exists():
        raise SystemExit(f"{FOLDS} missing: run tools/detect_v2/locator.py")
    z = np.load(FOLDS)
    return {
        int(f): PictureLocator(
            z["weights"][j],
            z["context"][j],
            float(z["intercept"][j]),
            relative=float(z["relative"]) if "relative" in z else 0.3,
            floor=float(z["floor"]) if "floor" in z else 0.2,
            version=f"locator-fold{f}",
            spread=SPREAD,
            grow=GROW,
            grid=int(z["grid"]) if "grid" in z else 7,
            outer_pool=OUTER[0] if "grid" in z and int(z["grid"]) == 14 else 0,
            outer_relative=OUTER[1],
            outer_floor=OUTER[2],
            gate=GATE,
        )
        for j, f in enumerate(z["fold"])
    }


def labels(items: list[Item], plan: list[scenes.Scene], hws: list[tuple[int, int]]) -> np.ndarray:
    """``(scenes, GRID_FIT ** 2)`` "picture" labels of the scene copies."""
    return np.stack(
        [cover(scenes.placement(hws[s.item], s.area, s.seed)[3], scenes.FRAME_WH[::-1]) > COVER for s in plan]
    )


def located(
    items: list[Item], d: evaluate.Data | None, copy: str, plan: list[scenes.Scene] | None = None
) -> dict[str, np.ndarray]:
    """The crop the locator finds in every image of ``copy`` ("clean", a perturbation, or "scene":
    the scene copies of ``plan``), read by open_nsfw through the run-time path
    (``NsfwProbeDetector.features_located``, no people): ``p`` (N,) its nudity probability, ``e`` (N,
    1024) its pooled features (NaN: no picture found) and ``box`` (N, 4; -1: none), and the same of
    the outer box (:data:`OUTER`) as ``p2``, ``e2`` and ``box2``. Each image's
    fold locator (fitted without it) places the crop; with ``d`` None (images never fitted on, e.g.
    the synthetic coverage set) the shipped one. Cached per manifest and copy."""
    import hashlib

    from tqdm import tqdm

    from captureguard.evaluation.perturb import PERTURBATIONS as PERTURB
    from captureguard.models.probe import nsfw_probe_detector
    from tools.detect_v2.probe import UNFITTED

    key = hashlib.sha256("".join(it.sha256 for it in items).encode()).hexdigest()[:12]
    rule = "" if (SPREAD, GROW) == (0.0, 1.0) else f"_s{SPREAD:g}g{GROW:g}"  # the box rule the crops were placed by
    rule += "_outer{}_{:g}_{:g}".format(*OUTER) + (f"_gate{GATE:g}" if GATE else "")
    f = CACHE / f"located_{copy}_{key}{rule}{'' if d is not None else '_shipped'}.npz"
    if f.exists():
        return dict(np.load(f))
    loc = fold_locators() if d is not None else {}
    shipped = PictureLocator.named(OUT.name) if d is None else None
    det = nsfw_probe_detector(max_crops=0, probe=UNFITTED, locator=shipped or next(iter(loc.values())))
    if copy == "scene" and (plan is None or d is None):
        raise ValueError("scene copies need their plan and folds")
    n = len(plan) if copy == "scene" and plan is not None else len(items)
    p, e, box = np.full(n, np.nan), np.full((n, 1024), np.nan, np.float32), np.full((n, 4), -1)
    p2, e2, box2 = p.copy(), e.copy(), box.copy()
    for i in tqdm(range(n), desc=f"located crops ({copy})", unit="img", mininterval=10):
        if copy == "scene" and plan is not None and d is not None:
            where = loc[int(d.folds[plan[i].item])]
            bgr = scenes.scene_frame(items, plan[i])[0]
        else:
            where = loc[int(d.folds[i])] if d is not None else shipped
            bgr = np.asarray(load_frame(items[i].path).bgr)
            if copy != "clean":
                bgr = np.ascontiguousarray(PERTURB[copy](bgr))
        at = dataclasses.replace(det, locator=where)
        probs, feats, _, b, wide = at.features_located(bgr, np.zeros((0, 4)), outer=True)
        if b is not None:
            p[i], e[i], box[i] = probs[-1], feats[-1], b
        if wide is not None:
            p2[i], e2[i], box2[i] = wide.probability, wide.features, wide.box
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(f, p=p, e=e, box=box, p2=p2, e2=e2, box2=box2)
    return {"p": p, "e": e, "box": box, "p2": p2, "e2": e2, "box2": box2}


#: (spread, grow) pairs compared by ``--box-rules``
BOX_RULES = ((0.0, 1.0), (0.0, 1.2), (1.5, 1.0), (1.5, 1.2), (1.73, 1.0), (2.0, 1.0))


def box_rules(items: list[Item], d: evaluate.Data, plan: list[scenes.Scene]) -> list[str]:
    """The table of :data:`BOX_RULES` on the nude scene copies, each placed by its fold's locator."""
    from tqdm import tqdm

    maps = scene_cells(items, plan)
    loc = fold_locators()
    hw = scenes.FRAME_WH[::-1]
    nude = [k for k, s in enumerate(plan) if items[s.item].label]
    sizes = {plan[k].item: load_frame(items[plan[k].item].path).bgr.shape[:2] for k in nude}
    truth = {k: np.array(scenes.placement(sizes[plan[k].item], plan[k].area, plan[k].seed)[3], float) for k in nude}
    probs = {
        k: loc[int(d.folds[plan[k].item])].probabilities(maps[k].astype(np.float64))
        for k in tqdm(nude, desc="cell scores", mininterval=10)
    }
    head = " | ".join(f"{a:.0%}: IoU median, > 0.3, covered, on it" for a in scenes.POSITIVE_AREAS)
    out = [f"| spread | grow | {head} |", "|---:|---:|" + "---|" * len(scenes.POSITIVE_AREAS)]
    any_fold = next(iter(loc.values()))  # the box depends on the probabilities and the rule only
    for spread, grow in BOX_RULES:
        rule = dataclasses.replace(any_fold, spread=spread, grow=grow)
        cols = []
        for a in scenes.POSITIVE_AREAS:
            st = []
            for k in (k for k in nude if plan[k].area == a):
                b = rule.box_from(probs[k], *hw)
                st.append(overlap(np.array(b, float), truth[k]) if b is not None else (0.0, 0.0, 0.0))
            m = np.array(st)
            cols.append(
                f"{np.median(m[:, 0]):.2f}, {int((m[:, 0] > 0.3).sum())}/{len(m)}, "
                f"{np.median(m[:, 1]):.2f}, {np.median(m[:, 2]):.2f}"
            )
        out.append(f"| {spread:g} | {grow:g} | " + " | ".join(cols) + " |")
    return out


def overlap(box: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """``(IoU, share of truth inside box, share of box inside truth)``."""
    ix = max(0.0, min(box[2], truth[2]) - max(box[0], truth[0]))
    iy = max(0.0, min(box[3], truth[3]) - max(box[1], truth[1]))
    inter = ix * iy
    ab, at = (box[2] - box[0]) * (box[3] - box[1]), (truth[2] - truth[0]) * (truth[3] - truth[1])
    return inter / (ab + at - inter), inter / at, inter / max(ab, 1.0)


def located_table(
    items: list[Item], d: evaluate.Data, plan: list[scenes.Scene], hws: list[tuple[int, int]]
) -> list[str]:
    """The fold locators' boxes (fine and outer) on the nude scene copies against the pasted stills."""
    sc = located(items, d, "scene", plan)
    boxes = np.array([scenes.placement(hws[s.item], s.area, s.seed)[3] for s in plan], float)
    nude = np.array([items[s.item].label for s in plan]) == 1
    area = np.array([s.area for s in plan])
    out = [
        "| frame share | box | nude scenes with a box | median IoU with the pasted still | IoU > 0.3 | covers >= 90% |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for a in scenes.POSITIVE_AREAS:
        sel = np.nonzero(nude & (area == a))[0]
        for name, key in (("fine", "box"), ("outer", "box2")):
            stats = [overlap(sc[key][i], boxes[i]) if sc[key][i][0] >= 0 else (0.0, 0.0, 0.0) for i in sel]
            ious, cov = [v[0] for v in stats], [v[1] for v in stats]
            found = int((sc[key][sel][:, 0] >= 0).sum())
            n, good, whole = len(sel), sum(v > 0.3 for v in ious), sum(v >= 0.9 for v in cov)
            out.append(f"| {a:.0%} | {name} | {found}/{n} | {np.median(ious):.2f} | {good}/{n} | {whole}/{n} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(ROOT)}")
    ap.add_argument("--box-rules", action="store_true", help="only compare box rules (cached maps and fold locators)")
    ap.add_argument("--table", action="store_true", help="only the located boxes' table (cached fold locators)")
    args = ap.parse_args()
    from tqdm import tqdm

    if args.box_rules or args.table:
        items = read_manifest(DEFAULT_MANIFEST)
        d = evaluate.Data.of(items)
        plan = scenes.plan(items, d)
        if args.box_rules:
            print("\n".join(box_rules(items, d, plan)))
        else:
            hws = [load_frame(it.path).bgr.shape[:2] for it in items]
            print("\n".join(located_table(items, d, plan, hws)))
        return

    items = read_manifest(DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    plan = scenes.plan(items, d)
    maps = scene_cells(items, plan)
    hws = [load_frame(it.path).bgr.shape[:2] for it in tqdm(items, desc="sizes", mininterval=10)]
    target = labels(items, plan, hws)
    merged = np.array([d.folds[s.item] for s in plan]) % LOCATOR_FOLDS
    by_merged = {}
    for g in tqdm(np.unique(merged), desc="locator folds", unit="fold"):
        by_merged[int(g)] = fit(maps[merged != g], target[merged != g])
    folds = {int(f): by_merged[int(f) % LOCATOR_FOLDS] for f in np.unique(d.folds)}
    fitted = Fitted(fit(maps, target), folds)
    for old in CACHE.glob("located_*.npz"):  # crops placed by the previous fit
        old.unlink()
    fitted.save()
    if args.write:
        body: dict[str, Any] = {
            "version": VERSION,
            "features": (
                "open_nsfw Relu_39:0 (14 x 14 x 512) and Relu_48:0 (7 x 7 x 1024, each cell over the 4 it covers)"
                " of the whole frame, per cell and the mean cell"
                if GRID_FIT == 14
                else "open_nsfw Relu_48:0 (7 x 7 x 1024) of the whole frame, per cell and the mean cell"
            ),
            "fitted_on": {
                "manifest": "eval/manifest.csv (v2): scene copies of every still (tools/detect_v2/scenes.py)",
                "label": f"cell covered > {COVER:g} by the pasted still",
                "model": f"PCA per map {[k for _, k in BLOCKS[GRID_FIT]]} + scikit-learn LogisticRegression(C={C}),"
                " folded into raw feature units",
                "command": ".venv/bin/python tools/detect_v2/locator.py --write",
            },
            "grid": fitted.shipped.grid,
            "relative": fitted.shipped.relative,
            "floor": fitted.shipped.floor,
            "spread": fitted.shipped.spread,
            "grow": fitted.shipped.grow,
            **({"gate": fitted.shipped.gate} if fitted.shipped.gate else {}),
            **(
                {
                    "outer": {
                        "pool": fitted.shipped.outer_pool,
                        "relative": fitted.shipped.outer_relative,
                        "floor": fitted.shipped.outer_floor,
                    }
                }
                if fitted.shipped.outer_pool
                else {}
            ),
            "intercept": round(fitted.shipped.intercept, 8),
            "weights": [float(f"{v:.7g}") for v in fitted.shipped.weights],
            "context": [float(f"{v:.7g}") for v in fitted.shipped.context],
        }
        OUT.write_text(json.dumps(body) + "\n")
        print("wrote", OUT)
    print("\n".join(located_table(items, d, plan, hws)))


if __name__ == "__main__":
    from tools.detect_v2.blas import pin

    pin()  # the shipped fits' BLAS (tools/detect_v2/blas.py)
    main()

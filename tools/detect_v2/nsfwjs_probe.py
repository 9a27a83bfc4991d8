"""Fit the probes on nsfwjs InceptionV3's 2,048-d embedding: the photo path's and the live path's.

The photo path's reads the whole image; the picture probe (measured for the live path) the located picture.

nsfwjs' own class probabilities rank the dev artworks poorly (P(porn + hentai): AUC 0.78, 7 of 74
at <= 1% false blocks), but the embedding before its last layer carries what open_nsfw's features
miss. A probe on it, stacked into the photo head beside the open_nsfw pair, was measured
2026-12-06 (grouped CV, child point, out of fold): 67 -> 72 of 74 stills at the same 17/1754 and
2/681 people false blocks, and 5-9 more artworks under every camera perturbation
(docs/accuracy.md, v2.8).

1. Embeddings: every dev still, its perturbed copies (motion blur, defocus, low light, moire, text
   overlay) and its scene copies (``scenes.py``), through the run-time detector
   (:func:`~captureguard.models.nsfwjs.nsfwjs_detector`: the whole image at 299 x 299), cached
   under ``$CG_V2_CACHE/nsfwjs/<copy>/``.
2. Grouped CV on ``fit_heads``' 67 folds (a group never split): per fold a standardised L2
   logistic regression (``probe.fit``) on the other folds' clean and perturbed copies; out-of-fold
   (OOF) probabilities of every still, copy and scene (``oof.npz``, keys ``<copy>`` and ``scene``)
   for ``fit_heads.py`` and ``robust.py``; the per-fold probes (``folds.npz``) for the held-out leak
   benchmark's photo check (``bench/held_out.py``).
3. ``--write``: the probe fitted on every still and copy, ``data/probe_nsfwjs_photo.json``.

``--set picture`` (measured for the live path, not shipped): the same on the picture locator's
*outer* crop (``locator.located``'s ``box2``, placed by each still's fold locator; the whole image
where it finds no picture), as the run-time ``nsfwjs`` detector with ``crop = "picture"`` reads it;
fitted on the clean stills and their scene copies (where a picture fills 10-50% of a camera frame:
what the crop is for), OOF scores of every perturbed copy too; ``oof_picture.npz``,
``folds_picture.npz`` and (``--write``) ``probe_nsfwjs_picture.json``, all in the cache. Measured
2026-12-06 (``fit_heads.py --live-nsfwjs``, docs/accuracy.md "After v2.9"): out of fold the live head
catches more small nude scene copies, but the held-out leak clips leak more frames.

Needs the nsfwjs model (``make nsfwjs-model``).

    .venv/bin/python tools/detect_v2/nsfwjs_probe.py [--write]                 # ~10 min on 2 cores the first time
    .venv/bin/python tools/detect_v2/nsfwjs_probe.py --set picture [--write]   # ~8 min the first time
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from tools.calibrate_fusion import DEFAULT_MANIFEST, Item, auc, load_frame, read_manifest
from tools.detect_v2 import evaluate, probe, scenes

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache")) / "nsfwjs"
OUT = ROOT / "src" / "captureguard" / "data" / "probe_nsfwjs_photo.json"
OOF = CACHE / "oof.npz"
FOLDS = CACHE / "folds.npz"
VERSION = "probe-nsfwjs-embedding-photo-v1"
COPIES = ["clean", *probe.PERTURBATIONS]


@dataclass(frozen=True)
class ProbeSet:
    """One nsfwjs probe: where it is written, its cached OOF scores and fold probes, its version,
    what it reads (``crop``: "" the whole image, "picture" the locator's outer crop) and what it
    is fitted on (still copies, and the scene copies or not)."""

    out: Path
    oof: Path
    folds: Path
    version: str
    crop: str
    fit_copies: tuple[str, ...]
    fit_scenes: bool


SETS = {
    "photo": ProbeSet(OUT, OOF, FOLDS, VERSION, "", tuple(COPIES), False),
    "picture": ProbeSet(  # measured, not shipped: its probe file stays in the cache
        CACHE / "probe_nsfwjs_picture.json",
        CACHE / "oof_picture.npz",
        CACHE / "folds_picture.npz",
        "probe-nsfwjs-picture-live-v1",
        "picture",
        ("clean",),
        True,
    ),
}


def embeddings(items: list[Item], copy: str) -> np.ndarray:
    """``(N, 2048)`` nsfwjs embeddings of every still's ``copy`` (cached)."""
    from tqdm import tqdm

    from captureguard.evaluation.perturb import PERTURBATIONS as PERTURB
    from captureguard.models.nsfwjs import nsfwjs_detector

    folder = CACHE / copy
    folder.mkdir(parents=True, exist_ok=True)
    det = None
    out = []
    for it in tqdm(items, desc=f"nsfwjs ({copy})", unit="img", mininterval=10):
        f = folder / f"{it.sha256[:24]}.npz"
        if not f.exists():
            det = det or nsfwjs_detector()
            bgr = np.asarray(load_frame(it.path).bgr)
            if copy != "clean":
                bgr = np.ascontiguousarray(PERTURB[copy](bgr))
            p, e = det.outputs(bgr)
            np.savez(f, p=p.astype(np.float32), e=e.astype(np.float32))
        out.append(np.load(f)["e"])
    return np.stack(out)


def scene_embeddings(items: list[Item], plan: list[scenes.Scene]) -> np.ndarray:
    """``(S, 2048)`` nsfwjs embeddings of the scene copies (cached)."""
    from tqdm import tqdm

    from captureguard.models.nsfwjs import nsfwjs_detector

    folder = CACHE / "scene"
    folder.mkdir(parents=True, exist_ok=True)
    det = None
    out = []
    for sc in tqdm(plan, desc="nsfwjs (scenes)", unit="scene", mininterval=10):
        f = folder / Path(scenes.cache_name(items, sc)).with_suffix(".npz").name
        if not f.exists():
            det = det or nsfwjs_detector()
            p, e = det.outputs(scenes.scene_frame(items, sc)[0])
            np.savez(f, p=p.astype(np.float32), e=e.astype(np.float32))
        out.append(np.load(f)["e"])
    return np.stack(out)


def picture_embeddings(items: list[Item], d: evaluate.Data | None, copy: str, plan: list[scenes.Scene]) -> np.ndarray:
    """``(N, 2048)`` nsfwjs embeddings of the picture locator's outer crop (``box2``) in every
    still's ``copy``, or ("scene") in every scene copy of ``plan`` (cached per image and box)."""
    from tqdm import tqdm

    from captureguard.evaluation.perturb import PERTURBATIONS as PERTURB
    from captureguard.models.nsfwjs import nsfwjs_detector, picture_crop
    from tools.detect_v2 import locator

    boxes = locator.located(items, d, copy, plan)["box2"]
    folder = CACHE / f"picture_{copy}"
    folder.mkdir(parents=True, exist_ok=True)
    det = None
    out = []
    n = len(plan) if copy == "scene" else len(items)
    for i in tqdm(range(n), desc=f"nsfwjs picture crops ({copy})", unit="img", mininterval=10):
        key = Path(scenes.cache_name(items, plan[i])).stem if copy == "scene" else items[i].sha256[:24]
        f = folder / f"{key}_{'_'.join(str(int(v)) for v in boxes[i])}.npz"
        if not f.exists():
            det = det or nsfwjs_detector()
            if copy == "scene":
                bgr = scenes.scene_frame(items, plan[i])[0]
            else:
                bgr = np.asarray(load_frame(items[i].path).bgr)
                if copy != "clean":
                    bgr = np.ascontiguousarray(PERTURB[copy](bgr))
            box = (
                None
                if boxes[i][0] < 0
                else (float(boxes[i][0]), float(boxes[i][1]), float(boxes[i][2]), float(boxes[i][3]))
            )
            p, e = det.outputs(picture_crop(bgr, box))  # cut as the run-time detector cuts
            np.savez(f, p=p.astype(np.float32), e=e.astype(np.float32))
        out.append(np.load(f)["e"])
    return np.stack(out)


def grouped_cv(
    d: evaluate.Data, x: dict[str, np.ndarray], sx: np.ndarray, src: np.ndarray, ps: ProbeSet = SETS["photo"]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Per fold, the probe fitted on the other folds' copies (``ps.fit_copies``, and their scene
    copies with ``ps.fit_scenes``): ``(OOF probabilities per copy and "scene", folds, fold
    weights, fold intercepts)``."""
    from tqdm import tqdm

    oof = {c: np.zeros(len(d.y)) for c in x} | {"scene": np.zeros(len(src))}
    folds = np.unique(d.folds)
    ws, bs = [], []
    for f in tqdm(folds, desc="grouped CV (nsfwjs probe)", unit="fold", mininterval=10):
        test = d.folds == f
        stest = d.folds[src] == f
        w, b = probe.fit(*training(d, x, sx, src, ps, keep=~test, keep_scenes=~stest))
        ws.append(w)
        bs.append(b)
        for c, xx in x.items():
            oof[c][test] = probe.sigmoid(xx[test] @ w + b)
        oof["scene"][stest] = probe.sigmoid(sx[stest] @ w + b)
    return oof, folds, np.stack(ws), np.array(bs)


def training(
    d: evaluate.Data,
    x: dict[str, np.ndarray],
    sx: np.ndarray,
    src: np.ndarray,
    ps: ProbeSet,
    *,
    keep: np.ndarray,
    keep_scenes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``ps``'s training rows and labels among the stills ``keep`` and the scene copies ``keep_scenes``."""
    xs = [x[c][keep] for c in ps.fit_copies] + ([sx[keep_scenes]] if ps.fit_scenes else [])
    ys = [d.y[keep]] * len(ps.fit_copies) + ([d.y[src][keep_scenes]] if ps.fit_scenes else [])
    return np.vstack(xs), np.concatenate(ys)


def load_oof(items: list[Item], which: str = "photo") -> Any:
    """The ``which`` probe's OOF scores for this manifest (``fit_heads.py`` stacks them)."""
    ps = SETS[which]
    run = "tools/detect_v2/nsfwjs_probe.py" + ("" if which == "photo" else f" --set {which}")
    if not ps.oof.exists():
        raise SystemExit(f"{ps.oof} missing: run {run} first")
    oof = np.load(ps.oof)
    if [str(s) for s in oof["sha"]] != [it.sha256 for it in items]:
        raise SystemExit(f"the nsfwjs {which} probe's OOF scores are for another manifest: run {run}")
    return oof


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    ap.add_argument(
        "--set", choices=sorted(SETS), default="photo", help="photo: the whole image; picture: the located crop"
    )
    ap.add_argument("--write", action="store_true", help="write the probe's file (photo: data/probe_nsfwjs_photo.json)")
    args = ap.parse_args()
    ps = SETS[args.set]
    items = read_manifest(args.manifest)
    d = evaluate.Data.of(items)
    plan = scenes.plan(items, d)
    src = np.array([s.item for s in plan])
    area = np.array([s.area for s in plan])
    if ps.crop:
        x = {c: picture_embeddings(items, d, c, plan) for c in COPIES}
        sx = picture_embeddings(items, d, "scene", plan)
    else:
        x = {c: embeddings(items, c) for c in COPIES}
        sx = scene_embeddings(items, plan)
    oof, folds, ws, bs = grouped_cv(d, x, sx, src, ps)
    np.savez(ps.folds, fold=folds, weights=ws, intercept=bs)
    np.savez(ps.oof, sha=np.array([it.sha256 for it in items]), scene_item=src, scene_area=area, **oof)
    s = oof["clean"]
    t = evaluate.threshold_for(s, d)
    print(evaluate.HEADER.replace("| system |", "| probe alone (OOF; threshold <= 1% FB pooled and on people) |"))
    print(evaluate.fmt_table(f"nsfwjs {args.set} probe, AUC {auc(s, d.y):.3f}", s >= t, d))
    pos = d.y == 1
    print("  recall under perturbation:", ", ".join(f"{c} {int((oof[c][pos] >= t).sum())}" for c in COPIES))
    print("  " + probe.scene_line(oof["scene"], d.y[src], area, t))
    everything = np.ones(len(d.y), bool)
    w, b = probe.fit(*training(d, x, sx, src, ps, keep=everything, keep_scenes=np.ones(len(src), bool)))
    what = "the picture locator's outer crop (the whole image without one)" if ps.crop else "the whole image"
    fitted: dict[str, Any] = {
        "version": ps.version,
        "features": f"nsfwjs InceptionV3 embedding (2048; the input of its last layer) of {what} at 299 x 299",
        "fitted_on": {
            "manifest": "eval/manifest.csv (v2), stills" + (" and their scene copies" if ps.fit_scenes else ""),
            "copies": list(ps.fit_copies),
            "model": f"scikit-learn LogisticRegression(C={probe.C}, class_weight='balanced') on standardised features",
            "command": ".venv/bin/python tools/detect_v2/nsfwjs_probe.py"
            + ("" if args.set == "photo" else f" --set {args.set}")
            + " --write",
        },
        "intercept": round(b, 8),
        "weights": [float(f"{v:.7g}") for v in w],
    }
    if args.write:
        ps.out.write_text(json.dumps(fitted) + "\n")
        print("wrote", ps.out)


if __name__ == "__main__":
    from tools.detect_v2.blas import pin

    pin()  # the shipped fits' BLAS (tools/detect_v2/blas.py)
    main()

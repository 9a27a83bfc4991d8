"""Fit the photo path's third probe: a linear read-out of nsfwjs InceptionV3's 2,048-d embedding.

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

Needs the nsfwjs model (``make nsfwjs-model``).

    .venv/bin/python tools/detect_v2/nsfwjs_probe.py [--write]   # ~10 min on 2 cores the first time
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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


def grouped_cv(
    d: evaluate.Data, x: dict[str, np.ndarray], sx: np.ndarray, src: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Per fold, the probe fitted on the other folds' copies: ``(OOF probabilities per copy and
    "scene", folds, fold weights, fold intercepts)``."""
    from tqdm import tqdm

    oof = {c: np.zeros(len(d.y)) for c in x} | {"scene": np.zeros(len(src))}
    folds = np.unique(d.folds)
    ws, bs = [], []
    for f in tqdm(folds, desc="grouped CV (nsfwjs probe)", unit="fold", mininterval=10):
        test = d.folds == f
        w, b = probe.fit(np.vstack([x[c][~test] for c in COPIES]), np.tile(d.y[~test], len(COPIES)))
        ws.append(w)
        bs.append(b)
        for c, xx in x.items():
            oof[c][test] = probe.sigmoid(xx[test] @ w + b)
        stest = d.folds[src] == f
        oof["scene"][stest] = probe.sigmoid(sx[stest] @ w + b)
    return oof, folds, np.stack(ws), np.array(bs)


def load_oof(items: list[Item]) -> Any:
    """``oof.npz`` for this manifest (``fit_heads.py`` stacks its scores)."""
    if not OOF.exists():
        raise SystemExit(f"{OOF} missing: run tools/detect_v2/nsfwjs_probe.py first")
    oof = np.load(OOF)
    if [str(s) for s in oof["sha"]] != [it.sha256 for it in items]:
        raise SystemExit("the nsfwjs probe's OOF scores are for another manifest: run tools/detect_v2/nsfwjs_probe.py")
    return oof


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    ap.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(ROOT)}")
    args = ap.parse_args()
    items = read_manifest(args.manifest)
    d = evaluate.Data.of(items)
    plan = scenes.plan(items, d)
    src = np.array([s.item for s in plan])
    area = np.array([s.area for s in plan])
    x = {c: embeddings(items, c) for c in COPIES}
    sx = scene_embeddings(items, plan)
    oof, folds, ws, bs = grouped_cv(d, x, sx, src)
    np.savez(FOLDS, fold=folds, weights=ws, intercept=bs)
    np.savez(OOF, sha=np.array([it.sha256 for it in items]), scene_item=src, scene_area=area, **oof)
    s = oof["clean"]
    t = evaluate.threshold_for(s, d)
    print(evaluate.HEADER.replace("| system |", "| probe alone (OOF; threshold <= 1% FB pooled and on people) |"))
    print(evaluate.fmt_table(f"nsfwjs embedding probe, AUC {auc(s, d.y):.3f}", s >= t, d))
    pos = d.y == 1
    print("  recall under perturbation:", ", ".join(f"{c} {int((oof[c][pos] >= t).sum())}" for c in COPIES))
    print("  " + probe.scene_line(oof["scene"], d.y[src], area, t))
    w, b = probe.fit(np.vstack([x[c] for c in COPIES]), np.tile(d.y, len(COPIES)))
    fitted: dict[str, Any] = {
        "version": VERSION,
        "features": "nsfwjs InceptionV3 embedding (2048; the input of its last layer) of the whole image at 299 x 299",
        "fitted_on": {
            "manifest": "eval/manifest.csv (v2), stills",
            "copies": COPIES,
            "model": f"scikit-learn LogisticRegression(C={probe.C}, class_weight='balanced') on standardised features",
            "command": ".venv/bin/python tools/detect_v2/nsfwjs_probe.py --write",
        },
        "intercept": round(b, 8),
        "weights": [float(f"{v:.7g}") for v in w],
    }
    if args.write:
        OUT.write_text(json.dumps(fitted) + "\n")
        print("wrote", OUT)


if __name__ == "__main__":
    main()

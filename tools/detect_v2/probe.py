"""Fit the linear probe on open_nsfw's pooled features (whole image + top person crop).

1. Features: every dev still (and perturbed copies: motion blur, defocus, low light, moire, text
   overlay) through the shipped :class:`~captureguard.models.probe.NsfwProbeDetector` feature path
   (the same people, crops and open_nsfw pass as at run time), cached per (sha256, perturbation)
   under ``$CG_V2_CACHE/probe``.
2. Grouped CV (``fit_heads``' 67 folds: one per positive group, a group never split; ~12 min on
   2 cores. Merged into 10 folds the recall estimate drops from 61 to 54 of 74: with 74
   positives, every one held out costs the probe): per fold a
   standardised L2 logistic regression (scikit-learn, build time only) on the training folds'
   clean and perturbed copies; out-of-fold (OOF) probabilities for every still, clean and
   perturbed, with the top crop among 6 (photo) and among 2 (live) people. ``fit_heads.py`` stacks
   these OOF scores with the other views (so the head never sees a probe score of a still the probe
   was fitted on).
3. The shipped probe: fitted on all stills and copies, standardisation folded into the weights,
   written to ``src/captureguard/data/probe_open_nsfw.json`` (``--write``).

    .venv/bin/python tools/detect_v2/probe.py [--write]     # ~10 min on 2 cores the first time
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from captureguard.core.probe import LinearProbe, probe_features
from captureguard.models.probe import nsfw_probe_detector
from tools.calibrate_fusion import DEFAULT_MANIFEST, Item, auc, load_frame, read_manifest
from tools.detect_v2 import evaluate

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache")) / "probe"
OUT = ROOT / "src" / "captureguard" / "data" / "probe_open_nsfw.json"
OOF = CACHE / "oof.npz"
#: perturbed copies added to training (camera conditions the issue names)
PERTURBATIONS = ("motion_blur", "defocus", "low_light", "moire", "text_overlay")
#: inverse L2 strength on standardised features (grouped CV: 0.003-0.01 reach the same recall)
C = 0.01
MAX_CROPS = {"photo": 6, "live": 2, "first": 0}  # first: the live cascade's stage 1 (no people)
#: the feature path only: its probe value is never read here
UNFITTED = LinearProbe(np.zeros(2048), 0.0, "unfitted")


def pooled(items: list[Item], pert: str) -> list[dict[str, np.ndarray]]:
    """Per item: ``p`` (1+k) open_nsfw probabilities and ``e`` (1+k, 1024) pooled features, k <= 6."""
    from tqdm import tqdm

    from captureguard.evaluation.perturb import PERTURBATIONS as PERTURB

    folder = CACHE / pert
    folder.mkdir(parents=True, exist_ok=True)
    det = None
    out = []
    for it in tqdm(items, desc=f"features ({pert})", unit="img", mininterval=10):
        f = folder / f"{it.sha256[:24]}.pkl"
        if not f.exists():
            det = det or nsfw_probe_detector(max_crops=6, probe=UNFITTED)
            bgr = np.asarray(load_frame(it.path).bgr)
            if pert != "clean":
                bgr = np.ascontiguousarray(PERTURB[pert](bgr))
            probs, feats, _ = det.features(bgr, det.people.detect_bgr(bgr).xyxy)
            f.write_bytes(pickle.dumps({"p": probs.astype(np.float32), "e": feats.astype(np.float32)}))
        out.append(pickle.loads(f.read_bytes()))
    return out


def matrix(recs: list[dict[str, np.ndarray]], k: int) -> np.ndarray:
    """Probe inputs with the top crop chosen among the first ``k`` (strongest) people."""
    return np.stack([probe_features(r["e"], r["p"][1 : 1 + k]) for r in recs])


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Standardised L2 logistic regression, returned in raw feature units ``(weights, intercept)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(x)
    lr = LogisticRegression(C=C, max_iter=5000, class_weight="balanced").fit(sc.transform(x), y)
    w = lr.coef_[0] / sc.scale_
    return w, float(lr.intercept_[0] - (sc.mean_ * w).sum())


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-np.clip(z, -500, 500))))


def main() -> None:
    from tqdm import tqdm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    ap.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(ROOT)}")
    args = ap.parse_args()
    items = read_manifest(args.manifest)
    d = evaluate.Data.of(items)
    feats = {p: pooled(items, p) for p in ("clean", *PERTURBATIONS)}
    x = {(p, m): matrix(r, k) for p, r in feats.items() for m, k in MAX_CROPS.items()}
    oof: dict[str, np.ndarray] = {}
    folds = d.folds
    for f in tqdm(np.unique(folds), desc="grouped CV", unit="fold"):
        test = folds == f
        xs = np.vstack([x[(p, "photo")][~test] for p in feats])
        w, b = fit(xs, np.tile(d.y[~test], len(feats)))
        for (p, m), xx in x.items():
            oof.setdefault(f"{m}/{p}", np.zeros(len(items)))[test] = sigmoid(xx[test] @ w + b)
    np.savez(OOF, sha=np.array([it.sha256 for it in items]), **oof)
    print(evaluate.HEADER.replace("| system |", "| probe alone (OOF; threshold <= 1% FB pooled and on people) |"))
    for m, k in MAX_CROPS.items():
        s = oof[f"{m}/clean"]
        t = evaluate.threshold_for(s, d)
        print(evaluate.fmt_table(f"{m} (top crop of {k}), AUC {auc(s, d.y):.3f}", s >= t, d))
        pos = d.y == 1
        costs = ", ".join(f"{p} {int((oof[f'{m}/{p}'][pos] >= t).sum())}" for p in PERTURBATIONS)
        print(f"  recall under perturbation at that threshold ({int((s[pos] >= t).sum())} clean): {costs}")
    w, b = fit(np.vstack([x[(p, "photo")] for p in feats]), np.tile(d.y, len(feats)))
    probe: dict[str, Any] = {
        "version": "probe-open_nsfw-pool-v1",
        "features": "open_nsfw pool (Reshape:0, 1024) of the whole image, then of the top-scored person crop",
        "fitted_on": {
            "manifest": "eval/manifest.csv (v2), stills",
            "copies": ["clean", *PERTURBATIONS],
            "model": f"scikit-learn LogisticRegression(C={C}, class_weight='balanced') on standardised features",
            "command": ".venv/bin/python tools/detect_v2/probe.py --write",
        },
        "intercept": round(b, 8),
        "weights": [float(f"{v:.7g}") for v in w],
    }
    if args.write:
        OUT.write_text(json.dumps(probe) + "\n")
        print("wrote", OUT)


if __name__ == "__main__":
    main()

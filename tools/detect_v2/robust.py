"""Recall cost of camera perturbations for the shipped heads (out-of-fold, threshold from clean stills).

Each fold's head is fitted on clean training folds (monotone, as shipped); its clean OOF child
threshold (<= 1% false blocks pooled and on people photos) is kept fixed, and the held-out fold's
*perturbed* stills are scored (the probe's score of a perturbed still comes from its fold's probe,
``tools/detect_v2/probe.py``, fitted on clean and perturbed copies of the other folds). Only stills
whose perturbed views are cached are counted (compute them with ``views.py --pert NAME --subset
pos_people``: the nude artworks and the people photos; ``--subset pos``: the artworks only, recall
without the people false-block column).

    .venv/bin/python tools/detect_v2/robust.py motion_blur defocus low_light moire text_overlay
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from tools.detect_v2 import evaluate, fit_heads, probe
from tools.detect_v2 import views as view_cache


def cached(items: list[view_cache.Item], pert: str, views: list[str]) -> list[dict | None]:
    out = []
    for it in items:
        f = view_cache.CACHE / f"{it.sha256[:24]}_{pert}.pkl"
        rec = pickle.loads(f.read_bytes()) if f.exists() else None
        base = [v.partition("k")[0] for v in views]
        out.append(rec if rec is not None and all(b in rec for b in base) else None)
    return out


def main(perts: list[str]) -> None:
    items = view_cache.read_manifest(view_cache.DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    clean = fit_heads.with_probe(items, view_cache.get(items, ["nn640", "onsfw", "pose640", "crops640"]))
    oof = np.load(probe.OOF)
    print("| mode | perturbation | recall clean -> perturbed (same stills) | change | people FB perturbed |")
    print("|---|---|---|---|---|")
    for mode, (views, _, l2) in fit_heads.MODES.items():
        x = evaluate.features(clean, views, fit_heads.FEATURES)
        heads = {
            f: fit_heads.Head(x[d.folds != f], d.y[d.folds != f], fit_heads.FEATURES, l2) for f in np.unique(d.folds)
        }
        s = np.zeros(len(d.y))
        for f, h in heads.items():
            s[d.folds == f] = h.score(x[d.folds == f])
        t = evaluate.threshold_for(s, d)
        for pert in perts:
            recs = [
                None
                if r is None
                else {**r, "probe": float(oof[f"photo/{pert}"][i]), "probek2": float(oof[f"live/{pert}"][i])}
                for i, r in enumerate(cached(items, pert, [v for v in views if not v.startswith("probe")]))
            ]
            have = np.array([r is not None for r in recs])
            if not (have & (d.y == 1)).any():
                print(f"| {mode} | {pert} | not computed | | |")
                continue
            idx = np.flatnonzero(have)
            xp = evaluate.features([recs[i] for i in idx], views, fit_heads.FEATURES)
            sp = np.array([heads[d.folds[i]].score(xp[j : j + 1])[0] for j, i in enumerate(idx)])
            pos = d.y[idx] == 1
            people = d.cats[idx] == "people"
            rc, rp = (s[idx][pos] >= t).mean(), (sp[pos] >= t).mean()
            print(
                f"| {mode} | {pert} | {100 * rc:.1f}% -> {100 * rp:.1f}% (n={pos.sum()}) | {100 * (rp - rc):+.1f} |"
                f" {(sp[people] >= t).sum()}/{people.sum()} |"
            )


if __name__ == "__main__":
    main(sys.argv[1:] or ["motion_blur", "defocus", "low_light", "moire", "text_overlay"])

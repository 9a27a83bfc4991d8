"""Recall cost of camera perturbations for the shipped heads (out-of-fold, threshold from clean stills).

Each fold's head is fitted on the other folds' clean stills (and, for the live head since v2.5, their
scene copies, the stills counted 4x: ``fit_heads.TRAINING``; monotone, as shipped); its clean OOF
child threshold (<= 1% false blocks pooled and on people photos) is kept fixed, and the held-out
fold's *perturbed* stills are scored. A perturbed still's probe scores come from its fold's probes
(``tools/detect_v2/probe.py``'s per-fold fits: the probe on clean and perturbed copies of the other
folds, the scene probe on those and their scene copies; the photo path's nsfwjs probe, since v2.8,
from ``nsfwjs_probe.py``'s out-of-fold scores of that copy). Only stills whose perturbed views are
cached are counted (compute them with ``views.py --pert NAME --subset pos_people``: the nude
artworks and the people photos; ``--subset pos``: the artworks only, recall without the people
false-block column).

    .venv/bin/python tools/detect_v2/robust.py motion_blur defocus low_light moire text_overlay
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from tools.detect_v2 import evaluate, fit_heads, locator, probe, scenes
from tools.detect_v2 import views as view_cache


def cached(items: list[view_cache.Item], pert: str, views: list[str]) -> list[dict | None]:
    out = []
    for it in items:
        f = view_cache.CACHE / f"{it.sha256[:24]}_{pert}.pkl"
        rec = pickle.loads(f.read_bytes()) if f.exists() else None
        base = [v.partition("k")[0] for v in views]
        out.append(rec if rec is not None and all(b in rec for b in base) else None)
    return out


def fold_probe_scores(
    items: list[view_cache.Item], d: evaluate.Data, pert: str, idx: np.ndarray, views: list[str]
) -> dict[str, np.ndarray]:
    """Probe view (``probe*``, ``sprobe*``) -> the fold probes' scores of the perturbed stills ``idx``."""
    pooled: dict[int, list[dict[str, np.ndarray]]] = {}  # people size -> features, read once
    out = {}
    for view, (pair, m) in fit_heads.PROBE_VIEWS.items():
        wanted = [prefix for prefix in ("", "s") if prefix + view in views]
        if not wanted:
            continue
        ps = probe.SETS[pair]
        folds = {"": np.load(ps.folds), "s": np.load(ps.folds_scene)}
        z, k = probe.MAX_CROPS[m]
        if z not in pooled:
            pooled[z] = probe.pooled([items[i] for i in idx], pert, z)
        picture = None
        if m in probe.PICTURE:  # the located picture's crops, placed by each still's fold locator
            located = locator.located(items, d, pert, scenes.plan(items, d))
            picture = {key: v[idx] for key, v in located.items()}
        x = probe.matrix(pooled[z], k, picture, outer=ps.outer)
        for prefix in wanted:
            npz = folds[prefix]
            at = {int(f): j for j, f in enumerate(npz["fold"])}
            rows = np.array([at[int(d.folds[i])] for i in idx])
            out[prefix + view] = probe.sigmoid(np.einsum("ij,ij->i", x, npz["weights"][rows]) + npz["intercept"][rows])
    return out


def main(perts: list[str]) -> None:
    """The table: each mode's head; a mode whose head also reads another's (``fit_heads.EITHER``,
    the photo check since v2.9) as shipped (``fit_heads.either_scores`` of the two heads' fold
    scores, its clean child threshold from its own OOF scores), and its own head alone beside it."""
    items = view_cache.read_manifest(view_cache.DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    clean = fit_heads.with_probe(items, view_cache.get(items, fit_heads.STILL_VIEWS))
    srecs, src, area = fit_heads.scene_records(items, d)
    njs_oof = fit_heads.nsfwjs_oof(items)
    print("| mode | perturbation | recall clean -> perturbed (same stills) | change | people FB perturbed |")
    print("|---|---|---|---|---|")
    seen: dict[
        str, tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]
    ] = {}  # mode -> (clean, pert -> (idx, scores))
    for mode, (views, _, l2) in fit_heads.MODES.items():
        tr = fit_heads.training_of(mode, d, src, area)  # as the shipped heads
        feats = fit_heads.features_of(views)
        x = evaluate.features(clean + srecs, views, feats)
        heads = tr.heads(x, feats, l2)
        s = tr.oof(x, feats, l2, heads)[: tr.n_stills]
        t = evaluate.threshold_for(s, d)
        seen[mode] = (s, {})
        for pert in perts:
            recs = cached(items, pert, [v for v in views if "probe" not in v])
            njs = njs_oof[pert]  # the nsfwjs probe's OOF scores of this copy (nsfwjs_probe.py)
            have = np.array([r is not None for r in recs])
            if not (have & (d.y == 1)).any():
                print(f"| {mode} | {pert} | not computed | | |")
                continue
            idx = np.flatnonzero(have)
            scores = fold_probe_scores(items, d, pert, idx, [v for v in views if "probe" in v])
            recs = [
                {**recs[i], **{v: float(sc[j]) for v, sc in scores.items()}, "njsprobe": float(njs[i])}
                for j, i in enumerate(idx)
            ]
            xp = evaluate.features(recs, views, feats)
            sp = np.array([heads[d.folds[i]].score(xp[j : j + 1])[0] for j, i in enumerate(idx)])
            seen[mode][1][pert] = (idx, sp)
            alone = f"{mode} head alone" if mode in fit_heads.EITHER else mode
            print(row(alone, pert, d=d, idx=idx, s=s, sp=sp, t=t))
    for mode, (other, offset) in fit_heads.EITHER.items():
        if mode not in seen or other not in seen:
            continue
        s = fit_heads.either_scores(seen[mode][0], seen[other][0], offset)
        t = evaluate.threshold_for(s, d)
        for pert in perts:
            if pert in seen[mode][1] and pert in seen[other][1]:
                (idx, sp_own), (idx_other, sp_other) = seen[mode][1][pert], seen[other][1][pert]
                assert np.array_equal(idx, idx_other)  # the same cached perturbed stills
                sp = fit_heads.either_scores(sp_own, sp_other, offset)
                print(row(f"{mode} (or {other} at {offset:g}, shipped)", pert, d=d, idx=idx, s=s, sp=sp, t=t))


def row(mode: str, pert: str, *, d: evaluate.Data, idx: np.ndarray, s: np.ndarray, sp: np.ndarray, t: float) -> str:
    """A table row: recall of the stills ``idx`` clean (``s``, all stills) and perturbed (``sp``, those),
    at threshold ``t``, and the people photos among them blocked perturbed."""
    pos = d.y[idx] == 1
    people = d.cats[idx] == "people"
    rc, rp = (s[idx][pos] >= t).mean(), (sp[pos] >= t).mean()
    return (
        f"| {mode} | {pert} | {100 * rc:.1f}% -> {100 * rp:.1f}% (n={pos.sum()}) | {100 * (rp - rc):+.1f} |"
        f" {(sp[people] >= t).sum()}/{people.sum()} |"
    )


if __name__ == "__main__":
    from tools.detect_v2.blas import pin

    pin()  # the shipped fits' BLAS (tools/detect_v2/blas.py)
    main(sys.argv[1:] or ["motion_blur", "defocus", "low_light", "moire", "text_overlay"])

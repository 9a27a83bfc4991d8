"""Robustness of candidate systems under the ``eval --perturb`` camera perturbations, grouped CV.

    cd bench/explore && ../../.venv/bin/python robust.py [--pre none|clahe|autolevel] [--perts a,b,...]
        [--systems NAME,...] [--augment]

For each system: the fold models are fitted on the clean training folds (or, with ``--augment``,
on the clean + every perturbed copy of the training folds; copies share their group and fold);
the operating point is the clean OOF <= 1% false-block threshold; every perturbed image is scored
by the model of its own fold. Reported: perturbed recall and false blocks at that threshold, and
the drop in points from clean. ``--pre`` applies a pre-processing to every input (clean too).
"""

from __future__ import annotations

import argparse

import numpy as np

from common import DEFAULT_MANIFEST, fit, folds_and_labels, get_views, read_manifest
import calibrate_fusion as cf
from features import columns, matrix
from levers import SYSTEMS

PERTS = (
    "downscale",
    "jpeg",
    "motion_blur",
    "defocus",
    "low_light",
    "rotate90",
    "rotate180",
    "crop",
    "perspective",
    "moire",
    "mirror",
    "text_overlay",
)
DEFAULT_SYSTEMS = ("baseline 640 (shipped)", "640 + crops(640, k4) max")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pre", default="none")
    ap.add_argument("--perts", default=",".join(PERTS))
    ap.add_argument("--systems", default="|".join(DEFAULT_SYSTEMS))
    ap.add_argument("--augment", action="store_true")
    ap.add_argument("--extra", default="", help="extra systems 'name=feat1+feat2:view1+view2;...'")
    args = ap.parse_args()
    systems = {n: SYSTEMS[n] for n in args.systems.split("|") if n}
    for spec in filter(None, args.extra.split(";")):
        name, rest = spec.split("=")
        feats, needs = rest.split(":")
        systems[name] = (tuple(feats.split("+")), tuple(needs.split("+")))
    perts = [p for p in args.perts.split(",") if p]
    items = read_manifest(DEFAULT_MANIFEST)
    folds, y = folds_and_labels(items)
    needed = sorted({v for _, needs in systems.values() for v in needs})
    clean_cols = columns(get_views(items, needed, pre=args.pre))
    pert_cols = {p: columns(get_views(items, needed, pert=p, pre=args.pre)) for p in perts}
    print(f"pre={args.pre} augment={args.augment}")
    for name, (feats, _) in systems.items():
        xc = matrix(clean_cols, feats)
        xp = {p: matrix(pert_cols[p], feats) for p in perts}
        oof_c = np.zeros(len(y))
        oof_p = {p: np.zeros(len(y)) for p in perts}
        for f in np.unique(folds):
            test = folds == f
            xtr, ytr = xc[~test], y[~test]
            if args.augment:
                xtr = np.vstack([xtr, *(xp[p][~test] for p in perts)])
                ytr = np.concatenate([ytr] * (1 + len(perts)))
            m = fit(xtr, ytr)
            oof_c[test] = m.score(xc[test])
            for p in perts:
                oof_p[p][test] = m.score(xp[p][test])
        t = cf.threshold_at(oof_c, y, 0.01)
        rc = float((oof_c[y == 1] >= t).mean())
        print(
            f"\n### {name} ({', '.join(feats)}): clean R@1% {rc * 100:.1f}% "
            f"(FB {(oof_c[y == 0] >= t).sum()}/153), AUC {cf.auc(oof_c, y):.3f}"
        )
        print("| perturbation | recall | drop (points) | FB | AUC | R@1% re-thresholded |")
        print("|---|---|---|---|---|---|")
        drops = []
        for p in perts:
            s = oof_p[p]
            r = float((s[y == 1] >= t).mean())
            drops.append((rc - r) * 100)
            print(
                f"| {p} | {r * 100:.1f}% | {-(rc - r) * 100:+.1f} | {(s[y == 0] >= t).sum()} | "
                f"{cf.auc(s, y):.3f} | {cf.recall_at(s, y, 0.01) * 100:.0f}% |"
            )
        print(f"| worst drop | | {-max(drops):+.1f} | | | |")


if __name__ == "__main__":
    main()

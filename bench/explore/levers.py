"""Grouped-CV out-of-fold table of the new levers (clean stills).

    cd bench/explore && ../../.venv/bin/python levers.py [--nested] [--detail SYSTEM_NAME]

Every system is a logistic fusion (L2 = 1 on standardised features, as calibrate_fusion.py) of
the named columns of features.py, scored out-of-fold with calibrate_fusion's grouped folds.
``--nested`` also chooses L2 per outer fold by inner grouped CV.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from common import DEFAULT_MANIFEST, folds_and_labels, get_views, nested_oof, oof, read_manifest, summary
from features import columns, matrix

VIEWS = [
    "onsfw",
    "s640",
    "s960",
    "s1280",
    "t2o25",
    "t3o33",
    "s480",
    "s800",
    "crop640",
    "crop640_1280",
    "crop640_k2",
    "crop1280",
    "crop1280_k6",
    "cropt3",
    "cropt3_k6",
    "cropt2",
    "s320",
]

#: name -> (feature columns, views needing run time)
SYSTEMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "baseline 640 (shipped)": (("g", "es_s640"), ("s640", "onsfw")),
    "open_nsfw alone": (("g",), ("onsfw",)),
    # 1. resolution
    "960": (("g", "es_s960"), ("s960", "onsfw")),
    "1280": (("g", "es_s1280"), ("s1280", "onsfw")),
    "800": (("g", "es_s800"), ("s800", "onsfw")),
    "tiles 2x2 o.25 @640 only": (("g", "es_t2o25"), ("t2o25", "onsfw")),
    "640+960 union": (("g", "esmax_640+960"), ("s640", "s960", "onsfw")),
    "640+960 mean": (("g", "esmean_640+960"), ("s640", "s960", "onsfw")),
    "640+1280 union": (("g", "esmax_640+1280"), ("s640", "s1280", "onsfw")),
    "640+1280 mean": (("g", "esmean_640+1280"), ("s640", "s1280", "onsfw")),
    "640+1280 min": (("g", "esmin_640+1280"), ("s640", "s1280", "onsfw")),
    "640+960+1280 mean": (("g", "esmean_640+960+1280"), ("s640", "s960", "s1280", "onsfw")),
    "640+960+1280 union": (("g", "esmax_640+960+1280"), ("s640", "s960", "s1280", "onsfw")),
    "640+960+1280 mean + agree": (
        ("g", "esmean_640+960+1280", "agree_640+960+1280"),
        ("s640", "s960", "s1280", "onsfw"),
    ),
    "640+t2 mean": (("g", "esmean_640+t2o25"), ("s640", "t2o25", "onsfw")),
    "640+t2 union": (("g", "esmax_640+t2o25"), ("s640", "t2o25", "onsfw")),
    "640+t3 mean": (("g", "esmean_640+t3o33"), ("s640", "t3o33", "onsfw")),
    "640+1280+t2 mean": (("g", "esmean_640+1280+t2o25"), ("s640", "s1280", "t2o25", "onsfw")),
    "640+1280+t2 mean + agree": (
        ("g", "esmean_640+1280+t2o25", "agree_640+1280+t2o25"),
        ("s640", "s1280", "t2o25", "onsfw"),
    ),
    "480+640+800 mean": (("g", "esmean_480+640+800"), ("s480", "s640", "s800", "onsfw")),
    "640 + 1280 two features": (("g", "es_s640", "es_s1280"), ("s640", "s1280", "onsfw")),
    # class-aware maxima (no argmax)
    "640 class-aware": (("g", "esraw_s640"), ("s640", "onsfw")),
    "1280 class-aware": (("g", "esraw_s1280"), ("s1280", "onsfw")),
    # 2. guided open_nsfw crops / region evidence
    "640 + crops(640, k4) max": (("crop_crop640", "es_s640"), ("s640", "onsfw", "crop640")),
    "640 + crops(640, k4) g,crop": (("g", "crop_crop640", "es_s640"), ("s640", "onsfw", "crop640")),
    "640 + crops(640, k4) mean": (("cropmean_crop640", "es_s640"), ("s640", "onsfw", "crop640")),
    "640 + crops(640, k2) max": (("crop_crop640_k2", "es_s640"), ("s640", "onsfw", "crop640_k2")),
    "640+1280 mean + crops(640+1280) max": (
        ("crop_crop640_1280", "esmean_640+1280"),
        ("s640", "s1280", "onsfw", "crop640_1280"),
    ),
    "640 + crops(1280, k4) max": (("crop_crop1280", "es_s640"), ("s640", "s1280", "onsfw", "crop1280")),
    "640 + crops(1280, k6 @.05) max": (("crop_crop1280_k6", "es_s640"), ("s640", "s1280", "onsfw", "crop1280_k6")),
    "640 + crops(t2, k4) max": (("crop_cropt2", "es_s640"), ("s640", "t2o25", "onsfw", "cropt2")),
    "640 + crops(t3, k4) max": (("crop_cropt3", "es_s640"), ("s640", "t3o33", "onsfw", "cropt3")),
    "640 + crops(t3, k6 @.05) max": (("crop_cropt3_k6", "es_s640"), ("s640", "t3o33", "onsfw", "cropt3_k6")),
    "640+t3 mean + crops(t3) max": (("crop_cropt3", "esmean_640+t3o33"), ("s640", "t3o33", "onsfw", "cropt3")),
    "640+t3 mean + crops(t3, k6) max": (
        ("crop_cropt3_k6", "esmean_640+t3o33"),
        ("s640", "t3o33", "onsfw", "cropt3_k6"),
    ),
    "640 split intimate/skin sums": (("g", "is_s640", "ss_s640"), ("s640", "onsfw")),
    "640 split + crops(1280, k6) max": (
        ("crop_crop1280_k6", "is_s640", "ss_s640"),
        ("s640", "s1280", "onsfw", "crop1280_k6"),
    ),
    "640 + crops(1280,k6) + crops(640) max": (
        ("crop_crop1280_k6", "crop_crop640", "es_s640"),
        ("s640", "s1280", "onsfw", "crop640", "crop1280_k6"),
    ),
    "640+1280 min + crops(1280, k6) max": (
        ("crop_crop1280_k6", "esmin_640+1280"),
        ("s640", "s1280", "onsfw", "crop1280_k6"),
    ),
    "480+640 union": (("g", "esmax_480+640"), ("s480", "s640", "onsfw")),
    "480+640 mean": (("g", "esmean_480+640"), ("s480", "s640", "onsfw")),
    "320+640 mean": (("g", "esmean_320+640"), ("s320", "s640", "onsfw")),
    "320+480+640 union": (("g", "esmax_320+480+640"), ("s320", "s480", "s640", "onsfw")),
    "480+640 union + crops(640) max": (("crop_crop640", "esmax_480+640"), ("s480", "s640", "onsfw", "crop640")),
    "480+640 mean + crops(1280,k6) max": (
        ("crop_crop1280_k6", "esmean_480+640"),
        ("s480", "s640", "s1280", "onsfw", "crop1280_k6"),
    ),
    "640 + area": (("g", "es_s640", "area_s640"), ("s640", "onsfw")),
    "640 + count": (("g", "es_s640", "cnt_s640"), ("s640", "onsfw")),
    "640 + intimate_max": (("g", "es_s640", "im_s640"), ("s640", "onsfw")),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nested", action="store_true")
    ap.add_argument("--detail", nargs="*", default=[])
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    items = read_manifest(DEFAULT_MANIFEST)
    views = get_views(items, VIEWS, progress=False)
    cols = columns(views)
    folds, y = folds_and_labels(items)
    ms = {v: float(np.median([float(r["ms"]) for r in views[v]])) for v in VIEWS}
    rows = {}
    print("| lever | features | R@0.5% | R@1% | R@5% | AUC | nested R@1% / AUC (L2 chosen) | data ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (feats, needs) in SYSTEMS.items():
        if not all(f in cols for f in feats):
            continue
        x = matrix(cols, feats)
        s, _ = oof(x, y, folds)
        m = summary(s, y)
        nest = ""
        if args.nested:
            sn, chosen = nested_oof(x, y, folds)
            mn = summary(sn, y)
            nest = f"{mn['r1'] * 100:.0f}% / {mn['auc']:.3f} ({min(chosen):g}-{max(chosen):g})"
        t = sum(ms[v] for v in needs)
        rows[name] = {**m, "ms_data": t, "features": feats}
        print(
            f"| {name} | {', '.join(feats)} | {m['r05'] * 100:.0f}% | {m['r1'] * 100:.0f}% ({round(m['r1'] * 13)}/13) | "
            f"{m['r5'] * 100:.0f}% | {m['auc']:.3f} | {nest} | {t:.0f} |"
        )
        if name in args.detail:
            neg = np.sort(s[y == 0])[::-1]
            print(f"   top negatives: {np.round(neg[:4], 3)}")
            for it, sc in sorted(zip(items, s), key=lambda t: -t[1]):
                if it.label:
                    print(f"   {sc:.3f}  {it.title[:60]}")
            for it, sc in sorted(zip(items, s), key=lambda t: -t[1])[:40]:
                if not it.label and sc >= neg[3]:
                    print(f"   NEG {sc:.3f} {it.kind} {it.title[:50]}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()

"""Is another model complementary to the shipped check? Grouped-CV fusion of the shipped features
(nsfw_logit, exposed_sum) with one more score (its logit), exactly as bench/calibrate_fusion.py.

Usage: python combine.py scores_NAME.json [more score files]   (files from $WORK, written by the
other scripts here). Prints OOF AUC and recall at <= 0.5/1/5% false blocks, and the misses.
"""

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))
import calibrate_fusion as cf  # noqa: E402

from common import EVAL, WORK  # noqa: E402


def logit(p):
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def main():
    items = cf.read_manifest(EVAL / "manifest.csv")
    results = cf.extract(items, {k: v for k, v in cf.VIEWS.items() if k in ("nn640", "open_nsfw")})
    base = cf.feature_matrix(results, ("nn640", "open_nsfw"), ("nsfw_logit", "exposed_sum"))
    y = np.array([it.label for it in items])
    folds = cf.grouped_folds(items)
    rel = [str(it.path.relative_to(EVAL)) for it in items]
    extra = []
    for name in sys.argv[1:]:
        scores = json.loads((WORK / name).read_text())
        extra.append(logit([scores[r] for r in rel]))
    systems = {"shipped (nsfw_logit, exposed_sum)": base}
    for name, col in zip(sys.argv[1:], extra):
        systems[f"+ {name}"] = np.column_stack([base, col])
        systems[f"{name} alone"] = col[:, None]
    if len(extra) > 1:
        systems["+ all"] = np.column_stack([base, *extra])
    for label, x in systems.items():
        oof = cf.oof_scores(x, y, folds)
        s = cf.summarise(oof, y)
        thr = cf.threshold_at(oof, y, 0.01)
        missed = [it.title[:40] for it, v in zip(items, oof) if it.label == 1 and v < thr]
        print(f"{label:60s} AUC {s['auc']:.3f}  R@0.5% {s['recall_at_0.5pct']:.0%}  R@1% {s['recall_at_1pct']:.0%}"
              f"  R@5% {s['recall_at_5pct']:.0%}")
        print(f"    missed at 1%: {missed}")
        negs = sorted(((v, it.title[:40]) for it, v in zip(items, oof) if it.label == 0), reverse=True)[:3]
        print(f"    top safe: {[(round(v, 3), t) for v, t in negs]}")


if __name__ == "__main__":
    main()

"""Per-image diagnostic: every positive and the hardest negatives, raw signals per view (no images)."""

import numpy as np
from common import DEFAULT_MANIFEST, folds_and_labels, get_views, oof, read_manifest, LABELS, per_class
from features import columns, matrix
from levers import VIEWS

items = read_manifest(DEFAULT_MANIFEST)
views = get_views(items, VIEWS, progress=False)
cols = columns(views)
folds, y = folds_and_labels(items)
s, _ = oof(matrix(cols, ("g", "es_s640")), y, folds)
show = [
    "g",
    "crop_crop640",
    "crop_crop640_1280",
    "es_s480",
    "es_s640",
    "es_s800",
    "es_s960",
    "es_s1280",
    "es_t2o25",
    "es_t3o33",
    "esraw_s640",
]
print("title | oof | " + " | ".join(show) + " | ncrops")
order = np.argsort(-s)
negs = [i for i in order if y[i] == 0][:8]
for i in [i for i in order if y[i] == 1] + negs:
    it = items[i]
    print(
        f"{'POS' if y[i] else 'neg'} {it.title[:38]:38s} {s[i]:.2f} | "
        + " ".join(f"{cols[c][i]:6.2f}" for c in show)
        + f" | {len(views['crop640'][i]['p'])}"
    )
# top classes for misses
for i in [i for i in order if y[i] == 1][-6:] + negs[:2]:
    for v in ("s640", "s1280", "t3o33"):
        cm = per_class(views[v][i])
        top = np.argsort(-cm)[:4]
        print(items[i].title[:30], v, [(LABELS[t][:14], round(float(cm[t]), 2)) for t in top])
    print("  crops p:", np.round(views["crop640_1280"][i]["p"], 3))

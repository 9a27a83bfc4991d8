"""Clean-still OOF of candidate systems with CLAHE (or another pre-processing) on every input."""
import sys
from common import *  # noqa: F403
from features import columns, matrix
from levers import SYSTEMS
pre = sys.argv[1] if len(sys.argv) > 1 else "clahe"
names = ["baseline 640 (shipped)", "640 + crops(640, k4) max", "640 + crops(1280, k6 @.05) max", "480+640 union",
         "480+640 union + crops(640) max", "480+640 mean + crops(1280,k6) max"]
items = read_manifest(DEFAULT_MANIFEST); folds, y = folds_and_labels(items)
c = columns(get_views(items, ["s480", "s640", "onsfw", "crop640", "s1280", "crop1280_k6"], pre=pre, progress=False))
for n in names:
    feats = SYSTEMS[n][0]
    m = summary(oof(matrix(c, feats), y, folds)[0], y)
    mn = summary(nested_oof(matrix(c, feats), y, folds)[0], y)
    print(f"| {pre} + {n} | {', '.join(feats)} | {m['r05']*100:.0f}% | {m['r1']*100:.0f}% ({round(m['r1']*13)}/13) | {m['r5']*100:.0f}% | {m['auc']:.3f} | {mn['r1']*100:.0f}% / {mn['auc']:.3f} |")

"""Clean-still OOF of the shipped features with a pre-processing applied to every input."""

import sys
from common import *  # noqa: F403
from features import columns, matrix

items = read_manifest(DEFAULT_MANIFEST)
folds, y = folds_and_labels(items)
for pre in sys.argv[1:] or ["none", "clahe"]:
    c = columns(get_views(items, ["s640", "onsfw"], pre=pre, progress=False))
    for feats in (("g", "es_s640"), ("g",)):
        m = summary(oof(matrix(c, feats), y, folds)[0], y)
        print(pre, feats, {k: round(v, 3) for k, v in m.items()})

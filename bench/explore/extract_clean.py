"""Fill the /tmp/explore_cache with every clean view (run once; ~5-10 min on 2 threads)."""

import sys
from common import *  # noqa: F403

items = read_manifest(DEFAULT_MANIFEST)
views = sys.argv[1:] or [
    "s640",
    "onsfw",
    "s960",
    "s1280",
    "t2o25",
    "t3o33",
    "crop640",
    "crop640_1280",
    "crop640_k2",
    "s480",
    "s800",
]
for v in views:
    r = get_views(items, [v], progress=False)
    print(v, "median ms", float(np.median([float(x["ms"]) for x in r[v]])), flush=True)

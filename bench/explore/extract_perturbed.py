"""Fill the cache with views of every perturbed still: extract_perturbed.py PRE VIEW... (default: none)."""

import sys
from common import *  # noqa: F403
from robust import PERTS

pre = sys.argv[1] if len(sys.argv) > 1 else "none"
views = sys.argv[2:] or ["s640", "onsfw", "crop640", "s1280", "crop1280_k6"]
items = read_manifest(DEFAULT_MANIFEST)
for p in PERTS:
    get_views(items, views, pert=p, pre=pre, progress=False)
    print("done", p, flush=True)

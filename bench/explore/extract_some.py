"""extract_some.py PRE PERT1,PERT2 VIEW...: fill the cache for a few perturbations ('clean' allowed)."""

import sys
from common import *  # noqa: F403

pre, perts, views = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
items = read_manifest(DEFAULT_MANIFEST)
for p in perts:
    get_views(items, views, pert=p, pre=pre, progress=False)
    print("done", pre, p, views, flush=True)

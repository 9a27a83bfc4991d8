"""nudenet 3.0.8's best.onnx vs 3.4.2's 320n.onnx, both at 320 letterboxed, max exposed intimate class.

Setup: pip download --no-deps nudenet==3.0.8 -d $WORK && unzip it into $WORK/nudenet-3.0.8
"""

import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

from common import WORK, items, load, report

EXPOSED_INTIMATE = [2, 3, 4, 14, 6]  # class indices of exposed breast/genitalia/buttocks/anus


def prep(im, size=320):
    w, h = im.size
    f = size / max(w, h)
    im = im.resize((max(1, round(w * f)), max(1, round(h * f))), Image.BILINEAR)
    canvas = Image.new("RGB", (size, size))
    canvas.paste(im, ((size - im.size[0]) // 2, (size - im.size[1]) // 2))
    return (np.asarray(canvas, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]


def main():
    import nudenet

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    models = {
        "nudenet308_best": WORK / "nudenet-3.0.8" / "nudenet" / "best.onnx",
        "nudenet342_320n": nudenet.__path__[0] + "/320n.onnx",
    }
    for name, path in models.items():
        session = ort.InferenceSession(str(path), so)
        scores = {}
        for r in items():
            y = session.run(None, {"images": prep(load(r["path"]))})[0][0]
            scores[r["path"]] = float(y[4:][EXPOSED_INTIMATE].max())
        report(name, scores)


if __name__ == "__main__":
    sys.exit(main())

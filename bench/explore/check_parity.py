"""Sanity: the exploration's s640 view (argmax + NMS per-class maxima) and onsfw reproduce the
cached features of calibrate_fusion's nn640/open_nsfw views, and the shipped OOF numbers."""

from common import *  # noqa: F403
from captureguard.core.fusion import class_scores

items = read_manifest(DEFAULT_MANIFEST)
ref = cf.extract(items, {"nn640": cf.VIEWS["nn640"], "open_nsfw": cf.VIEWS["open_nsfw"]})
mine = get_views(items, ["s640", "onsfw"])
d_es, d_g = [], []
for i in range(len(items)):
    sc = class_scores(cf.to_detections(ref["nn640"][i]["records"]))
    es_ref = sum(sc.get(c, 0.0) for c in EXPOSED)
    d_es.append(abs(es_ref - exposed_sum(per_class(mine["s640"][i]))))
    d_g.append(abs(ref["open_nsfw"][i]["records"][0]["score"] - float(mine["onsfw"][i]["p"])))
print("max |exposed_sum diff|", max(d_es), "max |open_nsfw diff|", max(d_g))
folds, y = folds_and_labels(items)
x = np.array([[float(logit(m["p"])), exposed_sum(per_class(r))] for m, r in zip(mine["onsfw"], mine["s640"])])
print("shipped system OOF:", summary(oof(x, y, folds)[0], y))

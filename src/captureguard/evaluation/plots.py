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


def _hbars(ax: Any, rows: Sequence[tuple[str, int, int]], title: str, xlabel: str, *, full: bool) -> None:
    """Horizontal bars of ``blocked / n`` per labelled row, each annotated ``b/n``; the axis spans
    0-100% when ``full``, else zooms to the largest rate (false blocks are a few percent)."""
    labels = [r[0] for r in rows]
    rates = [r[1] / r[2] for r in rows]
    top = 1.0 if full else max(0.05, *rates)
    ax.barh(np.arange(len(rows)), rates, color="#4c72b0" if full else "#c44e52")
    for y, (_, b, n) in enumerate(rows):
        ax.text(b / n + 0.01 * top, y, f"{b}/{n}", va="center", fontsize=7)
    ax.set_yticks(np.arange(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.18 * top), title=title, xlabel=xlabel)
    ax.grid(axis="x", alpha=0.3)


def _development_bars(coverage: dict[str, Any], config: str, label: str) -> list[tuple[str, int, int]]:
    wanted = ("kind", "size", "kind and size") if label == "nudity" else ("size", "safe family")
    return [
        (r["group"], *r[label][config])
        for r in coverage["development"]
        if r["section"] in wanted and r[label].get(config) and r[label][config][1]
    ]


def write_coverage_plot(out: Path, coverage: dict[str, Any]) -> list[Path]:
    """Write ``coverage.png`` (first coverage configuration): recall by kind and size, false blocks by
    safe family and size, and, with coverage sets, the block rate by skin tone per variant."""
    configs = coverage.get("configurations") or []
    if not configs or not coverage.get("development"):
        return []
    config, plt = configs[0], _pyplot()
    tables = coverage.get("coverage_sets", {}).get(config, [])
    tones = next((t for t in tables if t["attribute"] == "skin_tone"), None)
    fig, axes = plt.subplots(
        1, 3 if tones else 2, figsize=(17 if tones else 12, 5), dpi=100, width_ratios=[1.2, 1.2, 1][: 3 if tones else 2]
    )
    _hbars(axes[0], _development_bars(coverage, config, "nudity"), f"Nudity blocked ({config})", "recall", full=True)
    safe = _development_bars(coverage, config, "safe")
    _hbars(axes[1], safe, f"Safe blocked ({config})", "false-block rate (zoomed)", full=False)
    if tones:
        values = [r["value"] for r in tones["rows"]]
        for variant in tones["variants"]:
            rates = [
                r["cells"][variant][0] / r["cells"][variant][1] if variant in r["cells"] else np.nan
                for r in tones["rows"]
            ]
            axes[2].plot(values, rates, marker="o", label=variant)
        axes[2].set(ylim=(-0.02, 1.02), xlabel="skin tone (0 lightest .. 7 darkest)", ylabel="blocked")
        axes[2].set_title("Synthetic bodies: blocked by skin tone", fontsize=10)
        axes[2].legend(fontsize=7)
        axes[2].grid(alpha=0.3)
    fig.tight_layout()
    path = out / "coverage.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]

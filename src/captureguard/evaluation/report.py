"""The metrics of ``captureguard eval`` (``metrics.json``, schema version 1) from a :class:`RunResult`.

Everything here is numbers and paths: the report never holds an image of a nudity row. Rendering to
Markdown/HTML lives in :mod:`captureguard.evaluation.render`, plots in :mod:`captureguard.evaluation.plots`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from captureguard._version import __version__
from captureguard.evaluation import metrics as m
from captureguard.evaluation.runner import RunResult, StillResult, speed

SCHEMA_VERSION = 1
#: False-block rates at which recall is reported.
RATES = (0.005, 0.01, 0.05)
#: The rate whose threshold decides misses/false blocks for a configuration without a shipped decision.
DEFAULT_RATE = 0.01


def config_names(stills: Sequence[StillResult]) -> list[str]:
    """Every configuration scored on some still, in first-seen order."""
    names: dict[str, None] = {}
    for still in stills:
        names.update(dict.fromkeys(still.scores))
    return list(names)


def _arrays(name: str, stills: Sequence[StillResult]) -> tuple[list[StillResult], np.ndarray, np.ndarray]:
    rows = [s for s in stills if name in s.scores]
    scores = np.array([s.scores[name].score for s in rows], dtype=np.float64)
    labels = np.array([s.item.label == "nudity" for s in rows], dtype=bool)
    return rows, scores, labels


def operating_points(scores: np.ndarray, labels: np.ndarray, groups: list[str], n_boot: int) -> list[dict[str, Any]]:
    """Recall at each of :data:`RATES` with its threshold and grouped-bootstrap 95% interval."""
    out = []
    for rate in RATES:
        op = m.operating_point(scores, labels, rate)
        lo, hi = m.bootstrap_recall_ci(scores, labels, groups, rate, n_boot=n_boot)
        out.append(
            {
                "rate": rate,
                "threshold": op.threshold,
                "recall": op.recall,
                "ci95": [lo, hi],
                "false_blocks": op.false_blocks,
                "negatives": op.negatives,
                "positives": op.positives,
                "tp": op.tp,
            }
        )
    return out


def config_metrics(name: str, stills: Sequence[StillResult], *, n_boot: int = 1000) -> dict[str, Any]:
    """All still-image metrics of one configuration."""
    rows, scores, labels = _arrays(name, stills)
    groups = [s.item.group for s in rows]
    kinds = [s.item.kind for s in rows]
    shipped = [s.scores[name].blocked for s in rows]
    has_decision = bool(rows) and all(b is not None for b in shipped)
    if has_decision:
        blocked = np.array(shipped, dtype=bool)
    else:
        blocked = scores >= m.operating_point(scores, labels, DEFAULT_RATE).threshold
    return {
        "images": len(rows),
        "positives": int(labels.sum()),
        "negatives": int((~labels).sum()),
        "auc": m.auc(scores, labels),
        "at_false_block_rate": operating_points(scores, labels, groups, n_boot),
        "decision": "shipped" if has_decision else f"threshold at {DEFAULT_RATE:.1%} false blocks",
        "confusion": m.confusion(blocked, labels),
        "recall_by_kind": {k: list(v) for k, v in m.recall_by_kind(blocked, labels, kinds).items()},
        "false_blocks_by_kind": {k: list(v) for k, v in m.false_blocks_by_kind(blocked, labels, kinds).items()},
        "misses": _listed(rows, scores, labels & ~blocked),
        "false_blocks": _listed(rows, scores, ~labels & blocked),
        "speed": speed([s.scores[name].ms for s in rows], [s.scores[name].rss_kb for s in rows]),
    }


def _listed(rows: Sequence[StillResult], scores: np.ndarray, mask: np.ndarray) -> list[dict[str, Any]]:
    """Paths and scores (never pixels), highest score first."""
    picked = [(str(rows[i].item.path), rows[i].item.kind, float(scores[i])) for i in np.flatnonzero(mask).tolist()]
    return [{"path": p, "kind": k, "score": round(s, 4)} for p, k, s in sorted(picked, key=lambda x: -x[2])]


def perturbation_metrics(stills: Sequence[StillResult], baseline: str = "profile:child") -> dict[str, Any]:
    """Per perturbation: recall and false blocks at the baseline's shipped decision, and the change."""
    out: dict[str, Any] = {}
    for name in (n for n in config_names(stills) if n.startswith("perturb:")):
        rows = [s for s in stills if name in s.scores and baseline in s.scores]
        labels = np.array([s.item.label == "nudity" for s in rows], dtype=bool)
        after = m.confusion([bool(s.scores[name].blocked) for s in rows], labels)
        before = m.confusion([bool(s.scores[baseline].blocked) for s in rows], labels)
        out[name.removeprefix("perturb:")] = {
            "images": len(rows),
            "recall": after["recall"],
            "false_blocks": after["fp"],
            "recall_drop": before["recall"] - after["recall"],
            "false_blocks_change": after["fp"] - before["fp"],
        }
    return out


def build_metrics(result: RunResult, *, manifest: Path, n_boot: int = 1000) -> dict[str, Any]:
    """The whole ``metrics.json`` document."""
    names = [n for n in config_names(result.stills) if not n.startswith("perturb:")]
    return {
        "schema_version": SCHEMA_VERSION,
        "captureguard_version": __version__,
        "manifest": str(manifest),
        "stills": len(result.stills),
        "errors": result.errors,
        "rates": list(RATES),
        "configurations": {name: config_metrics(name, result.stills, n_boot=n_boot) for name in names},
        "perturbations": perturbation_metrics(result.stills),
        "videos": result.videos,
        "peak_rss_mib": round(result.peak_rss_kb / 1024.0, 1),
    }


def _clean(value: Any) -> Any:
    """nan/inf -> None (JSON has no nan), tuples -> lists, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_metrics(metrics: dict[str, Any], path: Path) -> None:
    """Write ``metrics.json`` (strict JSON: nan as null)."""
    path.write_text(json.dumps(_clean(metrics), indent=2, allow_nan=False) + "\n", "utf-8")

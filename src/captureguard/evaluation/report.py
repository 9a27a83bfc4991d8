"""The metrics of ``captureguard eval`` (``metrics.json``, schema version 1) from a :class:`RunResult`.

Everything here is numbers and paths: the report never holds an image of a nudity row. Rendering to
Markdown/HTML lives in :mod:`captureguard.evaluation.render`, plots in :mod:`captureguard.evaluation.plots`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from captureguard._version import __version__
from captureguard.evaluation import coverage as cov
from captureguard.evaluation import metrics as m
from captureguard.evaluation.runner import RunResult, Score, StillResult, speed

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


@dataclass(frozen=True)
class DecisionRule:
    """How a configuration's block decision is read from a :class:`Score`: its shipped decision, or
    (configurations without one) ``score >= threshold`` at :data:`DEFAULT_RATE` false blocks."""

    shipped: bool
    threshold: float = math.inf

    def __call__(self, score: Score) -> bool:
        return bool(score.blocked) if self.shipped else score.score >= self.threshold


def decision_rule(name: str, stills: Sequence[StillResult]) -> DecisionRule:
    """The decision rule of configuration ``name``, fitted (if it has no shipped decision) on ``stills``."""
    rows, scores, labels = _arrays(name, stills)
    if rows and all(s.scores[name].blocked is not None for s in rows):
        return DecisionRule(shipped=True)
    return DecisionRule(shipped=False, threshold=m.operating_point(scores, labels, DEFAULT_RATE).threshold)


def config_metrics(name: str, stills: Sequence[StillResult], *, n_boot: int = 1000) -> dict[str, Any]:
    """All still-image metrics of one configuration."""
    rows, scores, labels = _arrays(name, stills)
    groups = [s.item.group for s in rows]
    kinds = [s.item.kind for s in rows]
    rule = decision_rule(name, stills)
    blocked = np.array([rule(s.scores[name]) for s in rows], dtype=bool)
    has_decision = rule.shipped
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
    """Per perturbation, on the stills it was computed on: recall, false blocks (all safe stills and
    photos of people) at the baseline's shipped decision, the same on the clean stills, and the change.

    ``recall_drop`` is clean minus perturbed recall (a fraction: 0.1 = 10 points).
    """
    out: dict[str, Any] = {}
    for name in (n for n in config_names(stills) if n.startswith("perturb:")):
        rows = [s for s in stills if name in s.scores and baseline in s.scores]
        labels = np.array([s.item.label == "nudity" for s in rows], dtype=bool)
        people = np.array([s.item.label == "safe" and cov.is_people_photo(s.item.kind) for s in rows], dtype=bool)
        after_b = np.array([bool(s.scores[name].blocked) for s in rows], dtype=bool)
        before_b = np.array([bool(s.scores[baseline].blocked) for s in rows], dtype=bool)
        after, before = m.confusion(after_b, labels), m.confusion(before_b, labels)
        out[name.removeprefix("perturb:")] = {
            "images": len(rows),
            "positives": int(labels.sum()),
            "negatives": int((~labels).sum()),
            "recall": after["recall"],
            "clean_recall": before["recall"],
            "recall_drop": before["recall"] - after["recall"],
            "false_blocks": after["fp"],
            "clean_false_blocks": before["fp"],
            "false_block_rate": after["false_block_rate"],
            "clean_false_block_rate": before["false_block_rate"],
            "false_blocks_change": after["fp"] - before["fp"],
            "people": [int(after_b[people].sum()), int(people.sum())],
            "clean_people": [int(before_b[people].sum()), int(people.sum())],
        }
    return out


#: Configurations the coverage tables show (those present); if none is, every configuration.
COVERAGE_CONFIGS = ("profile:child", "profile:child:flagged", "ref:nudenet", "ref:opennsfw")


def coverage_metrics(
    stills: Sequence[StillResult],
    coverage: Sequence[StillResult],
    *,
    attributes: Mapping[Path, Mapping[str, str]],
    short_side: Callable[[Path], int | None],
) -> dict[str, Any]:
    """The coverage and fairness tables (:mod:`captureguard.evaluation.coverage`).

    Decisions are each configuration's shipped one, or its threshold at :data:`DEFAULT_RATE` false
    blocks fitted on ``stills`` only (the development rows), then applied to the ``coverage`` rows.
    """
    names = [n for n in config_names(stills) if not n.startswith("perturb:")]
    configs = [c for c in COVERAGE_CONFIGS if c in names] or names
    rules = {c: decision_rule(c, stills) for c in configs}

    def items(rows: Sequence[StillResult]) -> list[cov.CoverageItem]:
        return [
            cov.CoverageItem(
                label=s.item.label,
                kind=s.item.kind,
                short_side_px=short_side(s.item.path),
                blocked={c: rules[c](s.scores[c]) for c in configs if c in s.scores},
                attributes=attributes.get(s.item.path, {}),
            )
            for s in rows
        ]

    cover = items(coverage)
    return {
        "configurations": configs,
        "decisions": {c: "shipped" if r.shipped else f"score >= {r.threshold:.4g}" for c, r in rules.items()},
        "thumbnail_short_side_px": cov.THUMBNAIL_SHORT_SIDE_PX,
        "development": cov.development_rows(items(stills), configs),
        "coverage_stills": len(coverage),
        "coverage_sets": {c: cov.coverage_tables(cover, c) for c in configs} if cover else {},
    }


def image_short_side(path: Path) -> int | None:
    """The shorter side of an image file in pixels, from its header (None if unreadable)."""
    from captureguard.sources.image import header_size

    size = header_size(path)
    return None if size is None else min(size)


def build_metrics(
    result: RunResult,
    *,
    manifest: Path,
    n_boot: int = 1000,
    attributes: Mapping[Path, Mapping[str, str]] | None = None,
    short_side: Callable[[Path], int | None] = image_short_side,
) -> dict[str, Any]:
    """The whole ``metrics.json`` document. ``result.coverage`` rows appear only under ``coverage``."""
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
        "coverage": coverage_metrics(
            result.stills, result.coverage, attributes=attributes or {}, short_side=short_side
        ),
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

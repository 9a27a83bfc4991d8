"""Fusion: region evidence and whole-image scores -> one calibrated nudity score (numpy only).

A :class:`FusionModel` is a logistic model over a few named features of a frame's
:class:`~captureguard.core.detection.Detections`. Its weights are data (``data/fusion.json``),
fitted at build time by ``tools/calibrate_fusion.py`` with grouped cross-validation on an eval manifest.
"""

from __future__ import annotations

import importlib.resources
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captureguard.core.detection import BODY_PART_LABELS, EXPOSED_INTIMATE, EXPOSED_SKIN, IMAGE_NSFW, Detections
from captureguard.core.verdict import Reason
from captureguard.errors import ConfigError, DetectionError


@dataclass(frozen=True)
class Assessment:
    """Evidence about one frame, before any policy is applied.

    Attributes:
        score: fused nudity probability in ``[0, 1]``.
        class_scores: highest region score per body-part label (over all region models).
        global_score: whole-image classifier probability, or ``None`` without a classifier.
        regions: strongest region evidence per label, as reasons (label, score, model).
        support: the evidence that contributed most to ``score``, as reasons.
        models: names of the models that contributed.
    """

    score: float
    class_scores: Mapping[str, float]
    global_score: float | None
    regions: tuple[Reason, ...]
    support: tuple[Reason, ...]
    models: tuple[str, ...]


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _max_over(scores: Mapping[str, float], labels: tuple[str, ...]) -> float:
    return max((scores.get(label, 0.0) for label in labels), default=0.0)


#: Feature name -> function of (per-class max scores, global score or None).
FEATURES: dict[str, Callable[[Mapping[str, float], float | None], float]] = {
    "nsfw_logit": lambda c, g: _logit(g) if g is not None else 0.0,
    "intimate_max": lambda c, g: _max_over(c, EXPOSED_INTIMATE),
    "skin_max": lambda c, g: _max_over(c, EXPOSED_SKIN),
    "exposed_count": lambda c, g: float(sum(c.get(x, 0.0) >= 0.25 for x in EXPOSED_INTIMATE + EXPOSED_SKIN)),
    # A soft count: many weak exposed-part findings add up, one spurious one stays small.
    "exposed_sum": lambda c, g: float(sum(c.get(x, 0.0) for x in EXPOSED_INTIMATE + EXPOSED_SKIN)),
}


def class_scores(found: Detections) -> dict[str, float]:
    """Highest score per body-part label."""
    return {r.code: r.score for r in _strongest_regions(found)}


@dataclass(frozen=True)
class FusionModel:
    """Logistic fusion: ``score = sigmoid(intercept + sum(weights[f] * feature_f))``.

    Attributes:
        intercept: bias term.
        weights: feature name (a key of :data:`FEATURES`) -> weight.
        version: identifies the fitted parameters in reports.
    """

    intercept: float
    weights: Mapping[str, float]
    version: str = "unversioned"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(FEATURES))
        if unknown:
            raise ConfigError(f"fusion weights name unknown features {unknown}; known: {sorted(FEATURES)}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FusionModel:
        """Build from ``{"intercept": float, "weights": {...}, "version": str}``."""
        try:
            return cls(
                float(data["intercept"]),
                {k: float(v) for k, v in data["weights"].items()},
                str(data.get("version", "unversioned")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"invalid fusion parameters: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path | None = None) -> FusionModel:
        """Load fitted parameters (default: the shipped ``data/fusion.json``)."""
        try:
            if path is None:
                text = importlib.resources.files("captureguard").joinpath("data/fusion.json").read_text("utf-8")
            else:
                text = Path(path).read_text("utf-8")
            return cls.from_mapping(json.loads(text))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot load fusion parameters from {path or 'data/fusion.json'}: {exc}") from exc

    def assess(self, found: Detections) -> Assessment:
        """Fuse one frame's detections into an :class:`Assessment`."""
        regions = _strongest_regions(found)
        scores = {r.code: r.score for r in regions}
        is_global = found.labels == IMAGE_NSFW
        g = float(found.scores[is_global].max()) if is_global.any() else None
        z = self.intercept + sum(w * FEATURES[name](scores, g) for name, w in self.weights.items())
        if not math.isfinite(z):  # a NaN feature would make every threshold comparison false
            raise DetectionError(f"fusion {self.version} produced a non-finite score from {scores}, {g}")
        fused = 1.0 / (1.0 + math.exp(-min(max(z, -500.0), 500.0)))
        support = tuple(r for r in regions if r.code in EXPOSED_INTIMATE + EXPOSED_SKIN and r.score >= 0.25)
        if g is not None:
            model = str(found.models[is_global][int(found.scores[is_global].argmax())])
            support = (Reason(IMAGE_NSFW, g, model, "whole-image nudity probability"), *support)
        return Assessment(fused, scores, g, regions, support, tuple(sorted(set(map(str, found.models)))))


def _strongest_regions(found: Detections) -> tuple[Reason, ...]:
    """The highest-scored region of each body-part label, strongest first."""
    best: dict[str, Reason] = {}
    for d in found:
        if d.label in BODY_PART_LABELS and (d.label not in best or d.score > best[d.label].score):
            best[d.label] = Reason(d.label, d.score, d.model, "region detection")
    return tuple(sorted(best.values(), key=lambda r: -r.score))

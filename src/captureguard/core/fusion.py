"""Fusion: region evidence and whole-image scores -> one calibrated nudity score (numpy only).

A :class:`FusionModel` is a logistic model over a few named features of a frame's
:class:`~captureguard.core.detection.Detections`. Its weights are data (``data/fusion.json``),
fitted at build time by ``tools/calibrate_fusion.py`` with grouped cross-validation on an eval manifest.

A head may also read a second head on another detector set's evidence (:class:`Either`, the photo
head since v2.9 reads the live head): the frame's logit is the larger of its own and the other's
minus an offset, so a frame is blocked when either head finds it, each at its own point.
"""

from __future__ import annotations

import importlib.resources
import itertools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from captureguard.core.detection import (
    BODY_PART_LABELS,
    EXPOSED_INTIMATE,
    EXPOSED_SKIN,
    IMAGE_NSFW,
    KNOWN_LABELS,
    NSFW_PROBE,
    NSFW_PROBE_SCENE,
    NSFWJS_PROBE,
    PERSON,
    PERSON_NSFW,
    Detections,
)
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
    "nsfw_prob": lambda c, g: g if g is not None else 0.0,
    "intimate_max": lambda c, g: _max_over(c, EXPOSED_INTIMATE),
    "skin_max": lambda c, g: _max_over(c, EXPOSED_SKIN),
    "exposed_count": lambda c, g: float(sum(c.get(x, 0.0) >= 0.25 for x in EXPOSED_INTIMATE + EXPOSED_SKIN)),
    # A soft count: many weak exposed-part findings add up, one spurious one stays small.
    "exposed_sum": lambda c, g: float(sum(c.get(x, 0.0) for x in EXPOSED_INTIMATE + EXPOSED_SKIN)),
}


#: Name of the nsfwjs detector: its IMAGE_NSFW score is a feature of its own (``njs_logit``).
NSFWJS_MODEL = "nsfwjs"


def _global(found: Detections, *, nsfwjs: bool) -> float | None:
    """Highest IMAGE_NSFW score of nsfwjs (``nsfwjs``) or of any other classifier, or None."""
    mask = (found.labels == IMAGE_NSFW) & ((found.models == NSFWJS_MODEL) == nsfwjs)
    return float(found.scores[mask].max()) if mask.any() else None


def _crop_max(found: Detections) -> float | None:
    mask = found.labels == PERSON_NSFW
    return float(found.scores[mask].max()) if mask.any() else None


def _person_nsfw_logit(found: Detections) -> float:
    """The most nude-looking view: max of the whole image and every person crop (open_nsfw)."""
    parts = [p for p in (_global(found, nsfwjs=False), _crop_max(found)) if p is not None]
    return _logit(max(parts)) if parts else 0.0


def _crop_mean_logit(found: Detections) -> float:
    """Mean open_nsfw score over the person crops (the whole image's without people)."""
    mask = found.labels == PERSON_NSFW
    if mask.any():
        return _logit(float(found.scores[mask].mean()))
    g = _global(found, nsfwjs=False)
    return _logit(g) if g is not None else 0.0


def _frame_area(found: Detections) -> float:
    whole = found.labels == IMAGE_NSFW
    return max(float(found.areas()[whole].max()), 1.0) if whole.any() else 0.0


def _small_people(found: Detections) -> float:
    """People whose box covers less than a tenth of the frame (far away, or small figures)."""
    area = _frame_area(found)
    people = found.labels == PERSON
    if not area or not people.any():
        return 0.0
    return float((found.areas()[people] < 0.1 * area).sum())


def _people_area(found: Detections) -> float:
    """Largest person box as a fraction of the frame (0 without people, or without a frame box)."""
    people = found.with_label(PERSON)
    frame = found.select(found.labels == IMAGE_NSFW)
    if not len(people) or not len(frame):
        return 0.0
    return float(people.areas().max() / max(float(frame.areas().max()), 1.0))


#: Feature name -> function of the frame's whole detection set (views beyond per-class maxima).
DETECTION_FEATURES: dict[str, Callable[[Detections], float]] = {
    "njs_logit": lambda d: _logit(p) if (p := _global(d, nsfwjs=True)) is not None else 0.0,
    "person_nsfw_logit": _person_nsfw_logit,
    "crop_logit": lambda d: _logit(p) if (p := _crop_max(d)) is not None else 0.0,
    "crop_mean_logit": _crop_mean_logit,
    "has_person": lambda d: float(bool((d.labels == PERSON).any())),
    "person_count": lambda d: float((d.labels == PERSON).sum()),
    "small_people": _small_people,
    "person_area": _people_area,
}


def _is_label_feature(name: str) -> bool:
    """``max:LABEL`` (highest score of LABEL, 0 if absent) or ``logit:LABEL`` (its logit)."""
    kind, _, label = name.partition(":")
    return kind in ("max", "logit") and label in KNOWN_LABELS


def class_scores(found: Detections) -> dict[str, float]:
    """Highest score per body-part label."""
    return {r.code: r.score for r in _strongest_regions(found)}


@dataclass(frozen=True)
class Calibration:
    """A monotone map of a head's logit onto the profiles' scale (piecewise linear in logit).

    Each path's head has its own out-of-fold operating points (the score at which it blocks <= 1%,
    0.5%, 0.2% of the dev set's safe stills, ...), but the profiles hold one set of thresholds for
    both paths. The knots ``(head logit, profile logit)`` put each of the head's points exactly on the
    profile threshold it stands for, so ``block_score = 0.81`` means the teen budget in either
    path. Between knots the map is linear, beyond the outer knots it has slope 1 (the head's own
    scale, shifted). It never changes the order of two scores.
    """

    knots: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if not self.knots:
            raise ConfigError("a calibration needs at least one knot")
        flat = [v for knot in self.knots for v in knot]
        if not all(math.isfinite(v) for v in flat):
            raise ConfigError(f"calibration knots must be finite, got {self.knots}")
        for (a0, b0), (a1, b1) in itertools.pairwise(self.knots):
            if not (a1 > a0 and b1 > b0):
                raise ConfigError(f"calibration knots must increase in both coordinates, got {self.knots}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Calibration:
        """Build from ``{"knots": [[head_logit, profile_logit], ...]}``."""
        try:
            return cls(tuple((float(a), float(b)) for a, b in data["knots"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid calibration: {exc}") from exc

    def apply(self, z: float) -> float:
        """The profile-scale logit of head logit ``z``."""
        knots = self.knots
        if z <= knots[0][0]:
            return knots[0][1] + (z - knots[0][0])
        for (a0, b0), (a1, b1) in itertools.pairwise(knots):
            if z <= a1:
                return b0 + (z - a0) * (b1 - b0) / (a1 - a0)
        return knots[-1][1] + (z - knots[-1][0])


@dataclass(frozen=True)
class Either:
    """A second head read beside a head: ``z = max(z_head, z_other - offset)`` before calibration.

    Attributes:
        head: the other head (its intercept and weights; its own calibration, if any, is not used).
        offset: subtracted from the other head's logit (larger: the other head counts less).
        mode: the detector table (``detectors.toml``) whose detections the other head reads.
    """

    head: FusionModel
    offset: float
    mode: str = "live"

    def __post_init__(self) -> None:
        if not math.isfinite(self.offset):
            raise ConfigError(f"either: the offset must be finite, got {self.offset}")
        if self.head.either is not None:
            raise ConfigError("either: the other head cannot read a third one")


@dataclass(frozen=True)
class FusionModel:
    """Logistic fusion: ``score = sigmoid(calibration(intercept + sum(weights[f] * feature_f)))``.

    Attributes:
        intercept: bias term.
        weights: feature name (a key of :data:`FEATURES`) -> weight.
        version: identifies the fitted parameters in reports.
        extra: other fitted settings shipped with the head (``cascade``: a first stage's
            ``escalate_at`` and ``every``; ``probes``: label -> version of the probe whose scores the
            head was fitted on; both read by the checker).
        calibration: maps the logit onto the profiles' scale (:class:`Calibration`); None: the
            logistic score as it is.
        either: a second head on another detector set's evidence (:class:`Either`); then
            :meth:`assess` needs that set's detections too.
    """

    intercept: float
    weights: Mapping[str, float]
    version: str = "unversioned"
    extra: Mapping[str, Any] = field(default_factory=dict)
    calibration: Calibration | None = None
    either: Either | None = None

    def __post_init__(self) -> None:
        known = set(FEATURES) | set(DETECTION_FEATURES)
        unknown = sorted(n for n in set(self.weights) - known if not _is_label_feature(n))
        if unknown:
            raise ConfigError(f"fusion weights name unknown features {unknown}; known: {sorted(known)}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FusionModel:
        """Build from ``{"intercept": float, "weights": {...}, "version": str, "calibration": {...},
        "either": {"head": {...}, "offset": float, "mode": str}}`` (the last two optional)."""
        try:
            either = data.get("either")
            return cls(
                float(data["intercept"]),
                {k: float(v) for k, v in data["weights"].items()},
                str(data.get("version", "unversioned")),
                {k: v for k, v in data.items() if k in ("cascade", "probes")},
                Calibration.from_mapping(data["calibration"]) if data.get("calibration") is not None else None,
                Either(cls.from_mapping(either["head"]), float(either["offset"]), str(either.get("mode", "live")))
                if either is not None
                else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"invalid fusion parameters: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path | None = None, *, mode: str | None = None) -> FusionModel:
        """Load fitted parameters (default: the shipped head of ``mode``, ``data/fusion_<mode>.json``,
        else ``data/fusion.json``)."""
        try:
            if path is None:
                data = importlib.resources.files("captureguard").joinpath("data")
                own = data.joinpath(f"fusion_{mode}.json") if mode else None
                text = (own if own is not None and own.is_file() else data.joinpath("fusion.json")).read_text("utf-8")
            else:
                text = Path(path).read_text("utf-8")
            return cls.from_mapping(json.loads(text))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot load fusion parameters from {path or 'data/fusion.json'}: {exc}") from exc

    @staticmethod
    def feature(name: str, found: Detections, scores: Mapping[str, float], g: float | None) -> float:
        """Value of feature ``name`` for one frame (per-class maxima ``scores``, global score ``g``)."""
        if name in FEATURES:
            return FEATURES[name](scores, g)
        if name in DETECTION_FEATURES:
            return DETECTION_FEATURES[name](found)
        kind, label = name.split(":", 1)
        mask = found.labels == label
        best = float(found.scores[mask].max()) if mask.any() else 0.0
        return best if kind == "max" else _logit(best)

    def logit(self, found: Detections) -> float:
        """This head's own logit for one frame's detections (no calibration, no :attr:`either`).

        Raises:
            DetectionError: the logit is not finite (the frame is then blocked).
        """
        _, scores, _, g = _read(found)
        return self._logit(found, scores, g)

    def _logit(self, found: Detections, scores: Mapping[str, float], g: float | None) -> float:
        z = self.intercept + sum(w * self.feature(name, found, scores, g) for name, w in self.weights.items())
        if not math.isfinite(z):  # a NaN feature would make every threshold comparison false
            raise DetectionError(f"fusion {self.version} produced a non-finite score from {scores}, {g}")
        return z

    def assess(self, found: Detections, other: Detections | None = None) -> Assessment:
        """Fuse one frame's detections into an :class:`Assessment`; ``other``: the detections of
        :attr:`either`'s detector set (required with it, ignored without).

        Raises:
            DetectionError: a non-finite score, or :attr:`either` without ``other``.
        """
        regions, scores, own, g = _read(found)
        z = self._logit(found, scores, g)
        head, evidence, shown = self, found, regions
        if self.either is not None:
            if other is None:
                raise DetectionError(
                    f"fusion {self.version} also reads the [{self.either.mode}] detectors' evidence, and none was given"
                )
            o_regions, o_scores, o_own, o_g = _read(other)
            z_other = self.either.head._logit(other, o_scores, o_g) - self.either.offset
            if z_other > z:
                z, head, evidence, shown, own = z_other, self.either.head, other, o_regions, o_own
        if self.calibration is not None:
            z = self.calibration.apply(z)
        fused = 1.0 / (1.0 + math.exp(-min(max(z, -500.0), 500.0)))
        support = (*head._probe_reasons(evidence, own), *_exposed(shown))
        models = set(map(str, found.models)) | (set(map(str, other.models)) if other is not None else set())
        return Assessment(fused, scores, g, regions, support, tuple(sorted(models)))

    def _probe_reasons(self, found: Detections, own: float | None) -> list[Reason]:
        """The whole-image and probe scores of ``found`` that this head reads, as reasons (``own``:
        the non-nsfwjs classifiers' whole-image score of ``found``, :func:`_read`)."""
        is_global = found.labels == IMAGE_NSFW
        # nsfwjs' own class score is evidence only for a head that reads it (``njs_logit``); the photo
        # head since v2.8 reads the probe on its embedding instead, reported as NSFWJS_PROBE
        njs_read = "njs_logit" in self.weights or own is None
        shown_global = is_global if njs_read else is_global & (found.models != NSFWJS_MODEL)
        extra = []
        for mask, what in (
            (shown_global, "whole-image nudity probability"),
            (found.labels == PERSON_NSFW, "nudity probability of one person's crop"),
            (found.labels == NSFW_PROBE, "nudity probability of the probe on the image's and a person's features"),
            (found.labels == NSFW_PROBE_SCENE, "the same probe's scene read-out (a small artwork in a frame)"),
            (found.labels == NSFWJS_PROBE, "nudity probability of the probe on nsfwjs' embedding of the image"),
        ):
            for model in sorted(set(map(str, found.models[mask]))):
                of = mask & (found.models == model)
                extra.append(Reason(str(found.labels[of][0]), float(found.scores[of].max()), model, what))
        return extra


def _read(found: Detections) -> tuple[tuple[Reason, ...], dict[str, float], float | None, float | None]:
    """What a head reads of one frame's detections: ``(the strongest region per body-part label,
    their scores by label, the non-nsfwjs classifiers' best whole-image score, the whole-image score
    the features read: that, else any classifier's best)``; the last two None without one."""
    regions = _strongest_regions(found)
    own = g = _global(found, nsfwjs=False)
    is_global = found.labels == IMAGE_NSFW
    if g is None and is_global.any():
        g = float(found.scores[is_global].max())
    return regions, {r.code: r.score for r in regions}, own, g


def _exposed(regions: tuple[Reason, ...]) -> tuple[Reason, ...]:
    """Regions of exposed intimate parts or skin scored >= 0.25: the support shown with a score."""
    return tuple(r for r in regions if r.code in EXPOSED_INTIMATE + EXPOSED_SKIN and r.score >= 0.25)


def _strongest_regions(found: Detections) -> tuple[Reason, ...]:
    """The highest-scored region of each body-part label, strongest first."""
    best: dict[str, Reason] = {}
    for d in found:
        if d.label in BODY_PART_LABELS and (d.label not in best or d.score > best[d.label].score):
            best[d.label] = Reason(d.label, d.score, d.model, "region detection")
    return tuple(sorted(best.values(), key=lambda r: -r.score))

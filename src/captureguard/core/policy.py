"""Policy: profiles as data, and the decision rule (stdlib only).

A profile says which evidence blocks, which warns and at what thresholds. Profiles live in a
TOML file (the shipped one is ``captureguard/data/profiles.toml``); :func:`load_profiles`
validates it and explains any mistake. :func:`decide` turns an :class:`Assessment` into a
:class:`~captureguard.core.verdict.Verdict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from captureguard._datafiles import load_toml
from captureguard.core.detection import (
    BARE_SKIN_CLASSES,
    BODY_PART_LABELS,
    DEFAULT_BLOCK_CLASSES,
    IMAGE_NSFW,
    UNDERWEAR_CLASSES,
)
from captureguard.core.fusion import Assessment
from captureguard.core.verdict import Decision, Reason, Verdict
from captureguard.errors import ConfigError


@dataclass(frozen=True)
class Profile:
    """One policy profile.

    Attributes:
        name: ``child``, ``teen``, ``adult`` or an integrator's own.
        block_score: fused nudity score at or above which a frame is blocked.
        warn_score: fused score at or above which a frame is warned (``<= block_score``).
        class_thresholds: per-class region score at or above which that class alone blocks
            (e.g. ``{"FEMALE_GENITALIA_EXPOSED": 0.5}``); classes not listed never block alone.
        region_support_score: a region over its class threshold blocks only when the fused score
            is at least this (0: a lone region blocks by itself). Single region detections over
            ordinary faces (beard, neck read as genitalia) made lone-region blocks refuse one
            people photo in twelve; with support they add no false block (docs/accuracy.md).
        warn_underwear: warn on underwear-level images (covered intimate parts, bare belly or
            armpits, no covered belly).
        underwear_threshold: region score needed for both parts of the underwear rule.
        description: one line for people.
    """

    name: str
    block_score: float
    warn_score: float
    class_thresholds: Mapping[str, float] = field(default_factory=dict)
    region_support_score: float = 0.0
    warn_underwear: bool = False
    underwear_threshold: float = 0.5
    description: str = ""

    def __post_init__(self) -> None:
        for key in ("block_score", "warn_score", "underwear_threshold", "region_support_score"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"profile {self.name!r}: {key} must be a number in [0, 1], got {value!r}")
        if self.warn_score > self.block_score:
            raise ConfigError(
                f"profile {self.name!r}: warn_score ({self.warn_score}) must not exceed "
                f"block_score ({self.block_score})"
            )
        for label, value in self.class_thresholds.items():
            if label not in BODY_PART_LABELS:
                raise ConfigError(
                    f"profile {self.name!r}: unknown class {label!r} in class_thresholds; "
                    f"known classes: {', '.join(BODY_PART_LABELS)}"
                )
            if not isinstance(value, int | float) or not 0.0 < value <= 1.0:
                raise ConfigError(f"profile {self.name!r}: threshold of {label} must be in (0, 1], got {value!r}")

    def strictness_key(self) -> tuple[float, ...]:
        """Numbers that only fall as the profile gets stricter (used to tell relaxing from tightening)."""
        return (
            self.block_score,
            self.warn_score,
            *(self.class_thresholds.get(c, 1.01) for c in BODY_PART_LABELS),
            self.region_support_score,
            0.0 if self.warn_underwear else 1.0,
            self.underwear_threshold if self.warn_underwear else 1.01,
        )

    def is_stricter_or_equal(self, other: Profile) -> bool:
        """True if this profile blocks and warns at least whenever ``other`` does."""
        return all(a <= b for a, b in zip(self.strictness_key(), other.strictness_key(), strict=True))


_FIELDS = {
    "block_score",
    "warn_score",
    "class_thresholds",
    "region_support_score",
    "warn_underwear",
    "underwear_threshold",
    "description",
}


def profiles_from_mapping(data: Mapping[str, Any], *, origin: str = "<profiles>") -> dict[str, Profile]:
    """Validate a parsed profiles document: ``{"profiles": {name: {field: value}}}``."""
    tables = data.get("profiles")
    if not isinstance(tables, Mapping) or not tables:
        raise ConfigError(f"{origin}: expected a [profiles.NAME] table for each profile, found none")
    out = {}
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{origin}: [profiles.{name}] must be a table")
        unknown = sorted(set(table) - _FIELDS)
        if unknown:
            raise ConfigError(f"{origin}: [profiles.{name}] has unknown keys {unknown}; allowed: {sorted(_FIELDS)}")
        missing = sorted({"block_score", "warn_score"} - set(table))
        if missing:
            raise ConfigError(f"{origin}: [profiles.{name}] is missing {missing}")
        if not isinstance(table.get("class_thresholds", {}), Mapping):
            raise ConfigError(f"{origin}: [profiles.{name}] class_thresholds must be a table of CLASS = score")
        try:
            out[name] = Profile(name=name, **dict(table))
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from exc
    return out


def load_profiles(path: str | Path | None = None) -> dict[str, Profile]:
    """Load and validate profiles from a TOML file (default: the shipped ``profiles.toml``).

    Raises:
        ConfigError: the file is missing, not TOML, or a profile is invalid.
    """
    data, origin = load_toml(path, "profiles.toml", "profiles")
    return profiles_from_mapping(data, origin=origin)


def decide(assessment: Assessment, profile: Profile) -> Verdict:
    """Apply ``profile`` to the evidence of one frame.

    Block when the fused score reaches ``block_score``, or when a listed class reaches its own
    threshold and the fused score reaches ``region_support_score`` (the rest of the evidence
    agrees); otherwise warn when the fused score reaches ``warn_score`` or the underwear rule
    fires; otherwise allow. Reasons list the evidence that decided, strongest first.
    """
    blocking = [
        r
        for r in assessment.regions
        if r.code in profile.class_thresholds and r.score >= profile.class_thresholds[r.code]
    ]
    if assessment.score < profile.region_support_score:
        blocking = []
    fused = Reason("FUSED", assessment.score, "+".join(assessment.models), "fused nudity score")
    if assessment.score >= profile.block_score or blocking:
        reasons = [fused] if assessment.score >= profile.block_score else []
        return _verdict(Decision.BLOCK, assessment, profile, reasons + blocking + list(assessment.support))
    underwear = _underwear(assessment, profile)
    if assessment.score >= profile.warn_score or underwear:
        reasons = ([fused] if assessment.score >= profile.warn_score else []) + underwear
        return _verdict(Decision.WARN, assessment, profile, reasons + list(assessment.support))
    return _verdict(Decision.ALLOW, assessment, profile, list(assessment.support))


def _underwear(assessment: Assessment, profile: Profile) -> list[Reason]:
    if not profile.warn_underwear:
        return []
    t = profile.underwear_threshold
    scores = assessment.class_scores
    covered = max((scores.get(c, 0.0) for c in UNDERWEAR_CLASSES), default=0.0)
    bare = max((scores.get(c, 0.0) for c in BARE_SKIN_CLASSES), default=0.0)
    if covered >= t and bare >= t and scores.get("BELLY_COVERED", 0.0) < t:
        return [Reason("UNDERWEAR", min(covered, bare), "", "covered intimate parts with bare skin around them")]
    return []


#: Reasons are listed by kind first (what decided, then intimate parts, then the whole-image
#: score, then supporting skin), and by score within a kind: "FEET_EXPOSED 0.63" must not read
#: as the main reason a painting was blocked.
_REASON_RANK: dict[str, int] = {
    "FUSED": 0,
    "UNDERWEAR": 0,
    **dict.fromkeys(DEFAULT_BLOCK_CLASSES, 1),
    **dict.fromkeys(UNDERWEAR_CLASSES, 2),
    IMAGE_NSFW: 3,
}


def _verdict(decision: Decision, a: Assessment, profile: Profile, reasons: list[Reason]) -> Verdict:
    ordered = sorted(_unique(reasons), key=lambda r: (_REASON_RANK.get(r.code, 4), -r.score))
    return Verdict(decision, a.score, tuple(ordered), profile.name)


def _unique(reasons: list[Reason]) -> list[Reason]:
    seen: set[tuple[str, str]] = set()
    out = []
    for r in reasons:
        if (r.code, r.model) not in seen:
            seen.add((r.code, r.model))
            out.append(r)
    return out

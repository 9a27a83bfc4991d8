"""Verdicts: what the guard decided about one frame, and why (never any pixels)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace


class Decision(enum.Enum):
    """What happens to a frame.

    ``ALLOW`` lets it through; ``WARN`` holds it until a person confirms after seeing a notice
    (e.g. underwear-level photos on the child profile); ``BLOCK`` stops it.
    """

    ALLOW = "allow"
    WARN = "warn"
    BLOCK = "block"


@dataclass(frozen=True)
class Reason:
    """One piece of evidence behind a verdict.

    Attributes:
        code: what it is: a body-part label (``FEMALE_BREAST_EXPOSED``), ``IMAGE_NSFW``,
            ``FUSED``, ``UNDERWEAR``, or a failure (``error``, ``timeout``).
        score: the evidence's score in ``[0, 1]`` (1.0 for failures).
        model: model that produced it ("" when not from a model).
        detail: a short human sentence.
    """

    code: str
    score: float = 1.0
    model: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"code": self.code, "score": round(self.score, 4), "model": self.model, "detail": self.detail}


@dataclass(frozen=True)
class Verdict:
    """The guard's decision about one frame.

    Attributes:
        decision: allow, warn or block.
        score: fused nudity score in ``[0, 1]`` (1.0 when a failure blocked the frame).
        reasons: evidence, strongest first; failures carry ``error``/``timeout``.
        profile: name of the policy profile applied.
        timings_ms: milliseconds per stage (``detect:nudenet``, ``fuse``, ``total``...).
    """

    decision: Decision
    score: float
    reasons: tuple[Reason, ...] = ()
    profile: str = ""
    timings_ms: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A verdict whose score is not a probability would compare false with every threshold.
        if not 0.0 <= self.score <= 1.0:  # False for NaN too
            raise ValueError(f"a verdict's score must be in [0, 1], got {self.score!r}")

    @classmethod
    def failure(cls, code: str, detail: str, *, profile: str = "") -> Verdict:
        """A block caused by a failure (``error``, ``timeout``, ``overload``, ``no_model``)."""
        return cls(Decision.BLOCK, 1.0, (Reason(code, 1.0, "", detail),), profile)

    @property
    def failed(self) -> bool:
        """True when the block came from a failure, not from evidence."""
        return any(r.code in FAILURE_CODES for r in self.reasons)

    def with_timings(self, **ms: float) -> Verdict:
        """A copy with more per-stage timings (``total=12.5``); verdicts are never changed in place."""
        return replace(self, timings_ms={**self.timings_ms, **ms})

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: decision, score, reasons, profile, timings. No pixels."""
        return {
            "decision": self.decision.value,
            "score": round(self.score, 4),
            "reasons": [r.to_dict() for r in self.reasons],
            "profile": self.profile,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


FAILURE_CODES = frozenset({"error", "timeout", "overload", "no_model"})

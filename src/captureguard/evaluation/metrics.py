"""Detection metrics for still images: curves, AUC, recall at a false-block rate, grouped bootstrap, folds.

Convention everywhere: a **higher score means more likely nudity**, and an item is **blocked when
score >= threshold**. Labels are bool or 0/1 arrays with nudity = 1 (positive) and safe = 0 (negative).
A *false block* is a safe item that is blocked.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "OperatingPoint",
    "allowed_false_blocks",
    "auc",
    "bootstrap_recall_ci",
    "confusion",
    "false_blocks_by_kind",
    "grouped_folds",
    "operating_point",
    "per_kind",
    "pr_curve",
    "recall_by_kind",
    "roc_curve",
]

Floats = NDArray[np.float64]
#: Most (replicate x item) cells the bootstrap holds at once (memory cap, ~16 MB per array).
_CELLS = 2_000_000


@dataclass(frozen=True)
class OperatingPoint:
    """Where a score threshold lands: ``recall = tp / positives``; ``false_blocks`` of ``negatives``."""

    rate: float
    threshold: float
    recall: float
    false_blocks: int
    negatives: int
    positives: int
    tp: int


def _inputs(scores: ArrayLike, labels: ArrayLike) -> tuple[Floats, NDArray[np.bool_]]:
    """Validate and convert: float64 scores (finite) and bool labels of the same length."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    raw = np.asarray(labels).ravel()
    if s.shape != raw.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} vs {raw.size}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite (found nan or inf)")
    if raw.dtype != np.bool_ and not np.isin(raw, (0, 1)).all():
        raise ValueError(f"labels must be bool or 0/1 (nudity = 1), got values {np.unique(raw)[:5].tolist()}")
    return s, raw.astype(bool)


def _ratio(num: Any, den: float) -> Any:
    """``num / den``, or nan (same shape) when ``den`` is 0."""
    return np.asarray(num, dtype=np.float64) / den if den else np.full(np.shape(num), math.nan)


def _cumulative(s: Floats, y: NDArray[np.bool_]) -> tuple[Floats, NDArray[np.int64], NDArray[np.int64]]:
    """``(thresholds, tp, fp)``: one entry per distinct score, thresholds descending; counts of score >= t."""
    order = np.argsort(-s, kind="stable")
    s_desc, y_desc = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_desc)), s.size - 1] if s.size else np.empty(0, np.int64)
    tp = np.cumsum(y_desc, dtype=np.int64)[last]
    return s_desc[last], tp, last + 1 - tp


def roc_curve(scores: ArrayLike, labels: ArrayLike) -> tuple[Floats, Floats, Floats]:
    """ROC curve: one point per distinct score, after a start point (0, 0) at threshold +inf.

    Returns:
        ``(fpr, tpr, thresholds)``, thresholds descending; a rate whose class is empty is nan.
    """
    s, y = _inputs(scores, labels)
    thresholds, tp, fp = _cumulative(s, y)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    fpr = _ratio(np.r_[0, fp], n_neg)
    tpr = _ratio(np.r_[0, tp], n_pos)
    return fpr, tpr, np.r_[math.inf, thresholds]


def pr_curve(scores: ArrayLike, labels: ArrayLike) -> tuple[Floats, Floats, Floats]:
    """Precision-recall curve: one point per distinct score (no extra end point), thresholds descending.

    Returns:
        ``(precision, recall, thresholds)``; precision = tp / blocked (never 0 blocked here), recall nan
        if there are no positives.
    """
    s, y = _inputs(scores, labels)
    thresholds, tp, fp = _cumulative(s, y)
    return tp / np.maximum(tp + fp, 1), _ratio(tp, int(y.sum())), thresholds


def auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """ROC AUC by Mann-Whitney: P(positive scores > negative), ties count 1/2; nan if a class is empty."""
    s, y = _inputs(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return math.nan
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # mid-ranks, 1-based
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def allowed_false_blocks(n_negatives: int, rate: float) -> int:
    """Most negatives that may be blocked at a false-block ``rate``: ``floor(rate * n + 1e-9)``."""
    return math.floor(rate * n_negatives + 1e-9)


def operating_point(scores: ArrayLike, labels: ArrayLike, rate: float) -> OperatingPoint:
    """The lowest threshold that blocks at most ``allowed_false_blocks(negatives, rate)`` negatives.

    The threshold is the smallest distinct score that satisfies this (exact with ties). If even the
    highest score blocks too many negatives, the threshold is just above it and nothing is blocked.
    """
    s, y = _inputs(scores, labels)
    thresholds, tp, fp = _cumulative(s, y)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    j = int(np.searchsorted(fp, allowed_false_blocks(n_neg, rate), side="right")) - 1
    if j < 0:
        threshold = float(np.nextafter(thresholds[0], math.inf)) if s.size else math.inf
        return OperatingPoint(rate, threshold, 0.0 if n_pos else math.nan, 0, n_neg, n_pos, 0)
    recall = float(tp[j] / n_pos) if n_pos else math.nan
    return OperatingPoint(rate, float(thresholds[j]), recall, int(fp[j]), n_neg, n_pos, int(tp[j]))


def bootstrap_recall_ci(
    scores: ArrayLike,
    labels: ArrayLike,
    groups: Sequence[str] | ArrayLike,
    rate: float,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the recall at ``rate`` (see :func:`operating_point`) by grouped bootstrap.

    Each replicate draws the positive groups with replacement, and separately the negative groups, so
    it has both classes and near-duplicates stay together (a group holding both classes contributes its
    positives to the first draw and its negatives to the second). The operating point is recomputed in
    every replicate. Deterministic for a ``seed``.

    Returns:
        ``(low, high)``; ``(nan, nan)`` if there are no positives.
    """
    s, y = _inputs(scores, labels)
    g = np.asarray(groups).ravel()
    if g.shape != s.shape:
        raise ValueError(f"groups and scores differ in length: {g.size} vs {s.size}")
    if n_boot < 1 or not 0 < level < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < level < 1, got {n_boot} and {level}")
    if not y.any():
        return math.nan, math.nan
    layout = _Layout.build(s, y, g)
    rng = np.random.default_rng(seed)
    chunk = max(1, _CELLS // s.size)
    recalls = np.concatenate([layout.recalls(rng, rate, min(chunk, n_boot - i)) for i in range(0, n_boot, chunk)])
    low, high = np.quantile(recalls, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class _Layout:
    """Items sorted by descending score, with the group index of each within its class."""

    positive: NDArray[np.bool_]  # per sorted item
    last: NDArray[np.intp]  # sorted position of the last item of each distinct score
    pos_group: NDArray[np.intp]  # per positive item (sorted order): index among positive groups
    neg_group: NDArray[np.intp]

    @classmethod
    def build(cls, s: Floats, y: NDArray[np.bool_], groups: NDArray[Any]) -> _Layout:
        order = np.argsort(-s, kind="stable")
        s_desc, y_desc, g_desc = s[order], y[order], groups[order]
        last = np.r_[np.flatnonzero(np.diff(s_desc)), s.size - 1]
        pos_group = np.unique(g_desc[y_desc], return_inverse=True)[1]
        neg_group = np.unique(g_desc[~y_desc], return_inverse=True)[1]
        return cls(y_desc, last, pos_group.ravel(), neg_group.ravel())

    def recalls(self, rng: np.random.Generator, rate: float, n_boot: int) -> Floats:
        """Recall at ``rate`` in ``n_boot`` grouped replicates (a vectorised :func:`operating_point`)."""
        weight = np.empty((n_boot, self.positive.size))  # times each item is drawn, per replicate
        weight[:, self.positive] = _draw(rng, _count(self.pos_group), n_boot)[:, self.pos_group]
        weight[:, ~self.positive] = _draw(rng, _count(self.neg_group), n_boot)[:, self.neg_group]
        tp = np.cumsum(np.where(self.positive, weight, 0.0), axis=1)[:, self.last]  # weighted count >= score
        fp = np.cumsum(np.where(self.positive, 0.0, weight), axis=1)[:, self.last]
        allowed = np.floor(rate * fp[:, -1] + 1e-9)
        j = (fp <= allowed[:, None]).sum(axis=1) - 1  # fp is non-decreasing: allowed thresholds are a prefix
        hits = np.where(j >= 0, tp[np.arange(n_boot), np.maximum(j, 0)], 0.0)
        recall: Floats = hits / tp[:, -1]
        return recall


def _count(index: NDArray[np.intp]) -> int:
    """Number of distinct groups given each item's group index."""
    return int(index.max(initial=-1)) + 1


def _draw(rng: np.random.Generator, n_groups: int, n_boot: int) -> Floats:
    """``(n_boot, n_groups)`` times each group is drawn when drawing ``n_groups`` with replacement."""
    if n_groups == 0:
        return np.zeros((n_boot, 0))
    picks = rng.integers(0, n_groups, size=(n_boot, n_groups)) + n_groups * np.arange(n_boot)[:, None]
    return np.bincount(picks.ravel(), minlength=n_boot * n_groups).reshape(n_boot, n_groups).astype(np.float64)


def confusion(blocked: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Confusion counts of block decisions: tp, fp, tn, fn (ints) and recall, false_block_rate, precision.

    A rate with an empty denominator is nan.
    """
    b = np.asarray(blocked, dtype=bool).ravel()
    _, y = _inputs(np.zeros(b.size), labels)
    tp, fp = int((b & y).sum()), int((b & ~y).sum())
    fn, tn = int((~b & y).sum()), int((~b & ~y).sum())
    return {
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "recall": float(_ratio(tp, tp + fn)),
        "false_block_rate": float(_ratio(fp, fp + tn)),
        "precision": float(_ratio(tp, tp + fp)),
    }


def per_kind(values: ArrayLike, kinds: Sequence[str] | NDArray[Any]) -> dict[str, NDArray[Any]]:
    """Split any per-item array by kind: ``{kind: values of its items}``, kinds sorted, order kept."""
    v, k = np.asarray(values), np.asarray(kinds, dtype=object)
    if v.shape[:1] != k.shape:
        raise ValueError(f"values and kinds differ in length: {len(v)} vs {len(k)}")
    return {str(kind): v[k == kind] for kind in sorted(set(k.tolist()))}


def recall_by_kind(blocked: ArrayLike, labels: ArrayLike, kinds: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``{kind: (blocked positives, positives)}`` for every kind that has positives."""
    b, (_, y) = np.asarray(blocked, dtype=bool).ravel(), _inputs(np.zeros(len(kinds)), labels)
    return {kind: (int(hits.sum()), hits.size) for kind, hits in per_kind(b[y], np.asarray(kinds)[y]).items()}


def false_blocks_by_kind(blocked: ArrayLike, labels: ArrayLike, kinds: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``{kind: (blocked negatives, negatives)}`` for every kind that has negatives."""
    b, (_, y) = np.asarray(blocked, dtype=bool).ravel(), _inputs(np.zeros(len(kinds)), labels)
    return {kind: (int(fb.sum()), fb.size) for kind, fb in per_kind(b[~y], np.asarray(kinds)[~y]).items()}


def grouped_folds(groups: Sequence[str], labels: ArrayLike, k: int | None = None) -> NDArray[np.int64]:
    """Fold id per item for grouped k-fold cross-validation (same semantics as ``tools/calibrate_fusion.py``).

    Positive groups (holding any positive) sorted by name go to folds 0, 1, ... (mod ``k``): one per fold
    when ``k`` equals their number. The other groups, ordered by the sha256 of their name (stable and
    independent of scores), are dealt round-robin over the same folds. A group never spans two folds.

    Args:
        groups: group name per item.
        labels: bool or 0/1 per item (nudity = 1).
        k: number of folds; default ``max(positive groups, 2)`` as in the calibration script.
    """
    _, y = _inputs(np.zeros(len(groups)), labels)
    names = [str(g) for g in groups]
    pos_groups = sorted({g for g, positive in zip(names, y, strict=True) if positive})
    k = max(len(pos_groups), 2) if k is None else k
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    fold_of = {g: i % k for i, g in enumerate(pos_groups)}
    neg_groups = sorted(set(names) - set(fold_of), key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    fold_of.update({g: i % k for i, g in enumerate(neg_groups)})
    return np.array([fold_of[g] for g in names], dtype=np.int64)

"""Evaluation metrics: hand-computed tables, ties, empty classes, grouped bootstrap and folds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from captureguard.evaluation.metrics import (
    OperatingPoint,
    allowed_false_blocks,
    auc,
    bootstrap_recall_ci,
    confusion,
    false_blocks_by_kind,
    grouped_folds,
    operating_point,
    per_kind,
    pr_curve,
    recall_by_kind,
    roc_curve,
)

# The worked example: 4 positives [0.9, 0.8, 0.3, 0.1], 5 negatives [0.7, 0.5, 0.4, 0.2, 0.05].
# Distinct scores, descending:  0.9  0.8  0.7  0.5  0.4  0.3  0.2  0.1  0.05
# positives with score >= t:     1    2    2    2    2    3    3    4    4
# negatives with score >= t:     0    0    1    2    3    3    4    4    5
POS = [0.9, 0.8, 0.3, 0.1]
NEG = [0.7, 0.5, 0.4, 0.2, 0.05]
SCORES = np.array(POS + NEG)
LABELS = np.array([1] * 4 + [0] * 5)


def nan_equal(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        # pairs won: 0.9 beats 5, 0.8 beats 5, 0.3 beats 0.2 and 0.05, 0.1 beats 0.05 -> 13 / (4 * 5)
        (SCORES, LABELS, 13 / 20),
        # pos [0.5, 0.5] vs neg [0.5, 0.1]: each pos ties 0.5 (1/2) and beats 0.1 (1) -> 2 * 1.5 / 4
        ([0.5, 0.5, 0.5, 0.1], [1, 1, 0, 0], 0.75),
        ([0.3, 0.3, 0.3, 0.3], [1, 0, 1, 0], 0.5),  # all equal: every pair a tie
        ([0.9, 0.8, 0.2, 0.1], [True, True, False, False], 1.0),
        ([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0], 0.0),
        ([0.1, 0.9], [1, 1], math.nan),  # no negatives
        ([0.1, 0.9], [0, 0], math.nan),  # no positives
        ([], [], math.nan),
    ],
    ids=[
        "worked-example",
        "ties",
        "all-equal",
        "perfect-bool-labels",
        "inverted",
        "no-negatives",
        "no-positives",
        "empty",
    ],
)
def test_auc(scores: list[float], labels: list[int], expected: float) -> None:
    assert nan_equal(auc(scores, labels), expected)


def test_auc_matches_sklearn_on_random_data_with_ties() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    for n in (5, 50, 500):
        labels = rng.random(n) < 0.3
        labels[:2] = [True, False]
        scores = np.round(rng.random(n) + 0.3 * labels, 1)  # rounding makes many ties
        assert auc(scores, labels) == pytest.approx(metrics.roc_auc_score(labels, scores), abs=1e-12)
        fpr, tpr, _ = roc_curve(scores, labels)
        assert float(np.trapezoid(tpr, fpr)) == pytest.approx(auc(scores, labels), abs=1e-12)


def test_roc_curve_worked_example() -> None:
    fpr, tpr, thresholds = roc_curve(SCORES, LABELS)
    np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.8, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    np.testing.assert_allclose(tpr, [0, 0.25, 0.5, 0.5, 0.5, 0.5, 0.75, 0.75, 1, 1])
    np.testing.assert_allclose(fpr, [0, 0, 0, 0.2, 0.4, 0.6, 0.6, 0.8, 0.8, 1])


@pytest.mark.parametrize(
    ("scores", "labels", "fpr", "tpr", "thresholds"),
    [
        ([0.5, 0.5, 0.5, 0.1], [1, 1, 0, 0], [0, 0.5, 1], [0, 1, 1], [np.inf, 0.5, 0.1]),  # one point per score
        ([0.3, 0.3, 0.3], [1, 0, 0], [0, 1], [0, 1], [np.inf, 0.3]),
        ([0.3, 0.7], [1, 1], [np.nan, np.nan, np.nan], [0, 0.5, 1], [np.inf, 0.7, 0.3]),  # no negatives
    ],
    ids=["ties", "all-equal", "no-negatives"],
)
def test_roc_curve_ties_and_empty_class(
    scores: list[float], labels: list[int], fpr: list[float], tpr: list[float], thresholds: list[float]
) -> None:
    got = roc_curve(scores, labels)
    for actual, expected in zip(got, (fpr, tpr, thresholds), strict=True):
        np.testing.assert_allclose(actual, expected)


def test_pr_curve_worked_example() -> None:
    precision, recall, thresholds = pr_curve(SCORES, LABELS)
    np.testing.assert_array_equal(thresholds, [0.9, 0.8, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    # precision = tp / (tp + fp) from the table above
    np.testing.assert_allclose(precision, [1, 1, 2 / 3, 2 / 4, 2 / 5, 3 / 6, 3 / 7, 4 / 8, 4 / 9])
    np.testing.assert_allclose(recall, [0.25, 0.5, 0.5, 0.5, 0.5, 0.75, 0.75, 1, 1])


@pytest.mark.parametrize(
    ("n", "rate", "expected"),
    [
        (5, 0.2, 1),
        (1000, 0.005, 5),
        (153, 0.01, 1),  # 1.53
        (153, 0.05, 7),  # 7.65
        (100, 0.29, 29),  # 0.29 * 100 = 28.999999999999996 in floating point: the 1e-9 rounds it back
        (100, 0.57, 57),  # 56.99999999999999
        (0, 0.05, 0),
    ],
    ids=["5@20%", "1000@0.5%", "153@1%", "153@5%", "float-fuzz-29", "float-fuzz-57", "no-negatives"],
)
def test_allowed_false_blocks(n: int, rate: float, expected: int) -> None:
    assert allowed_false_blocks(n, rate) == expected


@pytest.mark.parametrize(
    ("rate", "threshold", "recall", "false_blocks", "tp"),
    [
        (0.0, 0.8, 0.5, 0, 2),  # 0 allowed: t = 0.7 would block a negative, so the lowest is 0.8
        (0.2, 0.7, 0.5, 1, 2),  # floor(0.2 * 5) = 1 allowed: 0.7 blocks 1, 0.5 would block 2
        (0.4, 0.5, 0.5, 2, 2),  # 2 allowed
        (0.6, 0.3, 0.75, 3, 3),  # 3 allowed: 0.4 blocks 3 and 0.3 (a positive's score) still 3; 0.2 blocks 4
        (1.0, 0.05, 1.0, 5, 4),  # everything may be blocked: the lowest score
    ],
    ids=["0%", "20%", "40%", "60%-threshold-at-a-positive", "100%"],
)
def test_operating_point_worked_example(
    rate: float, threshold: float, recall: float, false_blocks: int, tp: int
) -> None:
    assert operating_point(SCORES, LABELS, rate) == OperatingPoint(rate, threshold, recall, false_blocks, 5, 4, tp)


@pytest.mark.parametrize(
    ("scores", "labels", "rate", "expected"),
    [
        # pos [0.9, 0.5], neg [0.5, 0.5, 0.1, 0.1]; 25% of 4 = 1 allowed; 0.5 blocks 2 negatives -> 0.9
        ([0.9, 0.5, 0.5, 0.5, 0.1, 0.1], [1, 1, 0, 0, 0, 0], 0.25, (0.9, 0.5, 0)),
        ([0.9, 0.5, 0.5, 0.5, 0.1, 0.1], [1, 1, 0, 0, 0, 0], 0.5, (0.5, 1.0, 2)),  # 2 allowed: the tie fits
        # all equal, none allowed: even the top score blocks too many -> just above it, nothing blocked
        ([0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0], 0.0, (float(np.nextafter(0.5, np.inf)), 0.0, 0)),
        ([0.2, 0.6], [1, 1], 0.0, (0.2, 1.0, 0)),  # no negatives: every threshold is allowed
        ([0.2, 0.6], [0, 0], 0.5, (0.6, math.nan, 1)),  # no positives: recall undefined
        ([], [], 0.01, (math.inf, math.nan, 0)),
    ],
    ids=["tie-too-many", "tie-fits", "all-equal", "no-negatives", "no-positives", "empty"],
)
def test_operating_point_edges(
    scores: list[float], labels: list[int], rate: float, expected: tuple[float, float, int]
) -> None:
    """``expected`` is (threshold, recall, false blocks)."""
    threshold, recall, false_blocks = expected
    point = operating_point(scores, labels, rate)
    assert point.threshold == threshold
    assert nan_equal(point.recall, recall)
    assert point.false_blocks == false_blocks


def test_operating_point_matches_the_calibration_script_formula() -> None:
    """Same recall as tools/calibrate_fusion.py (threshold just above the (k+1)-th highest negative)."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(2, 60))
        labels = rng.random(n) < 0.4
        scores = np.round(rng.random(n), int(rng.integers(1, 3)))
        neg = np.sort(scores[~labels])[::-1]
        k = allowed_false_blocks(neg.size, 0.05)
        bench_t = -math.inf if k >= neg.size else np.nextafter(neg[k], math.inf)
        point = operating_point(scores, labels, 0.05)
        if labels.any():
            assert point.recall == pytest.approx(float((scores[labels] >= bench_t).mean()))
        assert point.false_blocks == int((scores[~labels] >= point.threshold).sum()) <= k


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([0.1, 0.2], [0, 2], "bool or 0/1"),
        ([0.1, 0.2], [0], "differ in length"),
        ([0.1, math.nan], [0, 1], "finite"),
    ],
    ids=["bad-label", "length", "nan-score"],
)
def test_bad_inputs_are_rejected(scores: list[float], labels: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        auc(scores, labels)


def test_confusion() -> None:
    # blocked  T  T  F  F  T ; labels 1  0  1  0  0 -> tp 1, fp 2, fn 1, tn 1
    got = confusion([True, True, False, False, True], [1, 0, 1, 0, 0])
    assert got == {"tp": 1, "fp": 2, "tn": 1, "fn": 1, "recall": 0.5, "false_block_rate": 2 / 3, "precision": 1 / 3}
    assert math.isnan(confusion([False, False], [0, 0])["precision"])  # nothing blocked
    assert math.isnan(confusion([False, False], [0, 0])["recall"])  # no positives


def test_breakdowns_by_kind() -> None:
    blocked = [True, False, True, True, False, True]
    labels = [1, 1, 1, 0, 0, 0]
    kinds = ["painting", "painting", "photo", "beach", "beach", "food"]
    assert recall_by_kind(blocked, labels, kinds) == {"painting": (1, 2), "photo": (1, 1)}
    assert false_blocks_by_kind(blocked, labels, kinds) == {"beach": (1, 2), "food": (1, 1)}
    split = per_kind([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], kinds)
    assert list(split) == ["beach", "food", "painting", "photo"]
    np.testing.assert_array_equal(split["beach"], [0.4, 0.5])


# sha256 prefixes of the negative groups: car 2b29.., sea 4a69.., cat 77af.., dog cd63.., tree dc9c..
FOLD_GROUPS = ["venus", "venus", "danae", "cat", "dog", "sea", "tree", "car", "car"]
FOLD_LABELS = [1, 1, 1, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        # positives sorted by name: danae 0, venus 1; negatives by hash, round-robin: car 0 sea 1 cat 0 dog 1 tree 0
        (None, [1, 1, 0, 0, 1, 1, 0, 0, 0]),
        (2, [1, 1, 0, 0, 1, 1, 0, 0, 0]),
        # k = 3: car 0 sea 1 cat 2 dog 0 tree 1
        (3, [1, 1, 0, 2, 0, 1, 1, 0, 0]),
    ],
    ids=["default-k", "k-equals-positive-groups", "k3"],
)
def test_grouped_folds(k: int | None, expected: list[int]) -> None:
    folds = grouped_folds(FOLD_GROUPS, FOLD_LABELS, k)
    np.testing.assert_array_equal(folds, expected)
    for group in set(FOLD_GROUPS):  # a group never straddles folds
        assert len({int(f) for f, g in zip(folds, FOLD_GROUPS, strict=True) if g == group}) == 1


def test_grouped_folds_one_positive_group_per_fold() -> None:
    groups = [f"p{i}" for i in range(5)] + [f"n{i}" for i in range(20)]
    folds = grouped_folds(groups, [1] * 5 + [0] * 20, 5)
    assert sorted(folds[:5].tolist()) == [0, 1, 2, 3, 4]
    assert np.bincount(folds[5:]).tolist() == [4, 4, 4, 4, 4]  # negatives dealt round-robin


def test_bootstrap_is_deterministic_and_contains_the_estimate() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(200) < 0.3
    scores = rng.random(200) + 0.6 * labels
    groups = [f"g{i // 2}" for i in range(200)]
    first = bootstrap_recall_ci(scores, labels, groups, 0.05, seed=1)
    assert first == bootstrap_recall_ci(scores, labels, groups, 0.05, seed=1)
    assert first != bootstrap_recall_ci(scores, labels, groups, 0.05, seed=2)
    assert first[0] <= operating_point(scores, labels, 0.05).recall <= first[1]


def test_bootstrap_interval_narrows_with_more_data() -> None:
    """The same 60 items, then 10 independent copies of them: same estimate (0.6), ~sqrt(10)x narrower."""
    rng = np.random.default_rng(5)
    labels = np.arange(60) % 3 == 0
    scores = rng.random(60) + 0.5 * labels
    intervals = []
    for copies in (1, 10):
        s, y = np.tile(scores, copies), np.tile(labels, copies)
        assert operating_point(s, y, 0.05).recall == pytest.approx(0.6)
        intervals.append(bootstrap_recall_ci(s, y, [str(i) for i in range(s.size)], 0.05))
    (low1, high1), (low10, high10) = intervals
    assert low1 <= low10 <= 0.6 <= high10 <= high1
    assert high10 - low10 < (high1 - low1) / 2


def test_grouping_changes_the_interval() -> None:
    """Two positive groups of 5 near-duplicates: group A (0.9) is caught, group B (0.1) missed.

    Negatives: 10 singletons at 0.5, none may be blocked at 0% -> threshold above 0.5 in every replicate.
    Grouped: a replicate draws 2 of {A, B}: recall 1 (AA, p 1/4), 0.5 (AB, BA) or 0 (BB, p 1/4), so the 2.5%
    and 97.5% percentiles are 0 and 1. Ungrouped: recall ~ Binomial(10, 1/2) / 10, whose 2.5% and 97.5%
    quantiles are 0.2 and 0.8 (P(X <= 1) = 11/1024 < 2.5% < P(X <= 2) = 56/1024).
    """
    scores = [0.9] * 5 + [0.1] * 5 + [0.5] * 10
    labels = [1] * 10 + [0] * 10
    negatives = [f"n{i}" for i in range(10)]
    grouped = bootstrap_recall_ci(scores, labels, ["A"] * 5 + ["B"] * 5 + negatives, 0.0)
    ungrouped = bootstrap_recall_ci(scores, labels, [f"p{i}" for i in range(10)] + negatives, 0.0)
    assert operating_point(scores, labels, 0.0).recall == 0.5
    assert grouped == (0.0, 1.0)
    assert ungrouped == pytest.approx((0.2, 0.8))


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.2, 0.4], [0, 0], (math.nan, math.nan)),  # no positives
        ([0.2, 0.4], [1, 1], (1.0, 1.0)),  # no negatives: everything may be blocked
        ([0.5, 0.5, 0.5], [1, 0, 0], (0.0, 0.0)),  # all equal, none allowed at 1%: nothing blocked
    ],
    ids=["no-positives", "no-negatives", "all-equal"],
)
def test_bootstrap_edges(scores: list[float], labels: list[int], expected: tuple[float, float]) -> None:
    low, high = bootstrap_recall_ci(scores, labels, [str(i) for i in range(len(scores))], 0.01, n_boot=50)
    assert nan_equal(low, expected[0]) and nan_equal(high, expected[1])


def test_bootstrap_in_chunks_gives_the_same_hand_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large inputs are bootstrapped a few replicates at a time (memory cap); the answer is unchanged."""
    monkeypatch.setattr("captureguard.evaluation.metrics._CELLS", 45)  # 20 items -> 2 replicates per chunk
    scores = [0.9] * 5 + [0.1] * 5 + [0.5] * 10
    groups = ["A"] * 5 + ["B"] * 5 + [f"n{i}" for i in range(10)]
    assert bootstrap_recall_ci(scores, [1] * 10 + [0] * 10, groups, 0.0, n_boot=999) == (0.0, 1.0)

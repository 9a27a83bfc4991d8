"""Fitting the picture locator (build time: tools/detect_v2/locator.py): labels, the fit, the shipped form."""

from __future__ import annotations

import numpy as np
import pytest
from tools.detect_v2 import locator

from captureguard.core.locator import GRID, cell_rect


def test_cover_is_each_cells_share_inside_the_box() -> None:
    hw = (720, 1280)
    x0, y0, x1, y1 = cell_rect(2, 3, *hw)
    c = locator.cover((int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))), hw)
    assert c.reshape(GRID, GRID)[2, 3] == pytest.approx(1.0)
    assert c.sum() == pytest.approx(1.0, abs=0.05)  # the one cell (rounding spills a sliver)
    half = locator.cover((int(x0), int(y0), int((x0 + x1) / 2), int(np.ceil(y1))), hw)
    assert half.reshape(GRID, GRID)[2, 3] == pytest.approx(0.5, abs=0.02)
    assert locator.cover((0, 0, 1280, 720), hw) == pytest.approx(np.ones(GRID * GRID))


def test_fit_learns_a_planted_picture_and_folds_into_the_shipped_form() -> None:
    """Cells inside a random rectangle carry a feature direction the others lack (plus noise and a
    per-frame offset): the fitted locator's box lands on the rectangle in held-out frames, and its
    folded linear form (cell weights, mean-cell context) is what the run-time check computes."""
    rng = np.random.default_rng(1)
    d, n = 128, 160
    direction = rng.normal(size=d)

    def frames(k: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(k, GRID * GRID, d)) + rng.normal(size=(k, 1, d))  # noise + frame context
        y = np.zeros((k, GRID, GRID), bool)
        for i in range(k):
            r, c = rng.integers(0, GRID - 2, size=2)
            y[i, r : r + 2, c : c + 3] = True
        x[y.reshape(k, -1)] += 1.5 * direction
        return x.astype(np.float32), y.reshape(k, -1)

    x, y = frames(n)
    fitted = locator.fit(x, y)
    assert fitted.size == d and fitted.version == locator.VERSION
    test_x, test_y = frames(20)
    hits = 0
    for cells, truth in zip(test_x, test_y, strict=True):
        box = fitted.box(cells, 256, 256)
        assert box is not None
        rows, cols = np.nonzero(truth.reshape(GRID, GRID))
        want = (*cell_rect(rows.min(), cols.min(), 256, 256)[:2], *cell_rect(rows.max(), cols.max(), 256, 256)[2:])
        hits += box == tuple(int(v) for v in want)
    assert hits >= 18
    p = np.stack([fitted.probabilities(c) for c in test_x])
    assert p[test_y].mean() > 0.8 and p[~test_y].mean() < 0.2  # planted cells above, the rest below


def test_overlap_gives_iou_cover_and_precision() -> None:
    """A box twice the truth's width over it: IoU 1/2, all of the truth covered, half the box on it."""
    iou, cover, on = locator.overlap(np.array([0.0, 0.0, 20.0, 10.0]), np.array([0.0, 0.0, 10.0, 10.0]))
    assert (iou, cover, on) == pytest.approx((0.5, 1.0, 0.5))
    assert locator.overlap(np.array([0.0, 0.0, 5.0, 5.0]), np.array([10.0, 10.0, 20.0, 20.0])) == (0.0, 0.0, 0.0)

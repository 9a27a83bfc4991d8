"""Fitting the picture locator (build time: tools/detect_v2/locator.py): labels, the fit, the shipped form."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tools.detect_v2 import locator

from captureguard.core.locator import GRID, GRIDS, cell_rect, stack_maps


@pytest.mark.parametrize("grid", GRIDS)
def test_cover_is_each_cells_share_inside_the_box(grid: int) -> None:
    hw = (720, 1280)
    x0, y0, x1, y1 = cell_rect(2, 3, *hw, grid)
    c = locator.cover((int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))), hw, grid)
    assert c.reshape(grid, grid)[2, 3] == pytest.approx(1.0)
    assert c.sum() == pytest.approx(1.0, abs=0.1)  # the one cell (rounding spills a sliver)
    half = locator.cover((int(x0), int(y0), int((x0 + x1) / 2), int(np.ceil(y1))), hw, grid)
    assert half.reshape(grid, grid)[2, 3] == pytest.approx(0.5, abs=0.04)
    assert locator.cover((0, 0, 1280, 720), hw, grid) == pytest.approx(np.ones(grid * grid))


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
    fitted = locator.fit(x, y, grid=GRID)
    assert fitted.size == d and fitted.version == locator.VERSION and fitted.grid == GRID
    assert fitted.gate == locator.GATE  # the fitted locator carries the tool's gate (v2.9)
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


def test_a_fine_grid_fit_reads_two_maps_and_folds_both() -> None:
    """At 14 x 14 the cells are a fine map's 16 channels beside a coarse map's 32 (each coarse cell
    over its 4 fine cells, as ``stack_maps`` builds them at run time); the picture is planted in the
    fine channels only, at fine resolution. Each block gets its own PCA; the folded form's cell
    probabilities equal the fit's own, and the box lands on the planted cells."""
    rng = np.random.default_rng(2)
    g, fine_ch, coarse_ch = 14, 16, 32
    direction = rng.normal(size=fine_ch)

    def frames(k: int) -> tuple[np.ndarray, np.ndarray]:
        fine = rng.normal(size=(k, fine_ch, g, g)) + rng.normal(size=(k, fine_ch, 1, 1))
        coarse = rng.normal(size=(k, coarse_ch, 7, 7))
        y = np.zeros((k, g, g), bool)
        for i in range(k):
            r, c = rng.integers(0, g - 3, size=2)
            y[i, r : r + 3, c : c + 2] = True
        fine += 2.0 * direction[None, :, None, None] * y[:, None]
        x = np.stack([stack_maps([fine[i], coarse[i]], g) for i in range(k)])
        return x.astype(np.float32), y.reshape(k, -1)

    x, y = frames(120)
    fitted = locator.fit(x, y, grid=g, blocks=((fine_ch, 8), (coarse_ch, 8)))
    assert fitted.grid == g and fitted.size == fine_ch + coarse_ch
    assert np.abs(fitted.weights[:fine_ch]).sum() > 3 * np.abs(fitted.weights[fine_ch:]).sum()
    test_x, test_y = frames(20)
    p = np.stack([fitted.probabilities(c) for c in test_x])
    assert p[test_y].mean() > 0.7 and p[~test_y].mean() < 0.1
    hits = 0
    for cells, truth in zip(test_x, test_y, strict=True):
        box = dataclasses.replace(fitted, relative=0.5).box(cells, 256, 256)
        rows, cols = np.nonzero(truth.reshape(g, g))
        want = (
            *cell_rect(rows.min(), cols.min(), 256, 256, g)[:2],
            *cell_rect(rows.max(), cols.max(), 256, 256, g)[2:],
        )
        hits += box is not None and np.allclose(box, want, atol=1)
    assert hits >= 16


def test_overlap_gives_iou_cover_and_precision() -> None:
    """A box twice the truth's width over it: IoU 1/2, all of the truth covered, half the box on it."""
    iou, cover, on = locator.overlap(np.array([0.0, 0.0, 20.0, 10.0]), np.array([0.0, 0.0, 10.0, 10.0]))
    assert (iou, cover, on) == pytest.approx((0.5, 1.0, 0.5))
    assert locator.overlap(np.array([0.0, 0.0, 5.0, 5.0]), np.array([10.0, 10.0, 20.0, 20.0])) == (0.0, 0.0, 0.0)


def test_blocks_must_add_up_to_the_features() -> None:
    x = np.zeros((2, 49, 10), np.float32)
    with pytest.raises(ValueError, match="add up"):
        locator.fit(x, np.zeros((2, 49), bool), grid=GRID, blocks=((4, 2), (4, 2)))

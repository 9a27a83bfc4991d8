"""The picture locator's pure parts: cell scores, the connected group, the box in frame pixels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from captureguard.core.locator import (
    GRID,
    SHIPPED,
    PictureLocator,
    cell_rect,
    cells_box,
    components,
    moments_box,
    pool_probabilities,
    scaled,
    stack_maps,
)
from captureguard.errors import ConfigError, DetectionError


def grid(cells: dict[tuple[int, int], float], base: float = 0.01) -> np.ndarray:
    g = np.full((GRID, GRID), base)
    for ij, p in cells.items():
        g[ij] = p
    return g.ravel()


def test_cells_follow_open_nsfws_squash_and_centre_crop() -> None:
    """open_nsfw squashes the frame to 256 x 256 and keeps the centre 224: cell (0, 0) starts 16/256
    in, cell (6, 6) ends 16/256 before the far edge."""
    assert cell_rect(0, 0, 720, 1280) == pytest.approx((80.0, 45.0, 240.0, 135.0))
    assert cell_rect(6, 6, 720, 1280)[2:] == pytest.approx((1200.0, 675.0))
    assert cell_rect(2, 3, 256, 256) == (112.0, 80.0, 144.0, 112.0)


def test_box_is_the_group_with_most_probability() -> None:
    """Two groups: a 2 x 2 block of 0.6 (mass 2.4) beats a lone 0.9; the box spans the block's cells."""
    prob = grid({(1, 1): 0.6, (1, 2): 0.6, (2, 1): 0.6, (2, 2): 0.6, (5, 5): 0.9})
    box = cells_box(prob, 720, 1280, relative=0.3, floor=0.2)
    x0, y0 = cell_rect(1, 1, 720, 1280)[:2]
    x1, y1 = cell_rect(2, 2, 720, 1280)[2:]
    assert box == (int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1)))


def test_relative_and_floor_thresholds() -> None:
    prob = grid({(3, 3): 0.9, (3, 4): 0.25})
    # 0.25 < 0.3 * 0.9: the neighbour stays out
    assert cells_box(prob, 256, 256, relative=0.3, floor=0.2) == cell_rect(3, 3, 256, 256)
    # relative 0.2: it joins
    assert cells_box(prob, 256, 256, relative=0.2, floor=0.2) == (112.0, 112.0, 176.0, 144.0)
    # nothing reaches the floor: no box
    assert cells_box(grid({(3, 3): 0.15}), 256, 256, relative=0.3, floor=0.2) is None


def test_moments_box_of_a_lone_cell_at_sqrt3_is_that_cell() -> None:
    """A cell counts as uniform over its width: sqrt(3) standard deviations either side of its centre
    span it exactly."""
    box = moments_box(grid({(3, 2): 0.9}), 256, 256, relative=0.3, floor=0.2, spread=np.sqrt(3))
    assert box is not None
    assert np.allclose(box, cell_rect(3, 2, 256, 256), atol=1)
    assert moments_box(grid({(3, 2): 0.1}), 256, 256, relative=0.3, floor=0.2, spread=1.5) is None


def test_moments_box_leans_towards_the_stronger_cells() -> None:
    """A strong cell and a weak neighbour: the box is centred nearer the strong cell and is narrower
    than the two cells' bounding box, which treats both alike."""
    prob = grid({(3, 3): 0.9, (3, 4): 0.3})
    cells = cells_box(prob, 256, 256, relative=0.3, floor=0.2)
    box = moments_box(prob, 256, 256, relative=0.3, floor=0.2, spread=1.5)
    assert cells is not None and box is not None
    assert cells == (112, 112, 176, 144)
    assert (box[0] + box[2]) / 2 < (cells[0] + cells[2]) / 2
    assert box[2] - box[0] < cells[2] - cells[0]


def test_scaled_grows_about_the_centre_inside_the_frame() -> None:
    assert scaled((100, 100, 200, 150), 1.0, 720, 1280) == (100, 100, 200, 150)
    assert scaled((100, 100, 200, 150), 1.2, 720, 1280) == (90, 95, 210, 155)
    assert scaled((0, 0, 100, 100), 2.0, 80, 1280) == (0, 0, 150, 80)


def test_the_locator_box_uses_its_rule() -> None:
    """``spread`` 0: whole cells; > 0: the moments box; ``grow`` scales either."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=4)
    x = rng.normal(size=(GRID * GRID, 4))
    plain, tight = PictureLocator(w, np.zeros(4), 0.0), PictureLocator(w, np.zeros(4), 0.0, spread=1.5, grow=1.2)
    prob = plain.probabilities(x)
    assert plain.box(x, 720, 1280) == cells_box(prob, 720, 1280, relative=0.3, floor=0.2)
    m = moments_box(prob, 720, 1280, relative=0.3, floor=0.2, spread=1.5)
    assert m is not None
    assert tight.box(x, 720, 1280) == scaled(m, 1.2, 720, 1280)
    loaded = PictureLocator.from_mapping({"weights": list(w), "context": [0.0] * 4, "intercept": 0.0, "spread": 1.5})
    assert (loaded.spread, loaded.grow) == (1.5, 1.0)


def test_diagonal_cells_are_not_connected() -> None:
    mask = np.zeros((GRID, GRID), bool)
    mask[0, 0] = mask[1, 1] = mask[1, 2] = True
    groups = sorted(sorted(g) for g in components(mask))
    assert groups == [[(0, 0)], [(1, 1), (1, 2)]]


def test_probabilities_are_linear_in_the_cell_and_the_mean_cell() -> None:
    rng = np.random.default_rng(0)
    w, c = rng.normal(size=8), rng.normal(size=8)
    loc = PictureLocator(w, c, -0.5)
    x = rng.normal(size=(GRID * GRID, 8))
    z = -0.5 + x @ w + x.mean(0) @ c
    assert loc.probabilities(x) == pytest.approx(1 / (1 + np.exp(-z)))
    # the same cells in another frame context move every score by the same amount
    shifted = x + 1.0
    dz = np.log(loc.probabilities(shifted) / (1 - loc.probabilities(shifted))) - z
    assert dz == pytest.approx(np.full(GRID * GRID, w.sum() + c.sum()))


def test_fails_closed_on_bad_cells() -> None:
    loc = PictureLocator(np.ones(4), np.zeros(4), 0.0, version="t")
    with pytest.raises(DetectionError, match="cells"):
        loc.probabilities(np.zeros((GRID * GRID, 5)))
    bad = np.zeros((GRID * GRID, 4))
    bad[3, 1] = np.inf
    with pytest.raises(DetectionError, match="non-finite"):
        loc.box(bad, 720, 1280)
    bad[3, 1] = np.nan
    with pytest.raises(DetectionError, match="non-finite"):
        loc.probabilities(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weights": np.array([1.0, np.nan]), "context": np.zeros(2), "intercept": 0.0},
        {"weights": np.ones(2), "context": np.zeros(3), "intercept": 0.0},
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": float("inf")},
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": 0.0, "relative": 0.0},
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": 0.0, "floor": 1.0},
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": 0.0, "spread": -1.0},
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": 0.0, "grow": 0.1},
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": 0.0, "grid": 9},
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": 0.0, "grid": 14, "outer_pool": 1},
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": 0.0, "grid": 14, "outer_pool": 7},
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": 0.0, "grid": 7, "outer_pool": 2},
        {
            "weights": np.ones(2),
            "context": np.zeros(2),
            "intercept": 0.0,
            "grid": 14,
            "outer_pool": 2,
            "outer_floor": 0.0,
        },
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": 0.0, "gate": 1.0},
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": 0.0, "gate": -0.1},
        {"weights": np.ones(2), "context": np.zeros(2), "intercept": 0.0, "gate": float("nan")},
    ],
)
def test_broken_parameters_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        PictureLocator(**kwargs)  # type: ignore[arg-type]


def test_mapping_and_shipped_file() -> None:
    with pytest.raises(ConfigError, match="invalid locator"):
        PictureLocator.from_mapping({"weights": [1.0]})
    with pytest.raises(ConfigError, match="cannot load"):
        PictureLocator.named("/no/such/locator.json")
    shipped = PictureLocator.named(SHIPPED)
    assert shipped.size == 512 + 1024 and shipped.grid == 14  # Relu_39 (14 x 14) beside Relu_48 (7 x 7)
    assert shipped.version.startswith("locator-open_nsfw")
    # since v2.7 it also gives the outer box: its cells pooled 2 x 2, boxed at 0.3 / 0.2
    assert (shipped.outer_pool, shipped.outer_relative, shipped.outer_floor) == (2, 0.3, 0.2)
    # no gate shipped: gated at 0.8, the refitted live path lost full-frame nudes (docs/accuracy.md)
    assert shipped.gate == 0.0
    one = PictureLocator.from_mapping({"weights": [1.0], "context": [0.0], "intercept": 0.0, "grid": 14})
    assert one.outer_pool == 0 and one.outer_box_from(np.ones(196), 256, 256) is None


def test_a_fine_grid_halves_the_cells() -> None:
    """At 14 x 14 a cell is 16 of open_nsfw's 224 centre pixels: four fine cells tile one coarse cell."""
    assert cell_rect(0, 0, 256, 256, 14) == (16.0, 16.0, 32.0, 32.0)
    coarse = cell_rect(2, 3, 720, 1280)
    assert cell_rect(4, 6, 720, 1280, 14)[:2] == pytest.approx(coarse[:2])
    assert cell_rect(5, 7, 720, 1280, 14)[2:] == pytest.approx(coarse[2:])


def test_stack_maps_repeats_a_coarse_cell_over_the_fine_cells_it_covers() -> None:
    fine = np.arange(2 * 14 * 14, dtype=np.float32).reshape(2, 14, 14)
    coarse = np.arange(3 * 7 * 7, dtype=np.float32).reshape(3, 7, 7) + 1000
    x = stack_maps([fine, coarse], 14)
    assert x.shape == (196, 5)
    k = 5 * 14 + 9  # fine cell (5, 9) lies in coarse cell (2, 4)
    assert list(x[k, :2]) == [fine[0, 5, 9], fine[1, 5, 9]]
    assert list(x[k, 2:]) == list(coarse[:, 2, 4])
    assert np.array_equal(stack_maps([coarse], 7), coarse.reshape(3, 49).T)
    with pytest.raises(DetectionError, match="does not tile"):
        stack_maps([np.zeros((4, 5, 5))], 14)
    with pytest.raises(DetectionError, match="does not tile"):
        stack_maps([np.zeros((4, 7))], 7)


def test_a_fine_locator_boxes_fine_cells() -> None:
    """A 14 x 14 locator's box spans fine cells; cells of the wrong count fail closed."""
    w = np.zeros(4)
    w[0] = 1.0
    loc = PictureLocator(w, np.zeros(4), -3.0, relative=0.5, grid=14, version="fine")
    x = np.zeros((196, 4))
    for i, j in ((3, 5), (3, 6), (4, 5), (4, 6)):
        x[i * 14 + j, 0] = 8.0
    assert loc.box(x, 256, 256) == (96, 64, 128, 96)
    with pytest.raises(DetectionError, match=r"needs \(196, 4\)"):
        loc.probabilities(np.zeros((49, 4)))
    with pytest.raises(DetectionError, match="not a grid"):
        cells_box(np.zeros(50), 256, 256, relative=0.3, floor=0.2)
    assert PictureLocator.from_mapping({"weights": [1.0], "context": [0.0], "intercept": 0.0, "grid": 14}).grid == 14


def test_pool_probabilities_averages_the_cells_each_coarse_cell_covers() -> None:
    fine = np.zeros((14, 14))
    fine[4:6, 6:8] = [[0.8, 0.4], [0.2, 0.6]]  # the four fine cells of coarse cell (2, 3)
    fine[0, 0] = 0.4
    pooled = pool_probabilities(fine.ravel(), 2)
    assert pooled.shape == (49,)
    assert pooled[2 * 7 + 3] == pytest.approx(0.5) and pooled[0] == pytest.approx(0.1)
    assert pooled.sum() == pytest.approx(fine.sum() / 4)
    assert np.array_equal(pool_probabilities(pooled, 1), pooled)
    with pytest.raises(DetectionError, match="cannot pool"):
        pool_probabilities(fine.ravel(), 3)
    with pytest.raises(DetectionError, match="cannot pool"):
        pool_probabilities(pooled, 7)


def test_the_outer_box_is_the_pooled_grids_box() -> None:
    """A picture whose fine cells are split (two confident patches with a weak cell between them):
    the fine box keeps one patch, the outer box (pooled 2 x 2, v2.5's rule) spans both."""
    w = np.zeros(4)
    w[0] = 1.0
    loc = PictureLocator(w, np.zeros(4), -3.0, relative=0.5, grid=14, outer_pool=2, version="outer")
    x = np.zeros((196, 4))
    for i, j in ((4, 4), (4, 5), (5, 4), (5, 5)):  # coarse cell (2, 2), strong
        x[i * 14 + j, 0] = 9.0
    for i, j in ((4, 7), (5, 7)):  # coarse cell (2, 3): a weaker patch, not 4-connected to the first
        x[i * 14 + j, 0] = 4.0
    prob = loc.probabilities(x)
    fine, outer = loc.boxes(x, 256, 256)
    assert fine == loc.box_from(prob, 256, 256) == (80, 80, 112, 112)
    assert (
        outer
        == loc.outer_box_from(prob, 256, 256)
        == cells_box(pool_probabilities(prob, 2), 256, 256, relative=0.3, floor=0.2)
    )
    assert outer == (80, 80, 144, 112)  # coarse cells (2, 2) and (2, 3)
    assert PictureLocator.from_mapping(
        {"weights": [1.0], "context": [0.0], "intercept": 0.0, "grid": 14, "outer": {"pool": 2, "floor": 0.1}}
    ).outer_floor == pytest.approx(0.1)


def test_the_gate_drops_both_boxes_when_the_top_cell_is_unsure() -> None:
    """One strong cell: with its probability under the gate there is no box and no outer box; at or
    above it the boxes are those of the ungated locator (the gate decides only whether to box)."""
    w = np.zeros(4)
    w[0] = 1.0
    x = np.zeros((196, 4))
    x[4 * 14 + 4, 0] = 4.0  # p = sigmoid(4 - 3) = 0.731 in cell (4, 4); the rest sigmoid(-3) = 0.047
    open_ = PictureLocator(w, np.zeros(4), -3.0, grid=14, outer_pool=2, version="open")
    top = float(open_.probabilities(x).max())
    assert top == pytest.approx(1 / (1 + np.exp(-1.0)))
    boxes = open_.boxes(x, 256, 256)
    assert boxes[0] is not None and boxes[1] is not None
    shut = dataclasses.replace(open_, gate=0.8)
    assert shut.boxes(x, 256, 256) == (None, None) and shut.box(x, 256, 256) is None
    assert not shut.sure(shut.probabilities(x))
    at = dataclasses.replace(open_, gate=top - 1e-9)
    assert at.boxes(x, 256, 256) == boxes
    gated = PictureLocator.from_mapping({"weights": [1.0], "context": [0.0], "intercept": 0.0, "grid": 14, "gate": 0.8})
    assert gated.gate == pytest.approx(0.8)
    assert PictureLocator.from_mapping({"weights": [1.0], "context": [0.0], "intercept": 0.0}).gate == 0.0

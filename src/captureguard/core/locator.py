"""Where a picture sits inside a camera frame: open_nsfw's feature maps read cell by cell.

The live check misses nude artworks that fill 10-35% of a 720p frame: open_nsfw on the whole frame
dilutes them, and the person detector rarely finds a painted figure that small. Given a crop
around the artwork, the same probe finds most of them (``bench/results/detect_v2_not_shipped.md``,
"crops"). The locator finds that crop from what the check already computes: open_nsfw's feature
maps of the whole frame. Each cell gets a logistic score of "inside a picture that was put in
front of the camera", linear in the cell's features and in the mean over all cells (the frame's
context), fitted on the dev stills pasted into camera frames at known places
(``tools/detect_v2/locator.py``). The box is the connected group of confident cells with the most
probability mass, in frame pixels; the caller crops it and reads it with the probe. Since v2.7 a
locator may also give an *outer* box: the same rule on the probabilities pooled to a coarser grid
(:func:`pool_probabilities`), a larger crop around the same picture that the probe reads beside it.

A locator reads a grid of :attr:`PictureLocator.grid` x ``grid`` cells: 7 x 7 is open_nsfw's last
map (``Relu_48:0``, 1024 channels; v2.5); 14 x 14 (shipped since v2.6: a picture at 10% of a 720p
frame covers ~10 cells instead of ~2-3) gives each cell open_nsfw's third-stage map there
(``Relu_39:0``, 512 channels) beside the last map's cell above it (:func:`stack_maps`), still
linear, so the same parameters describe both.

Pure numpy: the cell map comes from the model shell (:mod:`captureguard.models.probe`).
"""

from __future__ import annotations

import importlib.resources
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from captureguard.errors import ConfigError, DetectionError

SHIPPED = "locator_open_nsfw.json"
#: open_nsfw's last map is GRID x GRID cells; its input is the frame squashed to SQUASH x SQUASH and
#: the centre SIDE x SIDE kept (MARGIN cropped on each side), so in a grid of g cells, cell (i, j)
#: covers squashed pixels MARGIN + SIDE / g * i ... (:func:`cell_rect`)
GRID = 7
SQUASH = 256
MARGIN = 16
SIDE = 224
#: the grids a locator may read: open_nsfw's last map (7) and its third stage's (14)
GRIDS = (7, 14)

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class PictureLocator:
    """``p(cell) = sigmoid(intercept + cell @ weights + mean(cells) @ context)``.

    Attributes:
        weights: ``(D,)`` on a cell's features.
        context: ``(D,)`` on the mean of the frame's cells.
        intercept: bias.
        relative: a cell joins the group when its probability is at least this share of the top cell's...
        floor: ...and at least this; no cell that high, no box.
        version: identifies the fitted parameters.
        spread: 0: the box spans the group's cells (``cells_box``); > 0: it spans ``spread``
            standard deviations of the group's probability mass about its centre (``moments_box``:
            tighter than whole cells when a picture covers part of its edge cells).
        grow: the box scaled about its centre by this (inside the frame).
        grid: the cells are ``grid`` x ``grid`` (one of :data:`GRIDS`).
        outer_pool: 0: one box. ``k`` > 1: also an *outer* box (:meth:`outer_box_from`), the same
            rule on the probabilities mean-pooled over ``k`` x ``k`` cells (a 14 x 14 grid read as
            7 x 7): a coarser, larger box that keeps a picture whole where the fine box covers
            part of it (v2.7 reads both crops).
        outer_relative: the outer box's ``relative``...
        outer_floor: ...and ``floor``.
        gate: no box at all (neither the box nor the outer box) unless the top cell's probability
            reaches this: the locator must be sure there is a picture before its crops are read
            (0, as shipped: always box. On safe video the locator boxes something in 1,063 of
            1,079 sampled frames, hands and desks among them, while nude scenes' top cells sit near
            0.98; a gate at 0.8 was measured and not shipped: docs/accuracy.md).
    """

    weights: np.ndarray
    context: np.ndarray
    intercept: float
    relative: float = 0.3
    floor: float = 0.2
    version: str = "unversioned"
    spread: float = 0.0
    grow: float = 1.0
    grid: int = GRID
    outer_pool: int = 0
    outer_relative: float = 0.3
    outer_floor: float = 0.2
    gate: float = 0.0

    def __post_init__(self) -> None:
        w, c = np.asarray(self.weights), np.asarray(self.context)
        if w.ndim != 1 or not w.size or w.shape != c.shape:
            raise ConfigError(f"locator {self.version}: weights and context must be vectors of one length")
        if not (np.isfinite(w).all() and np.isfinite(c).all() and math.isfinite(self.intercept)):
            raise ConfigError(f"locator {self.version}: parameters must be finite")
        if not (0.0 < self.relative <= 1.0 and 0.0 < self.floor < 1.0):
            raise ConfigError(f"locator {self.version}: relative must be in (0, 1] and floor in (0, 1)")
        if not (0.0 <= self.spread <= 4.0 and 0.5 <= self.grow <= 3.0):
            raise ConfigError(f"locator {self.version}: spread must be in [0, 4] and grow in [0.5, 3]")
        if self.grid not in GRIDS:
            raise ConfigError(f"locator {self.version}: grid must be one of {GRIDS}, not {self.grid}")
        if self.outer_pool and (self.outer_pool < 2 or not _pools(self.grid, self.outer_pool)):
            raise ConfigError(
                f"locator {self.version}: outer_pool must be 0 or pool the {self.grid} x {self.grid} grid"
                f" into one of {GRIDS}, not {self.outer_pool}"
            )
        if not (0.0 < self.outer_relative <= 1.0 and 0.0 < self.outer_floor < 1.0):
            raise ConfigError(f"locator {self.version}: outer_relative must be in (0, 1] and outer_floor in (0, 1)")
        if not (math.isfinite(self.gate) and 0.0 <= self.gate < 1.0):
            raise ConfigError(f"locator {self.version}: gate must be in [0, 1), not {self.gate}")

    @property
    def size(self) -> int:
        """Features per cell."""
        return int(self.weights.shape[0])

    def probabilities(self, cells: np.ndarray) -> np.ndarray:
        """``(grid * grid, D)`` cell features (row-major) -> ``(grid * grid,)`` probabilities.

        Raises:
            DetectionError: wrong shape or non-finite scores (the frame is then blocked).
        """
        x = np.asarray(cells, np.float64)
        n = self.grid * self.grid
        if x.shape != (n, self.size):
            raise DetectionError(f"locator {self.version} needs ({n}, {self.size}) cells, got {x.shape}")
        if not np.isfinite(x).all():
            raise DetectionError(f"locator {self.version}: non-finite cell features")
        z = self.intercept + x @ self.weights + float(x.mean(0) @ self.context)
        if not np.isfinite(z).all():
            raise DetectionError(f"locator {self.version} produced a non-finite score")
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0))))

    def box(self, cells: np.ndarray, height: int, width: int) -> Box | None:
        """The located picture in frame pixels ``(x0, y0, x1, y1)``, or None."""
        return self.box_from(self.probabilities(cells), height, width)

    def boxes(self, cells: np.ndarray, height: int, width: int) -> tuple[Box | None, Box | None]:
        """The box and the outer box (None without :attr:`outer_pool`) from one scoring of ``cells``."""
        prob = self.probabilities(cells)
        return self.box_from(prob, height, width), self.outer_box_from(prob, height, width)

    def sure(self, prob: np.ndarray) -> bool:
        """The top cell of ``prob`` reaches :attr:`gate`: there is a picture to box."""
        return float(np.max(prob)) >= self.gate

    def outer_box_from(self, prob: np.ndarray, height: int, width: int) -> Box | None:
        """The outer box of cell probabilities ``prob``: :func:`cells_box` of them mean-pooled over
        :attr:`outer_pool` x ``outer_pool`` cells; None without an outer rule, under the
        :attr:`gate` or without a confident cell."""
        if not self.outer_pool or not self.sure(prob):
            return None
        pooled = pool_probabilities(prob, self.outer_pool)
        return cells_box(pooled, height, width, relative=self.outer_relative, floor=self.outer_floor)

    def box_from(self, prob: np.ndarray, height: int, width: int) -> Box | None:
        """The box of cell probabilities ``prob`` by this locator's rule (None under the :attr:`gate`)."""
        if not self.sure(prob):
            return None
        if self.spread > 0:
            box = moments_box(prob, height, width, relative=self.relative, floor=self.floor, spread=self.spread)
        else:
            box = cells_box(prob, height, width, relative=self.relative, floor=self.floor)
        return None if box is None else scaled(box, self.grow, height, width)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> PictureLocator:
        """Build from ``{"weights": [...], "context": [...], "intercept": float, "relative": float,
        "floor": float, "version": str, "spread": float, "grow": float, "grid": int, "outer": {"pool":
        int, "relative": float, "floor": float}, "gate": float}`` (``outer`` optional: one box;
        ``gate`` optional: 0)."""
        try:
            outer = data.get("outer") or {}
            return cls(
                np.asarray([float(v) for v in data["weights"]], np.float64),
                np.asarray([float(v) for v in data["context"]], np.float64),
                float(data["intercept"]),
                float(data.get("relative", 0.3)),
                float(data.get("floor", 0.2)),
                str(data.get("version", "unversioned")),
                float(data.get("spread", 0.0)),
                float(data.get("grow", 1.0)),
                int(data.get("grid", GRID)),
                int(outer.get("pool", 0)),
                float(outer.get("relative", 0.3)),
                float(outer.get("floor", 0.2)),
                float(data.get("gate", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid locator parameters: {exc}") from exc

    @classmethod
    def named(cls, name: str) -> PictureLocator:
        """A bare file name is a shipped one (``data/<name>``), anything with a folder a path."""
        try:
            if Path(name).name == name:
                text = importlib.resources.files("captureguard").joinpath("data", name).read_text("utf-8")
            else:
                text = Path(name).expanduser().read_text("utf-8")
            return cls.from_mapping(json.loads(text))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot load locator parameters from {name}: {exc}") from exc


def cell_rect(i: int, j: int, height: int, width: int, grid: int = GRID) -> tuple[float, float, float, float]:
    """Cell ``(row i, column j)``'s rectangle of a ``grid`` x ``grid`` map in frame pixels ``(x0, y0, x1, y1)``."""
    c = SIDE / grid
    return (
        (MARGIN + c * j) / SQUASH * width,
        (MARGIN + c * i) / SQUASH * height,
        (MARGIN + c * (j + 1)) / SQUASH * width,
        (MARGIN + c * (i + 1)) / SQUASH * height,
    )


def grid_of(prob: np.ndarray) -> int:
    """The side of a square grid of ``prob.size`` cells."""
    g = math.isqrt(int(np.asarray(prob).size))
    if g * g != np.asarray(prob).size or g not in GRIDS:
        raise DetectionError(f"{np.asarray(prob).size} cells are not a grid of {GRIDS}")
    return g


def _pools(grid: int, factor: int) -> bool:
    """``factor`` x ``factor`` cells of a ``grid`` x ``grid`` map pool into one of :data:`GRIDS`."""
    return factor >= 1 and grid % factor == 0 and grid // factor in GRIDS


def pool_probabilities(prob: np.ndarray, factor: int) -> np.ndarray:
    """Cell probabilities of a ``g`` x ``g`` grid (row-major) -> those of a ``g / factor`` grid, each
    the mean of the ``factor`` x ``factor`` cells it covers.

    Raises:
        DetectionError: ``prob`` is not a grid of :data:`GRIDS`, or ``factor`` does not pool it into one.
    """
    g = grid_of(prob)
    if not _pools(g, factor):
        raise DetectionError(f"cannot pool a {g} x {g} grid by {factor} into one of {GRIDS}")
    n = g // factor
    return np.asarray(np.asarray(prob, np.float64).reshape(n, factor, n, factor).mean(axis=(1, 3)).ravel())


def stack_maps(maps: list[np.ndarray], grid: int) -> np.ndarray:
    """Feature maps ``(C_k, g_k, g_k)`` (each ``g_k`` dividing ``grid``) -> ``(grid * grid, sum C_k)``:
    each cell's features from every map, a coarser map's cell repeated over the finer cells it
    covers (row-major).

    Raises:
        DetectionError: a map is not ``(C, g, g)`` with ``g`` dividing ``grid``.
    """
    cols = []
    for raw in maps:
        m = np.asarray(raw)
        if m.ndim != 3 or m.shape[1] != m.shape[2] or not m.shape[1] or grid % m.shape[1]:
            raise DetectionError(f"feature map {m.shape} does not tile a {grid} x {grid} grid")
        r = grid // m.shape[1]
        cols.append(np.repeat(np.repeat(m, r, axis=1), r, axis=2).reshape(m.shape[0], grid * grid).T)
    return np.concatenate(cols, axis=1)


def components(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """4-connected groups of the True cells of a 2-D ``mask``, each a list of ``(i, j)``."""
    seen = np.zeros_like(mask, bool)
    out = []
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        group, todo = [], [start]
        while todo:
            i, j = todo.pop()
            group.append((int(i), int(j)))
            for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
                if 0 <= a < mask.shape[0] and 0 <= b < mask.shape[1] and mask[a, b] and not seen[a, b]:
                    seen[a, b] = True
                    todo.append((a, b))
        out.append(group)
    return out


def best_group(prob: np.ndarray, *, relative: float, floor: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """``(the grid x grid probabilities, the 4-connected group of cells at or above
    max(relative * top, floor) with the largest summed probability)``; the group is empty when no
    cell reaches it."""
    n = grid_of(prob)
    g = np.asarray(prob, np.float64).reshape(n, n)
    groups = components(g >= max(relative * float(g.max()), floor))
    return g, max(groups, key=lambda cs: sum(g[c] for c in cs)) if groups else []


def cells_box(prob: np.ndarray, height: int, width: int, *, relative: float, floor: float) -> Box | None:
    """The bounding box (frame pixels) of the cells of :func:`best_group`; None when it is empty."""
    g, best = best_group(prob, relative=relative, floor=floor)
    if not best:
        return None
    rows, cols = [c[0] for c in best], [c[1] for c in best]
    x0, y0 = cell_rect(min(rows), min(cols), height, width, g.shape[0])[:2]
    x1, y1 = cell_rect(max(rows), max(cols), height, width, g.shape[0])[2:]
    return (max(0, int(x0)), max(0, int(y0)), min(width, math.ceil(x1)), min(height, math.ceil(y1)))


def moments_box(
    prob: np.ndarray, height: int, width: int, *, relative: float, floor: float, spread: float
) -> Box | None:
    """The box (frame pixels) ``spread`` standard deviations either side of the probability-weighted
    centre of :func:`best_group`'s cells, per axis; a cell counts as uniform over its width (variance
    1/12 cell^2), so a lone cell at ``spread`` = sqrt(3) gives that cell. None when the group is empty."""
    g, best = best_group(prob, relative=relative, floor=floor)
    if not best:
        return None
    w = np.array([g[c] for c in best])
    rows, cols = (np.array([c[k] for c in best], np.float64) for k in (0, 1))
    ci, cj = float(w @ rows / w.sum()), float(w @ cols / w.sum())
    si = math.sqrt(float(w @ (rows - ci) ** 2 / w.sum()) + 1 / 12)
    sj = math.sqrt(float(w @ (cols - cj) ** 2 / w.sum()) + 1 / 12)

    c = SIDE / int(g.shape[0])

    def x(j: float) -> float:
        return (MARGIN + c * (j + 0.5)) / SQUASH * width

    def y(i: float) -> float:
        return (MARGIN + c * (i + 0.5)) / SQUASH * height

    x0, x1, y0, y1 = x(cj - spread * sj), x(cj + spread * sj), y(ci - spread * si), y(ci + spread * si)
    return (max(0, int(x0)), max(0, int(y0)), min(width, math.ceil(x1)), min(height, math.ceil(y1)))


def scaled(box: Box, factor: float, height: int, width: int) -> Box:
    """``box`` scaled about its centre by ``factor``, inside the frame."""
    if factor == 1.0:
        return box
    x0, y0, x1, y1 = box
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * factor / 2, (y1 - y0) * factor / 2
    return (max(0, int(cx - hw)), max(0, int(cy - hh)), min(width, math.ceil(cx + hw)), min(height, math.ceil(cy + hh)))

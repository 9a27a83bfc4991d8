"""Where a picture sits inside a camera frame: open_nsfw's last feature map read cell by cell.

The live check misses nude artworks that fill 10-35% of a 720p frame: open_nsfw on the whole frame
dilutes them, and the person detector rarely finds a painted figure that small. Given a crop
around the artwork, the same probe finds most of them (``bench/results/detect_v2_not_shipped.md``,
"crops"). The locator finds that crop from what the check already computes: open_nsfw's 7 x 7 x
1024 map of the whole frame (``Relu_48:0``). Each cell gets a logistic score of "inside a picture
that was put in front of the camera", linear in the cell's features and in the mean over all
cells (the frame's context), fitted on the dev stills pasted into camera frames at known places
(``tools/detect_v2/locator.py``). The box is the connected group of confident cells with the most
probability mass, in frame pixels; the caller crops it and reads it with the probe.

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
#: open_nsfw's map is GRID x GRID cells; its input is the frame squashed to SQUASH x SQUASH and the
#: centre cropped at MARGIN on each side, so cell (i, j) covers squashed pixels MARGIN + CELL * i ...
GRID = 7
SQUASH = 256
MARGIN = 16
CELL = 32

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class PictureLocator:
    """``p(cell) = sigmoid(intercept + cell @ weights + mean(cells) @ context)``.

    Attributes:
        weights: ``(D,)`` on a cell's features.
        context: ``(D,)`` on the mean of the frame's cells.
        intercept: bias.
        relative: a cell joins the box when its probability is at least this share of the top cell's...
        floor: ...and at least this; no cell that high, no box.
        version: identifies the fitted parameters.
    """

    weights: np.ndarray
    context: np.ndarray
    intercept: float
    relative: float = 0.3
    floor: float = 0.2
    version: str = "unversioned"

    def __post_init__(self) -> None:
        w, c = np.asarray(self.weights), np.asarray(self.context)
        if w.ndim != 1 or not w.size or w.shape != c.shape:
            raise ConfigError(f"locator {self.version}: weights and context must be vectors of one length")
        if not (np.isfinite(w).all() and np.isfinite(c).all() and math.isfinite(self.intercept)):
            raise ConfigError(f"locator {self.version}: parameters must be finite")
        if not (0.0 < self.relative <= 1.0 and 0.0 < self.floor < 1.0):
            raise ConfigError(f"locator {self.version}: relative must be in (0, 1] and floor in (0, 1)")

    @property
    def size(self) -> int:
        """Features per cell."""
        return int(self.weights.shape[0])

    def probabilities(self, cells: np.ndarray) -> np.ndarray:
        """``(GRID * GRID, D)`` cell features (row-major) -> ``(GRID * GRID,)`` probabilities.

        Raises:
            DetectionError: wrong shape or non-finite scores (the frame is then blocked).
        """
        x = np.asarray(cells, np.float64)
        if x.shape != (GRID * GRID, self.size):
            raise DetectionError(f"locator {self.version} needs ({GRID * GRID}, {self.size}) cells, got {x.shape}")
        if not np.isfinite(x).all():
            raise DetectionError(f"locator {self.version}: non-finite cell features")
        z = self.intercept + x @ self.weights + float(x.mean(0) @ self.context)
        if not np.isfinite(z).all():
            raise DetectionError(f"locator {self.version} produced a non-finite score")
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0))))

    def box(self, cells: np.ndarray, height: int, width: int) -> Box | None:
        """The located picture in frame pixels ``(x0, y0, x1, y1)``, or None."""
        return cells_box(self.probabilities(cells), height, width, relative=self.relative, floor=self.floor)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> PictureLocator:
        """Build from ``{"weights": [...], "context": [...], "intercept": float, "relative": float,
        "floor": float, "version": str}``."""
        try:
            return cls(
                np.asarray([float(v) for v in data["weights"]], np.float64),
                np.asarray([float(v) for v in data["context"]], np.float64),
                float(data["intercept"]),
                float(data.get("relative", 0.3)),
                float(data.get("floor", 0.2)),
                str(data.get("version", "unversioned")),
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


def cell_rect(i: int, j: int, height: int, width: int) -> tuple[float, float, float, float]:
    """Cell ``(row i, column j)``'s rectangle in frame pixels ``(x0, y0, x1, y1)``."""
    return (
        (MARGIN + CELL * j) / SQUASH * width,
        (MARGIN + CELL * i) / SQUASH * height,
        (MARGIN + CELL * (j + 1)) / SQUASH * width,
        (MARGIN + CELL * (i + 1)) / SQUASH * height,
    )


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


def cells_box(prob: np.ndarray, height: int, width: int, *, relative: float, floor: float) -> Box | None:
    """The bounding box (frame pixels) of the 4-connected group of cells at or above
    ``max(relative * top, floor)`` with the largest summed probability; None when no cell reaches it."""
    g = np.asarray(prob, np.float64).reshape(GRID, GRID)
    mask = g >= max(relative * float(g.max()), floor)
    groups = components(mask)
    if not groups:
        return None
    best = max(groups, key=lambda cs: sum(g[c] for c in cs))
    rows, cols = [c[0] for c in best], [c[1] for c in best]
    x0, y0 = cell_rect(min(rows), min(cols), height, width)[:2]
    x1, y1 = cell_rect(max(rows), max(cols), height, width)[2:]
    return (max(0, int(x0)), max(0, int(y0)), min(width, math.ceil(x1)), min(height, math.ceil(y1)))

"""A linear probe: a logistic read-out of a classifier's pooled features, shipped as JSON data.

The features of one frame are the pooled vector of the whole image followed by that of its most
nude-looking person crop (the whole image again when there is no person), so the probe sees both
the scene and the figure. A probe of three blocks (the live pair since v2.7) also reads the
picture locator's outer crop (:meth:`~captureguard.core.locator.PictureLocator.outer_box_from`; the
whole image again when it finds none). Fitted at build time by ``tools/detect_v2/probe.py`` (grouped CV on the
dev set, perturbed copies included); the standardisation is folded into ``weights``.
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

#: The shipped probe on open_nsfw's 1024-d pool features (whole image + top person crop).
SHIPPED = "probe_open_nsfw.json"
#: The scene probe: the same features, fitted with scene copies too (a small artwork in a frame).
SHIPPED_SCENE = "probe_open_nsfw_scene.json"
#: The photo path's pair: fitted on the features of the people found at 960 (the photo path's
#: person detector input; ``detectors.toml`` names them for ``[photo]``).
SHIPPED_PHOTO = "probe_open_nsfw_photo.json"
SHIPPED_PHOTO_SCENE = "probe_open_nsfw_photo_scene.json"


@dataclass(frozen=True)
class LinearProbe:
    """``probability = sigmoid(intercept + features @ weights)``.

    Attributes:
        weights: ``(F,)`` float64, in raw feature units.
        intercept: bias.
        version: identifies the fitted parameters in reports.
    """

    weights: np.ndarray
    intercept: float
    version: str = "unversioned"

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        if w.ndim != 1 or not w.size or not np.isfinite(w).all() or not math.isfinite(self.intercept):
            raise ConfigError(f"probe {self.version}: weights must be a non-empty finite vector")

    @property
    def size(self) -> int:
        """Number of features the probe reads."""
        return int(self.weights.shape[0])

    def probability(self, features: np.ndarray) -> float:
        """The probe's nudity probability for one ``(F,)`` feature vector.

        Raises:
            DetectionError: wrong length or non-finite features (the frame is then blocked).
        """
        x = np.asarray(features, np.float64).ravel()
        if x.shape != self.weights.shape:
            raise DetectionError(f"probe {self.version} needs {self.size} features, got {x.shape[0]}")
        z = self.intercept + float(x @ self.weights)
        if not math.isfinite(z):
            raise DetectionError(f"probe {self.version} produced a non-finite score")
        return 1.0 / (1.0 + math.exp(-min(max(z, -500.0), 500.0)))

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> LinearProbe:
        """Build from ``{"weights": [...], "intercept": float, "version": str}``."""
        try:
            return cls(
                np.asarray([float(v) for v in data["weights"]], np.float64),
                float(data["intercept"]),
                str(data.get("version", "unversioned")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid probe parameters: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path | None = None, *, shipped: str = SHIPPED) -> LinearProbe:
        """Load fitted parameters (default: the shipped ``data/<shipped>``, :data:`SHIPPED` or
        :data:`SHIPPED_SCENE`)."""
        try:
            if path is None:
                text = importlib.resources.files("captureguard").joinpath("data", shipped).read_text("utf-8")
            else:
                text = Path(path).read_text("utf-8")
            return cls.from_mapping(json.loads(text))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot load probe parameters from {path or 'data/' + shipped}: {exc}") from exc

    @classmethod
    def named(cls, name: str) -> LinearProbe:
        """A probe named in a detectors file: a bare file name is a shipped one (``data/<name>``, e.g.
        :data:`SHIPPED_PHOTO`), anything with a folder in it a path.

        Raises:
            ConfigError: no such file or invalid parameters.
        """
        if Path(name).name == name:
            return cls.load(shipped=name)
        return cls.load(Path(name).expanduser())


def probe_features(pooled: np.ndarray, crop_scores: np.ndarray, outer: np.ndarray | None = None) -> np.ndarray:
    """``(1 + k, D)`` pooled features (whole image first, then k crops) and the crops' ``(k,)`` nudity
    scores -> the ``(2D,)`` probe input: whole image, then the top-scored crop; with ``outer`` (``(D,)``,
    the outer crop's features) the ``(3D,)`` input of a three-block probe, ``outer`` last."""
    pooled = np.asarray(pooled)
    top = 1 + int(np.argmax(crop_scores)) if len(crop_scores) else 0
    blocks = [pooled[0], pooled[top]] + ([np.asarray(outer, pooled.dtype).ravel()] if outer is not None else [])
    return np.concatenate(blocks)

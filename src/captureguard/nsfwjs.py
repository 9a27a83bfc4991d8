"""nsfwjs InceptionV3 (npm ``nsfwjs@4.3.0``, MIT) as a whole-image nudity classifier.

The weights (89 MB as float32 ONNX) are not in the repository: ``make nsfwjs-model`` converts
them from the npm package with ``tools/nsfwjs/`` into the model cache
(``$CAPTUREGUARD_MODEL_DIR``, default ``~/.cache/captureguard/models``). When the file is
missing, building this detector raises :class:`~captureguard.errors.ModelMissingError`, so a
checker configured with it fails closed at start-up instead of running without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from captureguard.detection import Detections
from captureguard.errors import DetectionError, ModelMissingError
from captureguard.frame import Frame
from captureguard.runtime import OnnxModel

NSFWJS_MODEL_FILE = "nsfwjs_inception_v3.onnx"
#: Output classes of the model, in order.
NSFWJS_CLASSES: tuple[str, ...] = ("Drawing", "Hentai", "Neutral", "Porn", "Sexy")
#: Classes whose probabilities add up to the reported nudity probability.
NSFWJS_NUDE: tuple[int, ...] = (1, 3)


def model_cache_dir() -> Path:
    """Where built (not committed) model files live: ``$CAPTUREGUARD_MODEL_DIR`` or ``~/.cache/captureguard/models``."""
    env = os.environ.get("CAPTUREGUARD_MODEL_DIR")
    return Path(env) if env else Path.home() / ".cache" / "captureguard" / "models"


def nsfwjs_model_path() -> Path:
    """Path of the converted nsfwjs model.

    Raises:
        ModelMissingError: it has not been built.
    """
    path = model_cache_dir() / NSFWJS_MODEL_FILE
    if not path.is_file():
        raise ModelMissingError(
            f"nsfwjs model not found at {path}: build it from the npm package with `make nsfwjs-model` "
            "(needs node/npm once), or set CAPTUREGUARD_MODEL_DIR to the folder that holds it"
        )
    return path


def nsfwjs_input(bgr: np.ndarray) -> np.ndarray:
    """``(H, W, 3) uint8`` BGR -> ``(1, 299, 299, 3) float32`` RGB in ``[0, 1]`` (bilinear resize)."""
    small = cv2.resize(np.ascontiguousarray(bgr), (299, 299), interpolation=cv2.INTER_LINEAR)
    out = np.empty((1, 299, 299, 3), np.float32)
    np.multiply(small[:, :, ::-1], np.float32(1 / 255), out=out[0], casting="unsafe")
    return out


@dataclass
class NsfwjsDetector:
    """nsfwjs InceptionV3: one IMAGE_NSFW detection, score = P(Hentai) + P(Porn)."""

    model: OnnxModel
    name: str = "nsfwjs"

    def detect(self, frame: Frame) -> Detections:
        """Return one whole-image detection for ``frame``."""
        probs = self.probabilities(frame.bgr)
        return Detections.whole_image(
            float(probs[list(NSFWJS_NUDE)].sum()), height=frame.height, width=frame.width, model=self.name
        )

    def probabilities(self, bgr: np.ndarray) -> np.ndarray:
        """``(5,)`` class probabilities (:data:`NSFWJS_CLASSES`) of a BGR image."""
        out = self.model.run(nsfwjs_input(bgr))
        if out.shape != (1, 5) or not np.isfinite(out).all():
            raise DetectionError(f"nsfwjs returned {out.shape} / non-finite output, expected 5 probabilities")
        return np.asarray(out[0], np.float64)


def nsfwjs_detector(*, threads: int = 2) -> NsfwjsDetector:
    """The nsfwjs detector from the model cache (see :func:`nsfwjs_model_path`)."""
    if not (path := nsfwjs_model_path()).is_file():  # pragma: no cover - raised above
        raise ModelMissingError(str(path))
    return NsfwjsDetector(OnnxModel(path, threads=threads))

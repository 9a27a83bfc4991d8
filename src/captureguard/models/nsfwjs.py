"""nsfwjs InceptionV3 (npm ``nsfwjs@4.3.0``, MIT) as a whole-image nudity classifier.

The weights (89 MB as float32 ONNX) are not in the repository: ``make nsfwjs-model`` converts
them from the npm package with ``tools/nsfwjs/`` into the model cache
(``$CAPTUREGUARD_MODEL_DIR``, default ``~/.cache/captureguard/models``). When the file is
missing, building this detector raises :class:`~captureguard.errors.ModelMissingError`, so a
checker configured with it fails closed at start-up instead of running without it.

With a :class:`~captureguard.core.probe.LinearProbe` on its 2,048-d embedding (the photo path since
v2.8, ``data/probe_nsfwjs_photo.json``), the same pass also reports ``NSFWJS_PROBE``: nsfwjs' own
classes rank the dev set's nude artworks poorly, its embedding read by a probe fitted on them does not.

With ``crop = "picture"`` (an option, measured for the live path and not shipped) it reads
the picture locator's outer crop instead of the whole frame, and reports only ``NSFWJS_PICTURE``,
its probe on that crop: it runs after the detector that locates the picture (``nsfw_probe`` with a
locator reports ``PICTURE_OUTER``), on what that found (:meth:`NsfwjsDetector.detect_after`; the
checker orders it). Without a located picture it reads the whole frame, as the live probes do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captureguard.core.detection import (
    IMAGE_CLASS_LABELS,
    IMAGE_NSFW,
    NSFWJS_PICTURE,
    NSFWJS_PROBE,
    Detections,
)
from captureguard.core.frame import Frame
from captureguard.core.probe import LinearProbe
from captureguard.core.region import picture_box, pixel_window
from captureguard.errors import ConfigError, DetectionError, ModelMissingError
from captureguard.models.letterbox import resize
from captureguard.models.runtime import OnnxModel, built_model

NSFWJS_MODEL_FILE = "nsfwjs_inception_v3.onnx"
#: Output classes of the model, in order.
NSFWJS_CLASSES: tuple[str, ...] = ("Drawing", "Hentai", "Neutral", "Porn", "Sexy")
#: Classes whose probabilities add up to the reported nudity probability.
NSFWJS_NUDE: tuple[int, ...] = (1, 3)
#: Indices of Drawing, Neutral and Sexy: reported as IMAGE_DRAWING, IMAGE_NEUTRAL, IMAGE_SEXY.
NSFWJS_OTHER: tuple[int, ...] = (0, 2, 4)
#: Length of the embedding (the input of the model's last layer) that a probe reads.
NSFWJS_EMBEDDING = 2048
#: What an nsfwjs detector reads: the whole frame, or the picture locator's outer crop.
NSFWJS_CROPS = ("", "picture")


def nsfwjs_model_path() -> Path:
    """Path of the converted nsfwjs model.

    Raises:
        ModelMissingError: it has not been built.
    """
    return built_model(
        NSFWJS_MODEL_FILE,
        what="nsfwjs model",
        build="from the npm package with `make nsfwjs-model` (needs node/npm once)",
    )


def nsfwjs_input(bgr: np.ndarray) -> np.ndarray:
    """``(H, W, 3) uint8`` BGR -> ``(1, 299, 299, 3) float32`` RGB in ``[0, 1]`` (bilinear resize)."""
    small = resize(np.ascontiguousarray(bgr), (299, 299))
    out = np.empty((1, 299, 299, 3), np.float32)
    np.multiply(small[:, :, ::-1], np.float32(1 / 255), out=out[0], casting="unsafe")
    return out


def picture_crop(bgr: np.ndarray, box: tuple[float, float, float, float] | None) -> np.ndarray:
    """``bgr`` cut to ``box`` (frame pixels, clipped to the frame: ``core.region.pixel_window``), or
    the whole image without one: what a ``crop = "picture"`` detector reads (the fitting tool cuts
    the same way)."""
    if box is None:
        return bgr
    x0, y0, x1, y1 = pixel_window(box, width=bgr.shape[1], height=bgr.shape[0])
    return bgr[y0:y1, x0:x1]


def nsfwjs_detections(probs: np.ndarray, *, height: int, width: int, model: str = "nsfwjs") -> Detections:
    """nsfwjs' 5 class probabilities -> IMAGE_NSFW (Hentai + Porn), IMAGE_DRAWING, IMAGE_NEUTRAL, IMAGE_SEXY."""
    box = np.tile(np.array([[0.0, 0.0, width, height]], np.float32), (4, 1))
    scores = [float(probs[list(NSFWJS_NUDE)].sum()), *(float(probs[i]) for i in NSFWJS_OTHER)]
    return Detections.from_arrays(box, np.clip(scores, 0.0, 1.0), [IMAGE_NSFW, *IMAGE_CLASS_LABELS], model=model)


@dataclass
class NsfwjsDetector:
    """nsfwjs InceptionV3: one IMAGE_NSFW detection, score = P(Hentai) + P(Porn); with ``probe``,
    also ``NSFWJS_PROBE``, the probe's probability on the image's embedding (the same pass).

    With ``crop = "picture"``: only ``NSFWJS_PICTURE``, ``probe`` on the embedding of the picture
    locator's outer crop (:meth:`detect_after`); :attr:`after` is then True.
    """

    model: OnnxModel
    name: str = "nsfwjs"
    probe: LinearProbe | None = None
    crop: str = ""

    def __post_init__(self) -> None:
        if self.probe is not None and self.probe.size != NSFWJS_EMBEDDING:
            raise ConfigError(
                f"nsfwjs probe {self.probe.version} reads {self.probe.size} features;"
                f" the embedding has {NSFWJS_EMBEDDING}"
            )
        if self.crop not in NSFWJS_CROPS:
            raise ConfigError(f"nsfwjs crop must be one of {NSFWJS_CROPS}, got {self.crop!r}")
        if self.crop and self.probe is None:
            raise ConfigError(f"nsfwjs on the {self.crop} crop reports only its probe: configure probe =")

    @property
    def after(self) -> bool:
        """It reads what the other detectors of its set found (:meth:`detect_after`): run it after them."""
        return bool(self.crop)

    def detect(self, frame: Frame) -> Detections:
        """IMAGE_NSFW (P(Hentai) + P(Porn)) plus IMAGE_DRAWING / IMAGE_NEUTRAL / IMAGE_SEXY, and
        NSFWJS_PROBE with a probe. With a crop: :meth:`detect_after` with nothing found (the whole
        frame)."""
        if self.crop:
            return self.detect_after(frame, Detections.empty())
        probs, emb = self.outputs(frame.bgr)
        found = nsfwjs_detections(probs, height=frame.height, width=frame.width, model=self.name)
        if self.probe is None:
            return found
        return Detections.concat([found, self._probe(emb, frame, NSFWJS_PROBE)])

    def detect_after(self, frame: Frame, found: Detections) -> Detections:
        """``NSFWJS_PICTURE``: the probe on the outer crop of the picture in ``found`` (its
        ``PICTURE_OUTER`` box; the highest-scored if several), or on the whole frame without one.
        A detector without a crop ignores ``found`` (:meth:`detect`)."""
        if not self.crop:
            return self.detect(frame)
        return self._probe(self.outputs(picture_crop(frame.bgr, picture_box(found)))[1], frame, NSFWJS_PICTURE)

    def _probe(self, emb: np.ndarray, frame: Frame, label: str) -> Detections:
        assert self.probe is not None  # callers check
        if emb.shape != (NSFWJS_EMBEDDING,):
            raise DetectionError(f"nsfwjs model gave a {emb.shape} embedding; its probe needs ({NSFWJS_EMBEDDING},)")
        p = self.probe.probability(emb)
        return Detections.whole_image(p, height=frame.height, width=frame.width, model=self.name, label=label)

    def probabilities(self, bgr: np.ndarray) -> np.ndarray:
        """``(5,)`` class probabilities (:data:`NSFWJS_CLASSES`) of a BGR image."""
        return self.outputs(bgr)[0]

    def outputs(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(5,)`` class probabilities and the ``(2048,)`` pooled embedding of a BGR image."""
        outs = self.model.run_all(nsfwjs_input(bgr))
        probs, emb = outs[0], outs[1] if len(outs) > 1 else np.zeros((1, 0), np.float32)
        if probs.shape != (1, 5) or not np.isfinite(probs).all() or not np.isfinite(emb).all():
            raise DetectionError(f"nsfwjs returned {probs.shape} / non-finite output, expected 5 probabilities")
        return np.asarray(probs[0], np.float64), np.asarray(emb[0], np.float32)


#: ``(model file, threads)`` -> its session, shared by every nsfwjs detector of the process
_SESSIONS: dict[tuple[Path, int], OnnxModel] = {}
_SESSIONS_LOCK = threading.Lock()


def nsfwjs_session(path: Path, *, threads: int = 2) -> OnnxModel:
    """One onnxruntime session per model file and thread count, shared: the photo set's nsfwjs (the
    whole image) and the live set's (the located picture) read the same 89 MB model, and a session
    may run on several threads at once (onnxruntime's ``run`` is thread-safe)."""
    key = (path.resolve(), threads)
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            _SESSIONS[key] = OnnxModel(path, threads=threads)
        return _SESSIONS[key]


def nsfwjs_detector(*, threads: int = 2, probe: LinearProbe | str | None = None, crop: str = "") -> NsfwjsDetector:
    """The nsfwjs detector from the model cache (see :func:`nsfwjs_model_path`); ``probe``: a
    :class:`LinearProbe` on its embedding, or its name (:meth:`LinearProbe.named`: a shipped file
    name such as ``probe_nsfwjs_photo.json``, or a path); ``crop``: ``"picture"`` reads the picture
    locator's outer crop (:meth:`NsfwjsDetector.detect_after`).

    Raises:
        ModelMissingError: the model has not been built (``make nsfwjs-model``).
        ConfigError: the probe cannot be loaded or does not fit the embedding.
    """
    if isinstance(probe, str):
        probe = LinearProbe.named(probe)
    if not (path := nsfwjs_model_path()).is_file():  # pragma: no cover - raised above
        raise ModelMissingError(str(path))
    return NsfwjsDetector(nsfwjs_session(path, threads=threads), probe=probe, crop=crop)

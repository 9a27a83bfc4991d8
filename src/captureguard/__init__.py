"""captureguard: on-device AI that stops a camera from recording naked people.

The path of one frame::

    Source -> Frame -> Detector.detect -> Detections -> FusionModel.assess -> Assessment
           -> policy.decide -> Verdict -> Guard -> AllowedPhoto/AllowedFrame -> Sink
"""

from captureguard.allowed import AllowedFrame, AllowedPhoto
from captureguard.check import Checker
from captureguard.detection import Detection, Detections
from captureguard.errors import (
    BadInputError,
    CaptureGuardError,
    ConfigError,
    DetectionError,
    ImageTooLargeError,
    ModelMissingError,
)
from captureguard.frame import Frame
from captureguard.photo import PhotoGuard, PhotoResult
from captureguard.policy import Profile, load_profiles
from captureguard.store import PhotoStore
from captureguard.verdict import Decision, Reason, Verdict

__version__ = "0.1.0"

__all__ = [
    "AllowedFrame",
    "AllowedPhoto",
    "BadInputError",
    "CaptureGuardError",
    "Checker",
    "ConfigError",
    "Decision",
    "Detection",
    "DetectionError",
    "Detections",
    "Frame",
    "ImageTooLargeError",
    "ModelMissingError",
    "PhotoGuard",
    "PhotoResult",
    "PhotoStore",
    "Profile",
    "Reason",
    "Verdict",
    "__version__",
    "load_profiles",
]

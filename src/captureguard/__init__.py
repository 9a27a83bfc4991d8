"""captureguard: on-device AI that stops a camera from recording naked people.

The path of one frame::

    Source -> Frame -> Detector.detect -> Detections -> FusionModel.assess -> Assessment
           -> policy.decide -> Verdict -> Guard -> AllowedPhoto/AllowedFrame -> Sink
"""

from captureguard._version import __version__
from captureguard.core.detection import Detection, Detections
from captureguard.core.frame import Frame
from captureguard.core.policy import Profile, load_profiles
from captureguard.core.verdict import Decision, Reason, Verdict
from captureguard.errors import (
    BadInputError,
    CaptureGuardError,
    ConfigError,
    DetectionError,
    ImageTooLargeError,
    ModelMissingError,
)
from captureguard.guard.allowed import AllowedFrame, AllowedPhoto
from captureguard.guard.check import Checker
from captureguard.guard.photo import PhotoGuard, PhotoResult
from captureguard.sinks.photo_store import PhotoStore

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

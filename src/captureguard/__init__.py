"""captureguard: on-device AI that stops a camera from recording naked people.

Guard a camera (or a file) into a recording; only frames checked safe, or covered by safe checks
on both sides, reach the sink, and a blocked stretch becomes placeholders::

    from captureguard import Checker, StreamGuard, StreamSettings, open_source, run_guarded
    from captureguard.sinks.mp4 import Mp4Sink

    source = open_source(0)  # a camera index, an RTSP/HTTP URL or a video file
    guard = StreamGuard(Checker.create(mode="live"), StreamSettings(schedule="latest" if source.live else "lockstep"))
    report = run_guarded(source, guard, [Mp4Sink("guarded.mp4", fps=source.fps)])
    print(report.stats["released"], "released,", report.stats["placeholders"], "withheld")

A photo is checked at full resolution and written only if allowed (a blocked one never touches
disk): ``PhotoGuard(Checker.create(), PhotoStore("DCIM")).save(frame, "IMG_0001.jpg")``.

The layers (imports point one way; docs/architecture.md has the map):
``core`` (numpy + stdlib: frames, detections, fusion, policy, verdicts, the stream ledger) ->
``models`` (onnxruntime adapters) -> ``guard`` (checker, deadline, photo and stream guards) ->
``sources`` / ``sinks`` -> ``pipeline`` (the one pump) -> ``evaluation``, ``cli``, ``web``.
"""

from captureguard._version import __version__
from captureguard.core.detection import Detection, Detections
from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
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
from captureguard.guard.allowed import AllowedFrame, AllowedPhoto, Release
from captureguard.guard.check import Checker
from captureguard.guard.photo import PhotoGuard, PhotoResult
from captureguard.guard.stream import StreamGuard
from captureguard.pipeline import RunReport, run_guarded
from captureguard.sinks import Sink
from captureguard.sinks.photo_store import PhotoStore
from captureguard.sources import Source
from captureguard.sources.video import open_source

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
    "Release",
    "RunReport",
    "Sink",
    "Source",
    "StreamGuard",
    "StreamSettings",
    "Verdict",
    "__version__",
    "load_profiles",
    "open_source",
    "run_guarded",
]

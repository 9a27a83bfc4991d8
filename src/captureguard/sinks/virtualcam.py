"""Hand released frames to other apps as a virtual camera (optional ``pyvirtualcam`` extra).

Video-call and streaming apps then see only what the guard let through. On Linux this needs
the v4l2loopback kernel module; on Windows/macOS the OBS virtual camera. Install with
``pip install 'captureguard[virtualcam]'``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, Protocol

import cv2
import numpy as np

from captureguard.errors import ConfigError
from captureguard.guard.allowed import AllowedFrame
from captureguard.sinks import require_allowed

logger = logging.getLogger(__name__)

_LOOPBACK_SYSFS = "/sys/devices/virtual/video4linux"
_LOOPBACK_FIX = "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=captureguard"


class VirtualCamera(Protocol):
    """The part of ``pyvirtualcam.Camera`` used here (tests inject a fake)."""

    def send(self, frame: np.ndarray) -> None: ...
    def close(self) -> None: ...


#: Builds a camera for ``(width, height, fps)`` that accepts ``(height, width, 3) uint8`` RGB.
CameraFactory = Callable[[int, int, float], VirtualCamera]


class VirtualCamSink:
    """Sends released frames to a virtual camera device as RGB.

    Attributes:
        width: output width in pixels; frames of another size are resized to it.
        height: output height in pixels.
        fps: the rate the device advertises; the sink does not pace (frames go out as written).
        frames_sent: frames sent so far.
    """

    def __init__(self, width: int, height: int, fps: float, *, camera_factory: CameraFactory | None = None) -> None:
        """Check a virtual camera can be opened, and open it (or, for a 0 x 0 size, wait for the first frame).

        Args:
            width: output width; 0 (with ``height`` 0) takes the first frame's size.
            height: output height; see ``width``.
            fps: advertised frame rate (> 0).
            camera_factory: builds the camera; default ``pyvirtualcam.Camera`` with RGB frames.

        Raises:
            ValueError: a negative size, only one side 0, or a non-positive rate.
            ConfigError: pyvirtualcam is not installed, no loopback device exists, or the
                device cannot be opened.
        """
        if width < 0 or height < 0 or (width == 0) != (height == 0) or not fps > 0:
            raise ValueError(f"width, height and fps must be positive (or a 0 x 0 size), got {width}, {height}, {fps}")
        self.width, self.height, self.fps = width, height, float(fps)
        self.frames_sent = 0
        self._factory = camera_factory or _pyvirtualcam_factory()  # fails now, not at the first frame
        self._camera = self._factory(width, height, self.fps) if width else None
        self._closed = False

    @classmethod
    def for_stream(cls, fps: float, *, camera_factory: CameraFactory | None = None) -> VirtualCamSink:
        """A sink whose device takes the size of the first frame written (availability checked now)."""
        return cls(0, 0, fps, camera_factory=camera_factory)

    def write(self, item: AllowedFrame) -> None:
        """Send one frame: ``(H, W, 3) uint8`` BGR in, resized to the device size, sent as RGB.

        Raises:
            TypeError: ``item`` is not an :class:`AllowedFrame`.
            ValueError: the sink is closed.
        """
        bgr = require_allowed(item, "VirtualCamSink").frame.bgr
        if self._closed:
            raise ValueError("VirtualCamSink is closed; open a new one")
        if self._camera is None:
            self.height, self.width = bgr.shape[:2]
            self._camera = self._factory(self.width, self.height, self.fps)
        if bgr.shape[:2] != (self.height, self.width):
            bgr = cv2.resize(bgr, (self.width, self.height), interpolation=cv2.INTER_AREA)
        self._camera.send(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        self.frames_sent += 1

    def close(self) -> None:
        """Release the virtual camera (idempotent)."""
        if not self._closed:
            self._closed = True
            if self._camera is not None:
                self._camera.close()


def _pyvirtualcam_factory() -> CameraFactory:
    """``pyvirtualcam.Camera`` in RGB mode, after checking it and a device are available."""
    try:
        pyvirtualcam: Any = importlib.import_module("pyvirtualcam")
    except ImportError as exc:
        raise ConfigError(
            "virtual camera output needs pyvirtualcam, which is not installed; pip install 'captureguard[virtualcam]'"
        ) from exc
    if sys.platform.startswith("linux") and not _has_loopback_device():
        raise ConfigError(f"no v4l2loopback virtual camera device exists; create one with: {_LOOPBACK_FIX}")

    def factory(width: int, height: int, fps: float) -> VirtualCamera:
        try:
            camera: VirtualCamera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB)
        except RuntimeError as exc:  # pyvirtualcam's error for a missing or busy device
            raise ConfigError(f"cannot open the virtual camera ({exc}); check the device: {_LOOPBACK_FIX}") from exc
        logger.info("virtual camera %s opened (%dx%d @ %g fps)", getattr(camera, "device", "?"), width, height, fps)
        return camera

    return factory


def _has_loopback_device() -> bool:
    """True when a v4l2loopback device is loaded (its devices live under the virtual sysfs tree)."""
    try:
        return any(name.startswith("video") for name in os.listdir(_LOOPBACK_SYSFS))
    except OSError:
        return False

"""Viewfinder sinks: an OpenCV window, or a no-op counter for machines without a display."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any, Protocol, cast

import cv2

from captureguard.errors import ConfigError
from captureguard.guard.allowed import AllowedFrame
from captureguard.sinks import require_allowed

logger = logging.getLogger(__name__)


class Gui(Protocol):
    """The part of OpenCV's HighGUI used here (tests pass a fake)."""

    def imshow(self, winname: str, mat: Any) -> None: ...
    def waitKey(self, delay: int) -> int: ...  # noqa: N802 - OpenCV's name
    def destroyWindow(self, winname: str) -> None: ...  # noqa: N802 - OpenCV's name


class PreviewSink:
    """Shows released frames in a desktop window (``cv2.imshow``).

    Attributes:
        title: the window title.
        frames_shown: frames shown so far.
    """

    def __init__(
        self, title: str = "captureguard", *, gui: Gui | None = None, on_key: Callable[[str], None] | None = None
    ) -> None:
        """Check a window can be opened.

        Args:
            title: window title.
            gui: HighGUI implementation; default ``cv2`` after checking a display exists.
            on_key: called with the character of each key pressed in the window (e.g. ``"p"``).

        Raises:
            ConfigError: no display, or OpenCV was built without GUI support
                (``opencv-python-headless``).
        """
        if gui is None:
            problem = _gui_problem()
            if problem:
                raise ConfigError(
                    f"cannot open preview window {title!r}: {problem}; --preview needs a desktop and OpenCV with "
                    "its GUI: pip uninstall -y opencv-python-headless && pip install opencv-python "
                    "(captureguard installs the headless build); or leave out --preview"
                )
            gui = cast(Gui, cv2)
        self.title = title
        self.frames_shown = 0
        self._gui: Gui = gui
        self._on_key = on_key
        self._closed = False

    def write(self, item: AllowedFrame) -> None:
        """Show one frame (``(H, W, 3) uint8`` BGR, as OpenCV expects).

        Raises:
            TypeError: ``item`` is not an :class:`AllowedFrame`.
        """
        frame = require_allowed(item, "PreviewSink").frame
        if self._closed:
            return
        self._gui.imshow(self.title, frame.bgr)
        key = self._gui.waitKey(1)  # also lets HighGUI paint the window
        self.frames_shown += 1
        if key >= 0 and self._on_key is not None:
            self._on_key(chr(key & 0xFF))

    def close(self) -> None:
        """Close the window (idempotent)."""
        if not self._closed:
            self._closed = True
            self._gui.destroyWindow(self.title)


class HeadlessPreview:
    """A preview for machines without a display: accepts released frames and counts them.

    Attributes:
        frames_shown: frames received.
        closed: True after :meth:`close`.
    """

    def __init__(self) -> None:
        self.frames_shown = 0
        self.closed = False

    def write(self, item: AllowedFrame) -> None:
        """Count one frame.

        Raises:
            TypeError: ``item`` is not an :class:`AllowedFrame`.
        """
        require_allowed(item, "HeadlessPreview")
        self.frames_shown += 1

    def close(self) -> None:
        """Mark closed (idempotent)."""
        self.closed = True


def _gui_problem() -> str:
    """Why no window can be opened here ("" when one can)."""
    if _opencv_gui_backend() == "NONE":
        return "this OpenCV build has no GUI support (opencv-python-headless)"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return ""


def _opencv_gui_backend() -> str:
    """The ``GUI:`` line of OpenCV's build information (``NONE`` for headless wheels)."""
    for line in cv2.getBuildInformation().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "GUI":
            return value.strip() or "NONE"
    return "unknown"

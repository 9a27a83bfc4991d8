"""Shipped test doubles: a scripted detector, a list source and a recording sink (fakes over mocks).

Integrators test their own code against these, as the project's tests do (starlette ships its
test client the same way). They import only numpy, the standard library and captureguard's own
types, so importing them is cheap::

    from captureguard.testing import FakeDetector, Hang, ListSource, MemorySink, region, whole

    detector = FakeDetector([whole(0.01), region("FEMALE_BREAST_EXPOSED", 0.9), RuntimeError("boom")])

The fake camera and server harness used by the browser tests and ``bench/web.py`` live in
:mod:`captureguard.testing.web_harness` (Chromium's fake camera, the ``serve`` subprocess) and
:mod:`captureguard.testing.y4m` (the camera file); they need OpenCV, so they are not imported here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from captureguard.core.detection import Detections
from captureguard.core.frame import Frame
from captureguard.guard.allowed import AllowedFrame

__all__ = ["FakeDetector", "Hang", "ListSource", "MemorySink", "Step", "region", "whole"]


def region(
    label: str, score: float, box: tuple[float, float, float, float] = (0, 0, 10, 10), model: str = "fake"
) -> Detections:
    """One region detection.

    Args:
        label: a body-part label of the vocabulary (e.g. ``"FEMALE_BREAST_EXPOSED"``).
        score: confidence in ``[0, 1]``.
        box: ``(x1, y1, x2, y2)`` in frame pixels.
        model: the model name the detection cites.

    Returns:
        A :class:`~captureguard.core.detection.Detections` with one row.
    """
    return Detections.from_arrays(np.array([box], np.float32), np.array([score], np.float32), [label], model=model)


def whole(score: float, model: str = "fake_cls") -> Detections:
    """A whole-image classifier score (``IMAGE_NSFW``) on a 100x100 frame.

    Args:
        score: nudity probability in ``[0, 1]``.
        model: the model name the detection cites.
    """
    return Detections.whole_image(score, height=100, width=100, model=model)


@dataclass
class Hang:
    """A script step that blocks the detector until ``release`` is set (or ``seconds`` pass).

    After the wait the step returns no detections; a caller with a deadline has long given up.

    Attributes:
        seconds: the longest wait.
        release: set it to end the wait early (e.g. at the end of a test).
    """

    seconds: float = 5.0
    release: threading.Event = field(default_factory=threading.Event)


#: One call's outcome: detections to return, an exception to raise, or a hang.
Step = Detections | Exception | Hang


@dataclass
class FakeDetector:
    """A detector that plays a script: one step per :meth:`detect` call; the last step repeats.

    Satisfies :class:`~captureguard.models.base.Detector`.

    Attributes:
        script: the steps (:data:`Step`), in call order; must not be empty.
        name: the detector name.
        seen: ``Frame.index`` of every frame passed to :meth:`detect`, in call order.
    """

    script: Sequence[Step]
    name: str = "fake"
    seen: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.script:
            raise ValueError("FakeDetector needs at least one script step (Detections, an exception or Hang)")

    def detect(self, frame: Frame) -> Detections:
        """Play the next step for ``frame``.

        Raises:
            Exception: the step's exception, when the step is one.
        """
        step = self.script[min(len(self.seen), len(self.script) - 1)]
        self.seen.append(frame.index)
        if isinstance(step, Exception):
            raise step
        if isinstance(step, Hang):
            step.release.wait(step.seconds)
            return Detections.empty()
        return step


@dataclass
class ListSource:
    """A source that plays a list of frames, and can break off like a failing camera.

    Satisfies :class:`~captureguard.sources.Source`.

    Attributes:
        frames: the frames, in order.
        fps: nominal frames per second.
        live: whether it claims to be a live source.
        name: a short description.
        fail_after: raise ``fail_with`` instead of yielding frame number ``fail_after`` (0-based).
        fail_with: the exception to raise (nothing is raised when None).
        closed: set by :meth:`close`.
    """

    frames: Sequence[Frame]
    fps: float = 30.0
    live: bool = False
    name: str = "list"
    fail_after: int | None = None
    fail_with: Exception | None = None
    closed: bool = False

    def __iter__(self) -> Iterator[Frame]:
        """Yield the frames; raise ``fail_with`` at position ``fail_after``."""
        for i, frame in enumerate(self.frames):
            if self.fail_after is not None and i == self.fail_after and self.fail_with is not None:
                raise self.fail_with
            yield frame

    def close(self) -> None:
        """Mark closed (idempotent)."""
        self.closed = True


class MemorySink:
    """A sink that keeps every frame it receives, in order (tests, demos).

    Satisfies :class:`~captureguard.sinks.Sink`; like every sink it accepts only guard-made
    :class:`~captureguard.guard.allowed.AllowedFrame` items.

    Attributes:
        items: the frames received.
        closed: set by :meth:`close`.
    """

    def __init__(self) -> None:
        self.items: list[AllowedFrame] = []
        self.closed = False

    def write(self, item: AllowedFrame) -> None:
        """Record one frame.

        Raises:
            TypeError: ``item`` is not an :class:`~captureguard.guard.allowed.AllowedFrame`.
        """
        # The same run-time half of the type rule as captureguard.sinks.require_allowed (not
        # imported: captureguard.sinks re-exports this class, and the import must point one way).
        if not isinstance(item, AllowedFrame):
            raise TypeError(f"MemorySink accepts only AllowedFrame from the stream guard, got {type(item).__name__}")
        self.items.append(item)

    def close(self) -> None:
        """Mark closed (idempotent)."""
        self.closed = True

"""Fakes over mocks: a scripted detector and helpers to build detections."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from captureguard.core.detection import Detections
from captureguard.core.frame import Frame


def region(
    label: str, score: float, box: tuple[float, float, float, float] = (0, 0, 10, 10), model: str = "fake"
) -> Detections:
    """One region detection."""
    return Detections.from_arrays([box], [score], [label], model=model)


def whole(score: float, model: str = "fake_cls") -> Detections:
    """A whole-image classifier score on a 100x100 frame."""
    return Detections.whole_image(score, height=100, width=100, model=model)


@dataclass
class Hang:
    """A script step that blocks until released (or for ``seconds``)."""

    seconds: float = 5.0
    release: threading.Event = field(default_factory=threading.Event)


Step = Detections | Exception | Hang


@dataclass
class FakeDetector:
    """Plays a script: one step per call (the last step repeats). Records the frames it saw."""

    script: Sequence[Step]
    name: str = "fake"
    seen: list[int] = field(default_factory=list)

    def detect(self, frame: Frame) -> Detections:
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
    """A source playing a list of frames; raises ``fail_with`` after ``fail_after`` frames."""

    frames: Sequence[Frame]
    fps: float = 30.0
    live: bool = False
    name: str = "list"
    fail_after: int | None = None
    fail_with: Exception | None = None
    closed: bool = False

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i, f in enumerate(self.frames):
            if self.fail_after is not None and i == self.fail_after and self.fail_with is not None:
                raise self.fail_with
            yield f

    def close(self) -> None:
        self.closed = True

"""Sinks: everything that shows, keeps or hands on frames. Each accepts only guard-made frames."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from captureguard.guard.allowed import AllowedFrame

# The recording sink now lives with the other shipped test doubles; this name stays for old imports.
from captureguard.testing import MemorySink

__all__ = ["MemorySink", "Sink", "require_allowed"]


@runtime_checkable
class Sink(Protocol):
    """Receives the frames the stream guard let through, in order."""

    def write(self, item: AllowedFrame) -> None:
        """Show, record or hand on one frame.

        Raises:
            TypeError: ``item`` is not an :class:`AllowedFrame`.
        """
        ...

    def close(self) -> None:
        """Finish (finalise files, release devices); idempotent."""
        ...


def require_allowed(item: object, sink: str) -> AllowedFrame:
    """Raise ``TypeError`` unless ``item`` is guard-made (the run-time half of the type rule)."""
    if not isinstance(item, AllowedFrame):
        raise TypeError(f"{sink} accepts only AllowedFrame from the stream guard, got {type(item).__name__}")
    return item

"""The one pump: Source -> StreamGuard -> sinks, with a writer thread and a recording policy.

Every stream in the project goes through :func:`run_guarded` (files, cameras, the web viewfinder,
the evaluation). The reading loop submits frames; a writer thread hands each frame's
:class:`~captureguard.guard.allowed.AllowedFrame` to every sink as soon as the guard decides it
(withheld frames as placeholders, or not at all with ``withheld="drop"``). Errors anywhere end
the run cleanly: the guard is finished (frames not yet decided become placeholders), sinks are
closed (files finalised with only what was let through), and the error is re-raised in the caller.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from captureguard.core.frame import Frame
from captureguard.guard.allowed import AllowedFrame
from captureguard.guard.stream import StreamGuard
from captureguard.sinks import Sink
from captureguard.sources import Source

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What a guarded run did (no pixels).

    Attributes:
        source: the source's name.
        fps: the source's nominal fps.
        written: frames handed to the sinks (released + placeholders).
        recorded: frames handed to the recorders (released + placeholders; ``run_guarded``'s
            ``recorders``: the same as ``written`` unless the guard holds the recording apart).
        stopped_on_block: the run ended early because ``on_block="stop"`` and a block came.
        stats: the guard's counters (:meth:`StreamStats.to_dict`).
        error: the error that ended the run early, or "".
        blocks: ``(frame index, timestamp_s, reasons)`` of each check that blocked (or warned), in order.
    """

    source: str
    fps: float
    written: int = 0
    recorded: int = 0
    stopped_on_block: bool = False
    stats: dict[str, float | int] = field(default_factory=dict)
    error: str = ""
    blocks: list[tuple[int, float, list[str]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "fps": self.fps,
            "written": self.written,
            "recorded": self.recorded,
            "stopped_on_block": self.stopped_on_block,
            "error": self.error,
            "stats": self.stats,
            "blocks": [{"frame": i, "time_s": round(t, 3), "reasons": r} for i, t, r in self.blocks],
        }


OnBlock = Literal["placeholder", "stop"]
"""At a block: keep going (withheld frames as placeholders), or stop and finalise the sinks."""


Deliver = Callable[[AllowedFrame], bool]
"""Hands one frame to its sinks; False: the run stops here (``on_block="stop"``)."""


class _Writer(threading.Thread):
    """Writes the guard's output to the sinks (and its recording output, held apart, to the
    recorders); its exception is re-raised by :meth:`stop`."""

    def __init__(self, guard: StreamGuard, deliver: Deliver, record: Deliver | None) -> None:
        super().__init__(name="captureguard-writer", daemon=True)
        self._guard, self._deliver, self._record = guard, deliver, record
        self._stopping = threading.Event()
        self.error: BaseException | None = None
        self.wants_stop = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                if not _pump(self._guard, self._deliver, self._record, timeout=0.05):
                    self.wants_stop.set()
                    return
        except BaseException as exc:
            self.error = exc
            self.wants_stop.set()

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        if self.error is not None:
            raise self.error


def _pump(guard: StreamGuard, deliver: Deliver, record: Deliver | None, *, timeout: float) -> bool:
    """Hand what the guard has decided to the sinks, then the recording's to the recorders (waits up
    to ``timeout`` s for the live output); False when a delivery stopped the run."""
    if not all(deliver(item) for item in guard.collect(timeout=timeout)):
        return False
    return record is None or all(record(item) for item in guard.collect_recording())


def run_guarded(
    source: Source,
    guard: StreamGuard,
    sinks: Sequence[Sink],
    *,
    recorders: Sequence[Sink] = (),
    on_block: OnBlock = "placeholder",
    on_frame: Callable[[Frame], None] | None = None,
    stop: threading.Event | None = None,
    report: RunReport | None = None,
) -> RunReport:
    """Guard a whole source into ``sinks``; returns the report. Sinks are closed at the end.

    Args:
        source: frames to guard.
        guard: a fresh :class:`StreamGuard` (``schedule="latest"`` for a live source, else
            ``"lockstep"``); its ``settings.withheld`` says whether sinks get placeholders.
        sinks: every destination; each receives only :class:`AllowedFrame`.
        recorders: destinations that keep the stream (a recording file): they get the guard's
            recording output when it holds the recording apart (``StreamSettings.record_hold_s``:
            the frames shown just before the stream shut are taken back from it), else the same
            frames as ``sinks``. Counted in ``report.recorded``.
        on_block: ``"placeholder"`` keeps recording with placeholders; ``"stop"`` ends the run at
            the first block (the files keep only what came before it).
        on_frame: called with each frame read, after it was submitted (progress bars, the
            camera's photo trigger: the photo guard then checks that full frame itself).
        stop: set it to end the run early (signal handlers, a UI's stop button).
        report: filled in place if given, so a caller still has the counters when this raises.

    Raises:
        BadInputError: the source broke off (what was let through before is kept and finalised).
        DetectionError: the guard's worker died.
    """
    report = report or RunReport(source.name, source.fps)

    drop = guard.settings.withheld == "drop"
    apart = guard.records_apart  # (with no recorders its recording output is still drained)

    def deliver_to(targets: Sequence[Sink], *, live: bool, recorded: bool) -> Deliver:
        def deliver(item: AllowedFrame) -> bool:
            if on_block == "stop" and item.release.is_block:
                report.stopped_on_block = True
                return False
            if drop and not item.release.released:
                return True  # withheld, and the sinks get nothing for it
            for sink in targets:
                sink.write(item)
            report.written += live
            report.recorded += recorded
            return True

        return deliver

    if apart:
        deliver = deliver_to(sinks, live=True, recorded=False)
        record: Deliver | None = deliver_to(recorders, live=False, recorded=True)
    else:
        deliver, record = deliver_to([*sinks, *recorders], live=True, recorded=bool(recorders)), None
    writer = _Writer(guard, deliver, record)
    writer.start()
    try:
        _read(source, guard, writer, on_frame, stop)
        writer.stop()
        _finish(guard, deliver, record, report)
    except BaseException as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        _wind_down(writer, guard, deliver, record, report)
        raise
    finally:
        report.stats = guard.stats.to_dict()
        report.blocks = list(guard.stats.block_events)
        guard.close()
        source.close()
        _close_all([*sinks, *recorders])
    return report


def _read(
    source: Source,
    guard: StreamGuard,
    writer: _Writer,
    on_frame: Callable[[Frame], None] | None,
    stop: threading.Event | None,
) -> None:
    for frame in source:
        if writer.wants_stop.is_set() or (stop is not None and stop.is_set()):
            return
        guard.submit(frame)
        if on_frame is not None:
            on_frame(frame)


def _finish(
    guard: StreamGuard, deliver: Deliver, record: Deliver | None, report: RunReport, *, timeout_s: float = 30.0
) -> None:
    """End of the source: the guard's last frames to the sinks, then the recording's to the recorders."""
    if report.stopped_on_block or not all(deliver(item) for item in guard.finish(timeout_s=timeout_s)):
        return
    if record is not None:
        for item in guard.collect_recording():
            if not record(item):
                return


def _wind_down(
    writer: _Writer, guard: StreamGuard, deliver: Deliver, record: Deliver | None, report: RunReport
) -> None:
    """After an error: write what was decided before it; nothing undecided is released."""
    try:
        writer.stop()
        _finish(guard, deliver, record, report, timeout_s=5.0)
    except BaseException as exc:  # the first error is the one re-raised
        log.error("while winding down after an error: %r", exc)


def _close_all(sinks: Sequence[Sink]) -> None:
    for sink in sinks:
        try:
            sink.close()
        except Exception as exc:  # close every sink even if one fails
            log.error("closing %s failed: %s", type(sink).__name__, exc)

"""The checker: detectors -> fusion -> policy for one frame, failing closed.

:meth:`Checker.check` never raises for a detector or policy failure and never lets one pass:
an exception becomes ``BLOCK(reason="error")`` and a check that overruns its deadline becomes
``BLOCK(reason="timeout")``, both logged.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from captureguard.core.detection import Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.policy import Profile, decide, load_profiles
from captureguard.core.verdict import Verdict
from captureguard.errors import CaptureGuardError, ConfigError
from captureguard.models.base import Detector, build_detector, load_detector_configs

log = logging.getLogger(__name__)

Mode = Literal["photo", "live"]


@dataclass
class Checker:
    """Checks frames with a set of detectors, a fusion model and a policy profile.

    Args:
        detectors: region detectors and/or whole-image classifiers.
        fusion: the fusion model.
        profile: the policy profile.
        deadline_s: a check that takes longer blocks with reason ``timeout`` (None: no limit).
    """

    detectors: Sequence[Detector]
    fusion: FusionModel
    profile: Profile
    deadline_s: float | None = None
    _worker: _DaemonWorker | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        profile: str = "child",
        mode: Mode = "photo",
        profiles_path: str | Path | None = None,
        detectors_path: str | Path | None = None,
        fusion_path: str | Path | None = None,
        deadline_s: float | None = None,
        threads: int = 2,
    ) -> Checker:
        """Build the shipped configuration for ``mode`` (``photo``: thorough, ``live``: fast).

        Raises:
            ConfigError: unknown profile or invalid configuration files.
            ModelMissingError: a model package is not installed.
        """
        profiles = load_profiles(profiles_path)
        if profile not in profiles:
            raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(profiles)}")
        configs = load_detector_configs(detectors_path)
        if mode not in configs:
            raise ConfigError(f"no [{mode}] detectors configured; found {sorted(configs)}")
        detectors = [build_detector(c, threads=threads) for c in configs[mode]]
        return cls(detectors, FusionModel.load(fusion_path), profiles[profile], deadline_s)

    def detect(self, frame: Frame) -> tuple[Detections, dict[str, float]]:
        """Run every detector; returns the joined detections and ms per detector."""
        parts, timings = [], {}
        for det in self.detectors:
            t0 = time.perf_counter()
            parts.append(det.detect(frame))
            timings[f"detect:{det.name}"] = (time.perf_counter() - t0) * 1e3
        return Detections.concat(parts), timings

    def check(self, frame: Frame) -> Verdict:
        """Decide about one frame. Never raises for detection failures: they block."""
        t0 = time.perf_counter()
        try:
            if self.deadline_s is None:
                verdict = self._check(frame)
            else:
                verdict = self._pool_submit(frame).result(timeout=self.deadline_s)
        except concurrent.futures.TimeoutError:
            log.warning("check of %s exceeded %.0f ms: blocked", frame.source or "frame", self.deadline_s * 1e3)  # type: ignore[operator]
            verdict = Verdict.failure(
                "timeout", f"check took longer than {self.deadline_s} s", profile=self.profile.name
            )
        except Exception as exc:  # fail closed on anything, including bugs
            log.error(
                "check of %s failed, blocked: %s",
                frame.source or "frame",
                exc,
                exc_info=not isinstance(exc, CaptureGuardError),
            )
            verdict = Verdict.failure("error", f"{type(exc).__name__}: {exc}", profile=self.profile.name)
        verdict.timings_ms["total"] = (time.perf_counter() - t0) * 1e3
        return verdict

    def _check(self, frame: Frame) -> Verdict:
        found, timings = self.detect(frame)
        t0 = time.perf_counter()
        verdict = decide(self.fusion.assess(found), self.profile)
        timings["fuse+decide"] = (time.perf_counter() - t0) * 1e3
        verdict.timings_ms.update(timings)
        return verdict

    def _pool_submit(self, frame: Frame) -> concurrent.futures.Future[Verdict]:
        with self._lock:
            if self._worker is None:
                self._worker = _DaemonWorker(self._check)
            return self._worker.submit(frame)

    def close(self) -> None:
        """Stop the deadline worker (a hung check is abandoned, not waited for)."""
        with self._lock:
            if self._worker is not None:
                self._worker.close()
                self._worker = None


class _DaemonWorker:
    """One daemon thread running checks in order, so a hung model can never hold up exit.

    (A ThreadPoolExecutor's threads are joined at interpreter exit: a hung check would hang the
    process.) Checks queued behind a hung one time out in their callers and so block.
    """

    def __init__(self, fn: Callable[[Frame], Verdict]) -> None:
        self._fn = fn
        self._queue: queue.SimpleQueue[tuple[Frame, concurrent.futures.Future[Verdict]] | None] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="captureguard-check", daemon=True).start()

    def submit(self, frame: Frame) -> concurrent.futures.Future[Verdict]:
        future: concurrent.futures.Future[Verdict] = concurrent.futures.Future()
        self._queue.put((frame, future))
        return future

    def close(self) -> None:
        self._queue.put(None)

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            frame, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._fn(frame))
            except BaseException as exc:  # handed to the caller, who turns it into a block
                future.set_exception(exc)

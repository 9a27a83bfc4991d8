"""The checker: detectors -> fusion -> policy for one frame, failing closed.

:meth:`Checker.check` never raises for a detector or policy failure and never lets one pass:
an exception becomes ``BLOCK(reason="error")`` and a check that overruns its deadline becomes
``BLOCK(reason="timeout")``, both logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from captureguard.core.detection import Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.policy import Profile, decide, load_profiles
from captureguard.core.verdict import Verdict
from captureguard.errors import CaptureGuardError, ConfigError
from captureguard.guard.deadline import DeadlineExceededError, DeadlineRunner
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
    _deadline_runner: DeadlineRunner[Frame, Verdict] | None = field(default=None, init=False, repr=False)
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
        checker = cls(detectors, FusionModel.load(fusion_path, mode=mode), profiles[profile], deadline_s)
        checker.warm_up()
        return checker

    def warm_up(self) -> None:
        """Run every detector once on a small grey frame, so the first real check is not cold.

        onnxruntime allocates and plans on a session's first run (measured: the first 720p live
        check took over 0.5 s, the stream deadline, on a busy 2-core machine; later ones ~30 ms).
        A failure here is left for the first real check to report (and block).
        """
        grey = Frame.from_bgr(np.full((360, 640, 3), 128, np.uint8), source="warm-up")
        try:
            self.detect(grey)
        except Exception as exc:  # the first real check fails closed and logs it
            log.debug("warm-up failed: %r", exc)

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
            verdict = self._runner().run(frame)
        except DeadlineExceededError as exc:
            log.warning("check of %s blocked: %s", frame.source or "frame", exc)
            verdict = Verdict.failure("timeout", f"check {exc}", profile=self.profile.name)
        except Exception as exc:  # fail closed on anything, including bugs
            log.error(
                "check of %s failed, blocked: %s",
                frame.source or "frame",
                exc,
                exc_info=not isinstance(exc, CaptureGuardError),
            )
            verdict = Verdict.failure("error", f"{type(exc).__name__}: {exc}", profile=self.profile.name)
        except BaseException as exc:
            # Found by the fault matrix: a BaseException (not an Exception) raised on the deadline
            # worker's thread was re-raised here, so /v1/check answered 500 instead of a block. It
            # is that thread's failure, not the caller's: block. Run inline (no deadline), it is the
            # caller's own (Ctrl-C...), so it propagates.
            if self.deadline_s is None:
                raise
            log.error("check of %s failed, blocked: the check's thread died (%r)", frame.source or "frame", exc)
            verdict = Verdict.failure("error", f"{type(exc).__name__}: {exc}", profile=self.profile.name)
        return verdict.with_timings(total=(time.perf_counter() - t0) * 1e3)

    def _check(self, frame: Frame) -> Verdict:
        found, timings = self.detect(frame)
        t0 = time.perf_counter()
        verdict = decide(self.fusion.assess(found), self.profile)
        timings["fuse+decide"] = (time.perf_counter() - t0) * 1e3
        return verdict.with_timings(**timings)

    def _runner(self) -> DeadlineRunner[Frame, Verdict]:
        with self._lock:
            if self._deadline_runner is None:
                self._deadline_runner = DeadlineRunner(self._check, deadline_s=self.deadline_s)
            return self._deadline_runner

    def close(self) -> None:
        """Stop the deadline worker (a hung check is abandoned, not waited for)."""
        with self._lock:
            if self._deadline_runner is not None:
                self._deadline_runner.close()
                self._deadline_runner = None

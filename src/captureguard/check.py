"""The checker: detectors -> fusion -> policy for one frame, failing closed.

:meth:`Checker.check` never raises for a detector or policy failure and never lets one pass:
an exception becomes ``BLOCK(reason="error")`` and a check that overruns its deadline becomes
``BLOCK(reason="timeout")``, both logged.
"""

from __future__ import annotations

import concurrent.futures
import importlib.resources
import logging
import threading
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from captureguard.detection import Detections
from captureguard.detectors import Detector, build_detector
from captureguard.errors import CaptureGuardError, ConfigError
from captureguard.frame import Frame
from captureguard.fusion import FusionModel
from captureguard.policy import Profile, decide, load_profiles
from captureguard.verdict import Verdict

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
    _pool: concurrent.futures.ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
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
            verdict = Verdict.failure("timeout", f"check took longer than {self.deadline_s} s", profile=self.profile.name)
        except Exception as exc:  # fail closed on anything, including bugs
            log.error("check of %s failed, blocked: %s", frame.source or "frame", exc, exc_info=not isinstance(exc, CaptureGuardError))
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
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="captureguard-check")
            return self._pool.submit(self._check, frame)

    def close(self) -> None:
        """Release the deadline worker (a hung check is abandoned, not waited for)."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


def load_detector_configs(path: str | Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """Read ``{mode: [detector config, ...]}`` from a TOML file (default: shipped ``detectors.toml``)."""
    try:
        if path is None:
            text = importlib.resources.files("captureguard").joinpath("data/detectors.toml").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read detector config {path or 'data/detectors.toml'}: {exc}") from exc
    out = {}
    for mode, table in data.items():
        dets = table.get("detectors") if isinstance(table, dict) else None
        if not isinstance(dets, list) or not all(isinstance(d, dict) for d in dets):
            raise ConfigError(f"[{mode}] needs a list of [[{mode}.detectors]] tables")
        out[mode] = dets
    return out

"""Shared test fixtures: bundled public-domain stills and the real models (loaded once)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.samples import Sample, bundled_samples

#: The project's evaluation set, beside the repository (optional: some tests skip without it).
EVAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eval"


@pytest.fixture(scope="session")
def samples() -> list[Sample]:
    return bundled_samples()


@pytest.fixture(scope="session")
def nude_samples(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if s.label == "nudity"]


@pytest.fixture(scope="session")
def safe_samples(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if s.label == "safe"]


def read_frame(path: Path) -> Frame:
    """Decode a fixture with OpenCV into a frozen BGR frame (for tests that need no loader)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"fixture {path} did not decode"
    return Frame.from_bgr(bgr, source=str(path))


def synthetic_bgr(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour field: a harmless generated picture (no people)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


# Property tests and fuzzers (hypothesis): a bounded profile for `make test`, longer ones for
# `make fuzz` (CAPTUREGUARD_HYPOTHESIS=ci or long). No per-example deadline: the CI machine is shared.
def _hypothesis_profiles() -> None:
    import os

    from hypothesis import HealthCheck, settings

    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    settings.register_profile("dev", max_examples=30, deadline=None, database=None, suppress_health_check=quiet)
    settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=quiet)
    settings.register_profile("long", max_examples=3000, deadline=None, suppress_health_check=quiet)
    settings.load_profile(os.environ.get("CAPTUREGUARD_HYPOTHESIS", "dev"))


_hypothesis_profiles()

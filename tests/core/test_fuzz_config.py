"""Fuzzing the configuration readers: profiles TOML and detectors TOML (mutated seeds, random bytes).

``load_profiles`` and ``load_detector_configs`` + ``build_detector`` return a valid configuration
or raise ``ConfigError``; never another exception. Model loading is replaced by a cheap stand-in
(the real sessions take seconds to build); what is fuzzed is the validation of every field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from captureguard.core.policy import Profile, load_profiles
from captureguard.errors import ConfigError, ModelMissingError
from captureguard.models import base
from captureguard.models.base import build_detector, load_detector_configs
from tests.support.fuzzing import fuzz_inputs, must_end

pytestmark = pytest.mark.fuzz

DATA = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data"
PROFILE_SEEDS = [(DATA / "profiles.toml").read_bytes(), b"[profiles.x]\nblock_score = 0.5\nwarn_score = 0.2\n"]
DETECTOR_SEEDS = [
    (DATA / "detectors.toml").read_bytes(),
    b'[[live.detectors]]\ntype = "yolo"\npath = "m.onnx"\nlabels = ["A", "B"]\ninput_size = 320\ntiles = 2\n',
]
FUZZ_SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ_SETTINGS
@given(data=fuzz_inputs(PROFILE_SEEDS))
def test_load_profiles_returns_profiles_or_a_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "profiles.toml"
    path.write_bytes(data)
    result = must_end(lambda: load_profiles(path))
    if isinstance(result, dict):
        assert result and all(isinstance(p, Profile) for p in result.values())
    else:
        assert isinstance(result, ConfigError), repr(result)


class _NoModel:
    """Stands in for OnnxModel: the file is never a usable model here."""

    def __init__(self, path: Any, **_: Any) -> None:
        raise ModelMissingError(f"fuzz: no model at {path}")


def _build_all(path: Path) -> int:
    configs = load_detector_configs(path)
    built = 0
    for table in configs.values():
        for config in table:
            build_detector(config, threads=1)
            built += 1
    return built


@FUZZ_SETTINGS
@given(data=fuzz_inputs(DETECTOR_SEEDS))
def test_detector_configs_build_or_raise_a_config_error(
    tmp_path: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "OnnxModel", _NoModel)
    monkeypatch.setattr(base, "open_nsfw_detector", lambda *, threads: "open_nsfw")
    monkeypatch.setattr(base, "nudenet_detector", lambda settings, *, threads: settings)
    path = tmp_path / "detectors.toml"
    path.write_bytes(data)
    result = must_end(lambda: _build_all(path))
    assert isinstance(result, int | ConfigError | ModelMissingError), repr(result)

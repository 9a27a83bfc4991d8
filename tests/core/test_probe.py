"""The linear probe: its maths, its input, and that it fails closed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from captureguard.core.probe import (
    SHIPPED,
    SHIPPED_PHOTO,
    SHIPPED_PHOTO_SCENE,
    SHIPPED_SCENE,
    LinearProbe,
    probe_features,
)
from captureguard.errors import ConfigError, DetectionError


def test_probability_is_the_logistic_of_the_dot_product() -> None:
    probe = LinearProbe(np.array([1.0, -2.0, 0.5]), -0.25, "t")
    x = np.array([0.3, 0.1, 2.0])
    assert probe.probability(x) == pytest.approx(1 / (1 + math.exp(-(-0.25 + 0.3 - 0.2 + 1.0))))
    assert probe.size == 3


@pytest.mark.parametrize("bad", [np.zeros(2), np.zeros(4), np.array([0.0, np.nan, 0.0]), np.array([np.inf, 0, 0])])
def test_wrong_or_non_finite_features_fail_closed(bad: np.ndarray) -> None:
    with pytest.raises(DetectionError):
        LinearProbe(np.ones(3), 0.0).probability(bad)


@pytest.mark.parametrize(
    "data",
    [
        {"weights": [], "intercept": 0.0},
        {"weights": [1.0, float("nan")], "intercept": 0.0},
        {"weights": [1.0], "intercept": float("inf")},
        {"weights": [1.0]},
        {"weights": ["x"], "intercept": 0.0},
    ],
)
def test_bad_parameters_refused(data: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        LinearProbe.from_mapping(data)  # type: ignore[arg-type]


def test_load_errors_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot load probe"):
        LinearProbe.load(tmp_path / "p.json")
    with pytest.raises(ConfigError):
        LinearProbe.load(tmp_path / "missing.json")


def test_shipped_probe_reads_whole_image_top_crop_and_outer_crop_features() -> None:
    probe = LinearProbe.load()
    assert probe.size == 3 * 1024  # the live pair since v2.7 (the photo pair: 2 blocks)
    assert LinearProbe.load(shipped=SHIPPED_PHOTO).size == 2 * 1024
    # a round trip through JSON keeps it
    again = LinearProbe.from_mapping(json.loads(json.dumps({"weights": probe.weights.tolist(), "intercept": 0.0})))
    assert np.array_equal(again.weights, probe.weights)


def test_named_probes_are_shipped_files_or_paths(tmp_path: Path) -> None:
    """A detectors file names a probe by its shipped file name or by a path to one of its own."""
    versions = {LinearProbe.named(n).version for n in (SHIPPED, SHIPPED_SCENE, SHIPPED_PHOTO, SHIPPED_PHOTO_SCENE)}
    assert len(versions) == 4  # four fitted probes, each its own version
    own = tmp_path / "mine.json"
    own.write_text(json.dumps({"weights": [1.0, 2.0], "intercept": 0.5, "version": "mine"}))
    assert LinearProbe.named(str(own)).version == "mine"
    with pytest.raises(ConfigError, match=r"data/no_such_probe\.json"):
        LinearProbe.named("no_such_probe.json")
    with pytest.raises(ConfigError):
        LinearProbe.named(str(tmp_path / "missing.json"))


def test_probe_features_take_the_top_scored_crop() -> None:
    pooled = np.arange(4 * 3, dtype=np.float32).reshape(4, 3)  # whole image, then 3 crops
    assert probe_features(pooled, np.array([0.2, 0.9, 0.1])).tolist() == [0, 1, 2, 6, 7, 8]
    # no person: the whole image twice
    assert probe_features(pooled[:1], np.array([])).tolist() == [0, 1, 2, 0, 1, 2]


def test_a_three_block_input_ends_with_the_outer_crop() -> None:
    pooled = np.arange(3 * 2, dtype=np.float32).reshape(3, 2)  # whole image, then 2 crops
    outer = np.array([9.0, 8.0])
    assert probe_features(pooled, np.array([0.1, 0.7]), outer).tolist() == [0, 1, 4, 5, 9, 8]
    assert probe_features(pooled[:1], np.array([]), pooled[0]).tolist() == [0, 1, 0, 1, 0, 1]

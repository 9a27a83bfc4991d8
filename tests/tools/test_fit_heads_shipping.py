"""What fit_heads.py ships agrees with what the checker loads (build time vs run time)."""

from __future__ import annotations

import json
import math
from importlib.resources import files

import pytest
from tools.detect_v2 import fit_heads, probe

from captureguard.core.detection import PICTURE_NSFW
from captureguard.core.fusion import FusionModel
from captureguard.core.locator import SHIPPED as LOCATOR
from captureguard.core.locator import PictureLocator
from captureguard.core.policy import load_profiles
from captureguard.core.probe import LinearProbe
from captureguard.models.base import load_detector_configs


def test_shipped_detectors_are_the_ones_the_heads_were_fitted_for() -> None:
    shipped = load_detector_configs()
    for mode, (_, configs, _) in fit_heads.MODES.items():
        assert shipped[mode] == configs, mode


def test_each_head_names_the_probe_pair_of_its_views() -> None:
    """The photo head reads the pair fitted on people at 960, the live heads the 640 pair; the
    shipped probe files carry the versions the heads name."""
    for mode, (views, _, _) in fit_heads.MODES.items():
        pair = probe.SETS[fit_heads.pair_of(views)]
        assert fit_heads.pair_of(views) == mode  # each path its own pair
        names = FusionModel.load(mode=mode).extra["probes"]
        assert names == fit_heads.head_probes(views)
        plain, scene = pair.shipped()
        assert list(names.values())[:2] == [plain.version, scene.version]
        if pair.train in probe.PICTURE:  # the live pair: fitted on the shipped locator's crops
            assert names[PICTURE_NSFW] == PictureLocator.named(LOCATOR).version
    first = FusionModel.load(mode="live_first").extra["probes"]
    assert first == FusionModel.load(mode="live").extra["probes"]
    assert LinearProbe.load(probe.SETS["photo"].out).version != LinearProbe.load(probe.SETS["live"].out).version


@pytest.mark.parametrize("mode", ["photo", "live"])
def test_each_head_meets_the_profile_thresholds_at_its_own_points(mode: str) -> None:
    """Each head's calibration puts its own OOF points (``cv.oof_thresholds``, from fit_heads.py) on
    the shared profile thresholds, a hair under each, so a profile means the same budget in both
    paths (before v2.4 the photo path's teen profile sat at the live head's point: 46 instead of 55
    of 74). A refit that changes the points without re-writing the calibration fails here."""
    head = FusionModel.load(mode=mode)
    assert head.calibration is not None
    points = json.loads(files("captureguard").joinpath("data", f"fusion_{mode}.json").read_text())["cv"][
        "oof_thresholds"
    ]
    profiles = load_profiles()
    targets = {
        "warn": profiles["child"].warn_score,
        "child": profiles["child"].block_score,
        "teen": profiles["teen"].block_score,
        "adult": profiles["adult"].block_score,
    }
    for name, target in targets.items():
        z = math.log(points[name] / (1 - points[name]))
        got = 1 / (1 + math.exp(-head.calibration.apply(z)))
        assert got == pytest.approx(target, abs=2e-4), name
        assert got < target, name  # a safe still at the point is not blocked

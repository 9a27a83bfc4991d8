"""What fit_heads.py ships agrees with what the checker loads (build time vs run time)."""

from __future__ import annotations

import json
import math
from importlib.resources import files

import numpy as np
import pytest
from tools.detect_v2 import fit_heads, probe

from captureguard.core.detection import NSFWJS_PICTURE, PICTURE_NSFW
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


def test_the_tools_either_score_is_the_run_times() -> None:
    """fit_heads.either_scores (the OOF rule the photo point is set on) equals FusionModel.assess
    with ``either`` before calibration, for heads built as fit_heads builds them (the other head's
    intercept shifted with this one's)."""
    from captureguard.core.detection import Detections
    from captureguard.testing import whole

    other = {"intercept": -0.3, "weights": {"logit:NSFW_PROBE": 1.5}}
    head = FusionModel.from_mapping(
        {"intercept": 0.2, "weights": {"nsfw_logit": 1.0}, "either": {"head": other, "offset": 1.0, "mode": "live"}}
    )
    own_model, other_model = (
        FusionModel.from_mapping({"intercept": 0.2, "weights": {"nsfw_logit": 1.0}}),
        (FusionModel.from_mapping(other)),
    )
    for g, p in ((0.2, 0.9), (0.8, 0.3), (0.5, 0.5)):
        found = whole(g)
        live = Detections.whole_image(p, height=8, width=8, model="live", label="NSFW_PROBE")
        want = fit_heads.either_scores(
            [own_model.assess(found).score], [other_model.assess(live).score], head.either.offset if head.either else 0
        )[0]
        assert head.assess(found, live).score == pytest.approx(want)


def test_each_folds_photo_head_reads_that_folds_live_head() -> None:
    """add_either_folds gives every fold's photo head file the live head of the same fold with the
    photo fold's shift, and the result loads as a head with ``either``."""
    from types import SimpleNamespace  # fold_json reads a head's intercept and weights only

    live_fold = SimpleNamespace(weights=np.array([1.0, 2.0]), intercept=-1.0)
    photo_fold = SimpleNamespace(weights=np.array([0.5]), intercept=0.1)
    folds = fit_heads.fold_json({3: photo_fold}, ["nsfw_logit"], 0.25, "v2-photo")  # type: ignore[dict-item]
    other = (None, ["logit:NSFW_PROBE", "person_count"], {3: live_fold}, np.zeros(1), live_fold)
    fit_heads.add_either_folds(folds, ("live", 1.0), other, 0.25, "photo")  # type: ignore[arg-type]
    m = FusionModel.from_mapping(folds["3"])
    assert m.either is not None and m.either.offset == 1.0 and m.either.mode == "live"
    assert m.either.head.intercept == pytest.approx(-1.0 + 0.25)
    assert dict(m.either.head.weights) == {"logit:NSFW_PROBE": 1.0, "person_count": 2.0}


@pytest.mark.parametrize(
    ("form", "view", "feature"),
    [("logit", "njspic", "logit:NSFWJS_PICTURE"), ("max", "njspic_p", "max:NSFWJS_PICTURE")],
)
def test_the_measured_live_nsfwjs_variant_reads_the_picture_probe(form: str, view: str, feature: str) -> None:
    """``fit_heads.py --live-nsfwjs`` (measured, not shipped): the live views gain the picture probe's
    view, the head its feature (monotone), the configs the nsfwjs detector on the picture with the
    probe the tool fits, and the head names that probe; the shipped modes do not."""
    from tools.detect_v2 import nsfwjs_probe

    views, configs, _ = fit_heads.modes(live_nsfwjs=form)["live"]
    assert views[-1] == view and fit_heads.features_of(views)[-1] == feature and feature in fit_heads.MONOTONE
    assert configs[-1] == {"type": "nsfwjs", "crop": "picture", "probe": str(nsfwjs_probe.SETS["picture"].out)}
    assert fit_heads.head_probes(views)[NSFWJS_PICTURE] == nsfwjs_probe.SETS["picture"].version
    assert not any(v.startswith("njspic") for v in fit_heads.MODES["live"][0])
    with pytest.raises(SystemExit, match="640"):
        fit_heads.live_views(480, form)

"""Fusion: features, the logistic score, reasons, parameter loading and the fitter."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from captureguard.core.detection import Detections
from captureguard.core.fusion import FEATURES, FusionModel, class_scores
from captureguard.errors import ConfigError
from captureguard.testing import region, whole


def test_class_scores_take_the_max_per_label() -> None:
    d = Detections.concat(
        [
            region("FEMALE_BREAST_EXPOSED", 0.3),
            region("FEMALE_BREAST_EXPOSED", 0.7),
            region("FACE_FEMALE", 0.5),
            whole(0.9),
        ]
    )
    assert class_scores(d) == pytest.approx({"FEMALE_BREAST_EXPOSED": 0.7, "FACE_FEMALE": 0.5})


def test_assess_is_the_logistic_of_weighted_features() -> None:
    model = FusionModel(-1.0, {"nsfw_logit": 1.0}, "t")
    a = model.assess(whole(0.5))
    assert a.score == pytest.approx(1 / (1 + math.exp(1.0)))
    assert a.global_score == pytest.approx(0.5)
    assert a.support[0].code == "IMAGE_NSFW"


def test_assess_without_classifier_has_no_global_score() -> None:
    model = FusionModel(0.0, dict.fromkeys(FEATURES, 0.0), "t")
    a = model.assess(region("BUTTOCKS_EXPOSED", 0.6))
    assert a.global_score is None
    assert a.score == pytest.approx(0.5)
    assert a.regions[0].code == "BUTTOCKS_EXPOSED"
    assert a.models == ("fake",)


def test_more_evidence_never_lowers_the_shipped_score() -> None:
    model = FusionModel.load()
    base = Detections.concat([whole(0.2)])
    more = Detections.concat([whole(0.2), region("FEMALE_BREAST_EXPOSED", 0.6)])
    assert model.assess(more).score >= model.assess(base).score
    assert model.assess(Detections.concat([whole(0.9)])).score > model.assess(base).score


def test_unknown_feature_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown features"):
        FusionModel(0.0, {"moon_phase": 1.0})
    bad = tmp_path / "f.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot load fusion parameters"):
        FusionModel.load(bad)
    bad.write_text(json.dumps({"weights": {}}))
    with pytest.raises(ConfigError, match="invalid fusion parameters"):
        FusionModel.load(bad)

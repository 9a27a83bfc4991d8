"""Fusion: features, the logistic score, reasons, parameter loading and the fitter."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from captureguard.core.detection import Detections
from captureguard.core.fusion import FEATURES, Calibration, FusionModel, class_scores
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


def test_nsfwjs_class_score_is_cited_only_by_a_head_that_reads_it() -> None:
    """The photo head (v2.8) reads the probe on nsfwjs' embedding, not nsfwjs' own class score:
    its reasons cite NSFWJS_PROBE and open_nsfw's whole-image score, never the unread one."""
    found = Detections.concat(
        [
            whole(0.7, model="open_nsfw"),
            whole(0.05, model="nsfwjs"),
            Detections.whole_image(0.9, height=100, width=100, model="nsfwjs", label="NSFWJS_PROBE"),
        ]
    )
    probe_head = FusionModel(0.0, {"nsfw_logit": 1.0, "logit:NSFWJS_PROBE": 1.0}, "photo-like")
    cited = [(r.code, r.model) for r in probe_head.assess(found).support]
    assert cited == [("IMAGE_NSFW", "open_nsfw"), ("NSFWJS_PROBE", "nsfwjs")]
    class_head = FusionModel(0.0, {"nsfw_logit": 1.0, "njs_logit": 1.0}, "v2.0-like")
    assert ("IMAGE_NSFW", "nsfwjs") in [(r.code, r.model) for r in class_head.assess(found).support]
    alone = FusionModel(0.0, {"njs_logit": 1.0}, "nsfwjs-only").assess(whole(0.05, model="nsfwjs"))
    assert [(r.code, r.model) for r in alone.support] == [("IMAGE_NSFW", "nsfwjs")]


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


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_calibration_puts_each_knot_on_its_target_and_keeps_the_order() -> None:
    cal = Calibration(((-1.0, -0.8), (0.0, 0.0), (1.0, 1.45), (3.0, 2.94)))
    for a, b in cal.knots:
        assert cal.apply(a) == pytest.approx(b)
    assert cal.apply(0.5) == pytest.approx(0.725)  # linear between knots
    assert cal.apply(-3.0) == pytest.approx(-2.8)  # slope 1 beyond the outer knots
    assert cal.apply(5.0) == pytest.approx(4.94)
    zs = [i / 10 for i in range(-80, 81)]
    out = [cal.apply(z) for z in zs]
    assert out == sorted(out) and len(set(out)) == len(out)


def test_a_calibrated_head_blocks_at_its_own_point() -> None:
    """The head's teen point (score 0.73) lands on the teen block score 0.81: a frame just above
    its point reaches 0.81, one just below does not; the child point (0.5) stays where it is."""
    knots = ((0.0, 0.0), (_logit(0.73), _logit(0.81)))
    plain = FusionModel(0.0, {"nsfw_logit": 1.0}, "t")
    cal = FusionModel(0.0, {"nsfw_logit": 1.0}, "t", calibration=Calibration(knots))
    for p in (0.2, 0.5):
        assert cal.assess(whole(p)).score == pytest.approx(plain.assess(whole(p)).score)
    assert cal.assess(whole(0.731)).score >= 0.81 > plain.assess(whole(0.731)).score
    assert cal.assess(whole(0.729)).score < 0.81


@pytest.mark.parametrize(
    "knots",
    [(), ((0.0, 0.0), (0.0, 1.0)), ((0.0, 1.0), (1.0, 0.5)), ((0.0, float("nan")),), ((0.0, 0.0), (float("inf"), 9.0))],
)
def test_a_calibration_that_is_not_increasing_or_finite_is_refused(knots: tuple[tuple[float, float], ...]) -> None:
    with pytest.raises(ConfigError, match="calibration"):
        Calibration(knots)


def test_a_head_file_with_a_broken_calibration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="calibration"):
        FusionModel.from_mapping({"intercept": 0.0, "weights": {}, "calibration": {"knots": [[0, 1], [1, 0]]}})
    with pytest.raises(ConfigError, match="calibration"):
        FusionModel.from_mapping({"intercept": 0.0, "weights": {}, "calibration": {"points": []}})

"""Fusion: features, the logistic score, reasons, parameter loading and the fitter."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from captureguard.core.detection import Detections
from captureguard.core.fusion import FEATURES, Calibration, Either, FusionModel, class_scores
from captureguard.errors import ConfigError, DetectionError
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


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_either_takes_the_larger_logit_of_the_two_heads_before_calibration() -> None:
    """The photo head since v2.9 also reads the live head on the live detectors' evidence: the
    frame's logit is max(own, other - offset), then the calibration; the reasons are the winning
    head's, on its own evidence."""
    live = FusionModel(0.0, {"logit:NSFW_PROBE": 1.0}, "live-like")
    cal = Calibration(((0.0, 0.0), (2.0, 1.0)))
    photo = FusionModel(
        0.0, {"nsfw_logit": 1.0}, "photo-like", calibration=cal, either=Either(live, offset=1.0, mode="live")
    )
    own = whole(0.6, model="open_nsfw")  # logit 0.41
    strong = Detections.whole_image(0.95, height=10, width=10, model="live_probe", label="NSFW_PROBE")  # 2.94
    weak = Detections.whole_image(0.6, height=10, width=10, model="live_probe", label="NSFW_PROBE")  # 0.41
    a = photo.assess(own, strong)
    z = max(_logit(0.6), _logit(0.95) - 1.0)
    assert a.score == pytest.approx(1 / (1 + math.exp(-cal.apply(z))))
    assert [(r.code, r.model) for r in a.support] == [("NSFW_PROBE", "live_probe")]  # the live head won
    b = photo.assess(own, weak)  # 0.41 - 1 < 0.41: the photo head's own logit
    assert b.score == pytest.approx(1 / (1 + math.exp(-cal.apply(_logit(0.6)))))
    assert [(r.code, r.model) for r in b.support] == [("IMAGE_NSFW", "open_nsfw")]
    assert b.models == ("live_probe", "open_nsfw")
    assert photo.logit(own) == pytest.approx(_logit(0.6))  # its own, uncalibrated, without the other head
    with pytest.raises(DetectionError, match=r"also reads the \[live\] detectors"):
        photo.assess(own)  # fail closed: the other set's evidence is missing


def test_either_loads_from_its_head_file_and_refuses_nonsense() -> None:
    data = {
        "intercept": 0.5,
        "weights": {"nsfw_logit": 1.0},
        "either": {"head": {"intercept": -1.0, "weights": {"logit:NSFW_PROBE": 2.0}}, "offset": 0.75},
    }
    m = FusionModel.from_mapping(data)
    assert m.either is not None and m.either.offset == 0.75 and m.either.mode == "live"
    assert m.either.head.intercept == -1.0 and dict(m.either.head.weights) == {"logit:NSFW_PROBE": 2.0}
    with pytest.raises(ConfigError, match="invalid fusion"):
        FusionModel.from_mapping({**data, "either": {"head": data["either"]["head"]}})  # no offset
    with pytest.raises(ConfigError, match="finite"):
        FusionModel.from_mapping({**data, "either": {**data["either"], "offset": float("nan")}})
    with pytest.raises(ConfigError, match="third"):
        FusionModel.from_mapping({**data, "either": {**data["either"], "head": data}})
    assert FusionModel.from_mapping({"intercept": 0.0, "weights": {}}).either is None


def test_the_shipped_photo_head_reads_the_live_head() -> None:
    """v2.9: the photo head names the live head (its weights as in fusion_live.json, the intercept
    shifted with the photo head's), the offset the fitting tool picked, and the live probes it reads."""
    from tools.detect_v2.fit_heads import EITHER

    photo, live = FusionModel.load(mode="photo"), FusionModel.load(mode="live")
    assert photo.either is not None and photo.either.mode == "live"
    assert (photo.either.mode, photo.either.offset) == EITHER["photo"] and photo.either.offset > 0
    assert dict(photo.either.head.weights) == dict(live.weights)
    assert photo.either.head.extra["probes"] == live.extra["probes"]

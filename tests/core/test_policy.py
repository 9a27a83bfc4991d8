"""Policy: profile validation and the decision table."""

from __future__ import annotations

from pathlib import Path

import pytest

from captureguard.core.fusion import Assessment
from captureguard.core.policy import Profile, decide, load_profiles, profiles_from_mapping
from captureguard.core.verdict import Decision, Reason
from captureguard.errors import ConfigError

STRICT = Profile(
    "strict",
    block_score=0.5,
    warn_score=0.3,
    class_thresholds={"FEMALE_GENITALIA_EXPOSED": 0.4},
    warn_underwear=True,
    underwear_threshold=0.5,
)


def assessment(score: float, **classes: float) -> Assessment:
    regions = tuple(Reason(k, v, "fake") for k, v in sorted(classes.items(), key=lambda kv: -kv[1]))
    return Assessment(score, dict(classes), None, regions, (), ("fake",))


@pytest.mark.parametrize(
    ("a", "expected", "codes"),
    [
        (assessment(0.9), Decision.BLOCK, {"FUSED"}),
        (assessment(0.5), Decision.BLOCK, {"FUSED"}),
        (assessment(0.49), Decision.WARN, {"FUSED"}),
        (assessment(0.1), Decision.ALLOW, set()),
        (assessment(0.1, FEMALE_GENITALIA_EXPOSED=0.4), Decision.BLOCK, {"FEMALE_GENITALIA_EXPOSED"}),
        (assessment(0.1, FEMALE_GENITALIA_EXPOSED=0.39), Decision.ALLOW, set()),
        (assessment(0.1, FEMALE_BREAST_EXPOSED=0.99), Decision.ALLOW, set()),  # not listed for this profile
        (assessment(0.1, FEMALE_BREAST_COVERED=0.6, BELLY_EXPOSED=0.6), Decision.WARN, {"UNDERWEAR"}),
        (
            assessment(0.1, FEMALE_BREAST_COVERED=0.6, BELLY_EXPOSED=0.6, BELLY_COVERED=0.7),
            Decision.ALLOW,
            set(),
        ),
        (assessment(0.1, FEMALE_BREAST_COVERED=0.6), Decision.ALLOW, set()),
        (assessment(0.1, BUTTOCKS_COVERED=0.55, ARMPITS_EXPOSED=0.51), Decision.WARN, {"UNDERWEAR"}),
    ],
    ids=[
        "high",
        "at-block",
        "warn-band",
        "low",
        "class-at-threshold",
        "class-below",
        "class-not-listed",
        "underwear",
        "belly-covered-is-clothes",
        "covered-only",
        "underwear-buttocks",
    ],
)
def test_decide_table(a: Assessment, expected: Decision, codes: set[str]) -> None:
    v = decide(a, STRICT)
    assert v.decision is expected
    assert {r.code for r in v.reasons} & {"FUSED", "UNDERWEAR", *STRICT.class_thresholds} == codes
    assert v.profile == "strict"


def test_underwear_rule_only_when_enabled() -> None:
    lax = Profile("lax", block_score=0.5, warn_score=0.3)
    assert decide(assessment(0.1, FEMALE_BREAST_COVERED=0.9, BELLY_EXPOSED=0.9), lax).decision is Decision.ALLOW


def test_shipped_profiles_are_ordered_by_strictness() -> None:
    p = load_profiles()
    assert {"child", "teen", "adult"} <= set(p)
    assert p["child"].is_stricter_or_equal(p["teen"])
    assert p["teen"].is_stricter_or_equal(p["adult"])
    assert not p["adult"].is_stricter_or_equal(p["child"])
    assert p["child"].warn_underwear


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "expected a [profiles.NAME] table"),
        ({"profiles": {"x": {"warn_score": 0.1}}}, "missing ['block_score']"),
        (
            {"profiles": {"x": {"block_score": 1.5, "warn_score": 0.1}}},
            "block_score must be a number in [0, 1]",
        ),
        ({"profiles": {"x": {"block_score": 0.2, "warn_score": 0.5}}}, "must not exceed"),
        (
            {"profiles": {"x": {"block_score": 0.5, "warn_score": 0.1, "colour": 1}}},
            "unknown keys ['colour']",
        ),
        (
            {"profiles": {"x": {"block_score": 0.5, "warn_score": 0.1, "class_thresholds": {"NOSE": 0.5}}}},
            "unknown class 'NOSE'",
        ),
        (
            {"profiles": {"x": {"block_score": 0.5, "warn_score": 0.1, "class_thresholds": {"ANUS_EXPOSED": 0}}}},
            "must be in (0, 1]",
        ),
        ({"profiles": {"x": {"block_score": "high", "warn_score": 0.1}}}, "must be a number"),
    ],
    ids=[
        "empty",
        "missing",
        "range",
        "warn-above-block",
        "unknown-key",
        "unknown-class",
        "zero-threshold",
        "type",
    ],
)
def test_invalid_profiles_explain_themselves(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        profiles_from_mapping(doc, origin="test.toml")
    assert message in str(err.value)
    assert "test.toml" in str(err.value)


def test_load_profiles_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read profiles file"):
        load_profiles(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[profiles.child\nblock_score = 0.5")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_profiles(bad)
    good = tmp_path / "good.toml"
    good.write_text("[profiles.school]\nblock_score = 0.4\nwarn_score = 0.2\n")
    assert load_profiles(good)["school"].block_score == 0.4


def test_reasons_put_intimate_evidence_before_supporting_skin() -> None:
    a = Assessment(
        0.9,
        {"FEET_EXPOSED": 0.63, "FEMALE_BREAST_EXPOSED": 0.36},
        0.26,
        (Reason("FEET_EXPOSED", 0.63, "m"), Reason("FEMALE_BREAST_EXPOSED", 0.36, "m")),
        (
            Reason("IMAGE_NSFW", 0.26, "c"),
            Reason("FEET_EXPOSED", 0.63, "m"),
            Reason("FEMALE_BREAST_EXPOSED", 0.36, "m"),
        ),
        ("c", "m"),
    )
    codes = [r.code for r in decide(a, STRICT).reasons]
    assert codes == ["FUSED", "FEMALE_BREAST_EXPOSED", "IMAGE_NSFW", "FEET_EXPOSED"]


SUPPORTED = Profile(
    "supported", block_score=0.5, warn_score=0.3, class_thresholds={"ANUS_EXPOSED": 0.4}, region_support_score=0.25
)


@pytest.mark.parametrize(
    ("a", "expected"),
    [
        pytest.param(assessment(0.1, ANUS_EXPOSED=0.9), Decision.ALLOW, id="lone-region-does-not-block"),
        pytest.param(assessment(0.25, ANUS_EXPOSED=0.4), Decision.BLOCK, id="region-with-support-blocks"),
        pytest.param(assessment(0.24, ANUS_EXPOSED=0.9), Decision.ALLOW, id="support-just-below"),
        pytest.param(assessment(0.3, ANUS_EXPOSED=0.39), Decision.WARN, id="supported-but-region-below"),
    ],
)
def test_region_needs_support(a: Assessment, expected: Decision) -> None:
    assert decide(a, SUPPORTED).decision is expected


def test_shipped_profiles_need_support_for_regions() -> None:
    for p in load_profiles().values():
        assert p.class_thresholds and p.region_support_score >= p.warn_score


def test_support_is_part_of_strictness() -> None:
    lax = Profile(
        "lax", block_score=0.5, warn_score=0.3, class_thresholds={"ANUS_EXPOSED": 0.4}, region_support_score=0.4
    )
    assert SUPPORTED.is_stricter_or_equal(lax) and not lax.is_stricter_or_equal(SUPPORTED)


def test_shipped_child_profile_blocks_a_supported_region_but_not_a_lone_one() -> None:
    """v2.3: a region over its class threshold blocks once the fused score reaches the warn score
    (a nude back: BUTTOCKS_EXPOSED 0.7 under a fused 0.4), never on its own (a face read as
    genitalia under a fused 0.1)."""
    child = load_profiles()["child"]
    supported = decide(assessment(0.4, BUTTOCKS_EXPOSED=0.7), child)
    assert supported.decision is Decision.BLOCK
    assert "BUTTOCKS_EXPOSED" in {r.code for r in supported.reasons}
    assert decide(assessment(0.1, FEMALE_GENITALIA_EXPOSED=0.9), child).decision is Decision.ALLOW
    assert decide(assessment(0.4), child).decision is Decision.WARN  # no region: the fused score alone

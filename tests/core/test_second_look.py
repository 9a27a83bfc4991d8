"""The second look's rule and the join of the live and crop verdicts (pure)."""

from __future__ import annotations

import math

import pytest

from captureguard.core.policy import Profile
from captureguard.core.second_look import (
    FIT_SHARE,
    PICTURE_CHECK,
    PICTURE_LATE,
    SKIPPED_PICTURE,
    LookTimes,
    PictureRule,
    second_look,
    withheld_late,
)
from captureguard.core.verdict import Decision, Reason, Verdict
from captureguard.errors import ConfigError

CHILD = Profile("child", block_score=0.5, warn_score=0.31)


def verdict(decision: Decision, score: float, *reasons: Reason, **ms: float) -> Verdict:
    return Verdict(decision, score, reasons, "child", ms)


def test_the_rule_runs_on_unsure_frames_with_a_large_enough_picture() -> None:
    rule = PictureRule(from_score=0.1, min_share=0.2)
    assert rule.wants(verdict(Decision.ALLOW, 0.1), 0.2)
    assert rule.wants(verdict(Decision.WARN, 0.4), 0.9)
    assert not rule.wants(verdict(Decision.ALLOW, 0.09), 0.5)  # the live check is sure
    assert not rule.wants(verdict(Decision.ALLOW, 0.3), 0.19)  # a sliver of the frame
    assert not rule.wants(verdict(Decision.BLOCK, 0.9), 0.5)  # already blocked: nothing to add


def test_the_offset_moves_the_score_in_logit() -> None:
    rule = PictureRule(offset=math.log(4))  # odds / 4
    assert rule.counted(0.8) == pytest.approx(0.5)
    assert rule.counted(0.5) == pytest.approx(0.2)
    assert rule.counted(0.0) == 0.0 and rule.counted(1.0) == 1.0
    assert PictureRule().counted(0.37) == 0.37
    assert PictureRule(offset=-1000.0).counted(0.5) == pytest.approx(1.0)
    assert PictureRule(offset=1000.0).counted(0.5) == 0.0


@pytest.mark.parametrize(
    "table",
    [
        {"from_score": 1.5},
        {"min_share": -0.1},
        {"offset": float("nan")},
        {"offset": True},
        {"mode": ""},
        {"mode": "photo", "from": 0.1},  # unknown key
        {"refine": 1.2},
        {"refine": -0.5},
        {"refine": 0.7, "refine_within_ms": -1.0},
        {"refine": 0.7, "refine_within_ms": float("inf")},
        {"refine": 0.7, "refine_within_ms": True},
        {"refine_within_ms": 400.0},  # a limit on a tighter crop that is off
        {"people_input": 650},  # not a multiple of 32
        {"people_input": 32},  # below the person detector's smallest input
        {"people_input": 4096},
        {"people_input": -640},
        {"people_input": 640.0},
        {"people_input": True},
        {"mode": "photo@640"},  # the input size is its own key
        {"late": "block"},
        {"late": True},
    ],
)
def test_bad_rules_are_refused(table: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        PictureRule.from_mapping(table)


def test_the_tighter_crop_is_read_only_after_a_first_crop_that_does_not_block() -> None:
    rule = PictureRule(refine=0.8)
    assert rule.refines(verdict(Decision.WARN, 0.4), 0.5)
    assert rule.refines(verdict(Decision.ALLOW, 0.1), 0.79)
    assert not rule.refines(verdict(Decision.ALLOW, 0.1), 0.8)  # the picture fills the crop already
    assert not rule.refines(verdict(Decision.BLOCK, 0.9), 0.3)  # the first crop decided
    assert not PictureRule().refines(verdict(Decision.ALLOW, 0.1), 0.1)  # off by default
    assert PictureRule.from_mapping({"refine": 0.8}).refine == 0.8


def test_the_tighter_crop_fits_the_time_limit_when_the_check_so_far_and_its_estimate_do() -> None:
    rule = PictureRule(refine=0.7, refine_within_ms=400.0)
    assert rule.refine_fits(100.0, 150.0)  # 100 + 2 x 150 = 400: the tighter crop costs the first's again
    assert not rule.refine_fits(100.0, 150.5)
    assert not rule.refine_fits(401.0, 0.0)
    for bad in (float("nan"), float("inf"), -1.0):
        assert not rule.refine_fits(bad, 10.0) and not rule.refine_fits(10.0, bad)
    assert PictureRule(refine=0.7).refine_fits(1e9, 1e9)  # no limit


def test_the_tighter_crops_timings_are_kept_apart() -> None:
    first = second_look(
        verdict(Decision.ALLOW, 0.1, total=50.0),
        verdict(Decision.ALLOW, 0.2, total=100.0),
        PictureRule(),
        CHILD,
        share=0.4,
    )
    both = second_look(
        first, verdict(Decision.ALLOW, 0.3, total=90.0), PictureRule(), CHILD, share=0.1, stage="picture2"
    )
    assert both.timings_ms == {"total": 50.0, "picture:total": 100.0, "picture2:total": 90.0}
    assert both.score == pytest.approx(0.3)


def test_a_rule_is_written_and_read_back_as_the_benchmarks_spell_it() -> None:
    for spec, rule in [
        ("0.05/0.2/1.39", PictureRule("photo", 0.05, 0.2, 1.39)),
        ("0.05/0.2/1.39/0.7", PictureRule("photo", 0.05, 0.2, 1.39, refine=0.7)),
        ("live:0.05/0.2/1.5", PictureRule("live", 0.05, 0.2, 1.5)),
        ("0.05/0.2/1.39/0.7@400", PictureRule("photo", 0.05, 0.2, 1.39, refine=0.7, refine_within_ms=400.0)),
        ("photo@640:0.05/0.2/1.39", PictureRule("photo", 0.05, 0.2, 1.39, people_input=640)),
        ("photo@640:0.05/0.2/1.39/0.7@400", PictureRule("photo", 0.05, 0.2, 1.39, 0.7, 400.0, people_input=640)),
    ]:
        assert PictureRule.from_spec(spec) == rule and rule.spec == spec
    assert PictureRule.from_spec("photo:0/0/0") == PictureRule()
    assert PictureRule.from_spec("photo@640:0/0/0").inner == "photo@640" and PictureRule().inner == "photo"
    assert PictureRule.split_inner("photo@640") == ("photo", 640) and PictureRule.split_inner("live") == ("live", 0)
    for key in ("", "photo@", "photo@x", "@640", "photo@0", "photo@-640"):
        with pytest.raises(ConfigError):
            PictureRule.split_inner(key)
    bad_specs = ("photo@:0/0/0", "photo@x:0/0/0", "photo@650:0/0/0", "@640@1:0/0/0")
    for bad in ("0.05/0.2", "0.05/0.2/1/0.5/1", "a/b/c", "0.05/2/1", "0.05/0.2/1@400", "0.05/0.2/1/0.7@x", *bad_specs):
        with pytest.raises(ConfigError):
            PictureRule.from_spec(bad)


def test_a_table_with_a_note_is_read() -> None:
    rule = PictureRule.from_mapping({"mode": "photo", "from_score": 0.05, "min_share": 0.2, "offset": 1.4, "note": "x"})
    assert rule == PictureRule("photo", 0.05, 0.2, 1.4)


def test_a_blocking_crop_blocks_the_frame_and_says_why() -> None:
    live = verdict(Decision.ALLOW, 0.12, Reason("FUSED", 0.12), **{"detect:probe": 5.0})
    crop = verdict(Decision.BLOCK, 0.9, Reason("FUSED", 0.9, "photo"), **{"total": 80.0})
    out = second_look(live, crop, PictureRule(), CHILD, share=0.25)
    assert out.decision is Decision.BLOCK and out.score == pytest.approx(0.9)
    assert out.reasons[0].code == PICTURE_CHECK and "25% of the frame" in out.reasons[0].detail
    assert out.reasons[1] == Reason("FUSED", 0.9, "photo")
    assert out.timings_ms == {"detect:probe": 5.0, "picture:total": 80.0}


def test_the_offset_can_turn_a_crop_block_into_a_warn_or_nothing() -> None:
    live = verdict(Decision.ALLOW, 0.12)
    crop = verdict(Decision.BLOCK, 0.6)
    warned = second_look(live, crop, PictureRule(offset=0.5), CHILD, share=0.5)  # 0.6 -> 0.48
    assert warned.decision is Decision.WARN and warned.reasons[0].code == PICTURE_CHECK
    quiet = second_look(live, crop, PictureRule(offset=2.0), CHILD, share=0.5)  # 0.6 -> 0.17
    assert quiet.decision is Decision.ALLOW and quiet.score == pytest.approx(0.169, abs=1e-3)
    assert quiet.reasons == live.reasons  # the live verdict stands, its score raised


def test_a_live_warn_stays_a_warn_when_the_crop_only_warns() -> None:
    live = verdict(Decision.WARN, 0.45, Reason("FUSED", 0.45))
    out = second_look(live, verdict(Decision.WARN, 0.35), PictureRule(), CHILD, share=0.5)
    assert out.decision is Decision.WARN and out.reasons == live.reasons and out.score == 0.45


def test_a_failed_crop_check_blocks() -> None:
    crop = Verdict.failure("timeout", "check took too long", profile="child")
    out = second_look(verdict(Decision.ALLOW, 0.2), crop, PictureRule(offset=5.0), CHILD, share=0.5)
    assert out.decision is Decision.BLOCK and out.failed and out.score == 1.0


def test_the_look_is_held_to_what_is_left_of_the_checks_deadline() -> None:
    assert PictureRule().late == "run"  # the default, as shipped (v2.10)
    rule = PictureRule(late="withhold")
    assert FIT_SHARE == 0.95
    assert rule.time_left(100.0, 500.0) == pytest.approx(375.0)  # 95% of 500 less 100
    assert rule.time_left(480.0, 500.0) == pytest.approx(-5.0)  # none left
    assert rule.time_left(100.0, None) is None  # no deadline
    assert PictureRule(late="run").time_left(100.0, 500.0) is None  # v2.10: no limit
    assert rule.time_left(math.nan, 500.0) == 0.0 and rule.time_left(-1.0, 500.0) == 0.0
    assert rule.time_left(1.0, math.inf) == 0.0
    assert PictureRule.from_mapping({"late": "withhold"}).late == "withhold"


def test_a_look_starts_only_when_the_fastest_recent_one_would_fit() -> None:
    rule = PictureRule(late="withhold")
    assert rule.may_start(None, 10_000.0)  # no limit
    assert rule.may_start(300.0, None)  # no recent look: it starts (and is timed)
    assert rule.may_start(300.0, 300.0) and not rule.may_start(300.0, 301.0)
    assert not rule.may_start(0.0, None) and not rule.may_start(-5.0, None)  # nothing left


def test_the_fastest_recent_look_is_kept_and_old_looks_age_out() -> None:
    times = LookTimes(window_s=10.0, keep=3)
    assert times.fastest(0.0) is None
    times.record(1.0, 120.0)
    times.record(2.0, 300.0)
    times.record(3.0, 150.0)
    assert times.fastest(3.0) == 120.0
    times.record(4.0, 200.0)  # keep 3: the 120 goes
    assert times.fastest(4.0) == 150.0
    assert times.fastest(12.5) == 150.0  # the 300 (at 2 s) is older than 10 s
    assert times.fastest(13.5) == 200.0
    assert times.fastest(14.5) is None  # all aged out: the next look starts
    times.record(15.0, math.nan)  # an unknown time is not kept
    times.record(15.0, -1.0)
    assert times.fastest(15.0) is None
    with pytest.raises(ConfigError):
        LookTimes(window_s=0.0)
    with pytest.raises(ConfigError):
        LookTimes(keep=0)


def test_a_frame_whose_look_did_not_fit_is_withheld_as_a_warn() -> None:
    live = verdict(Decision.ALLOW, 0.08, Reason("NSFW_PROBE", 0.08, "probe", ""), total=300.0)
    late = withheld_late(live, PictureRule(), CHILD, share=0.25, left_ms=175.0)
    assert late.decision is Decision.WARN and late.score == CHILD.warn_score
    assert late.reasons[0].code == PICTURE_LATE and "25% of the frame" in late.reasons[0].detail
    assert [r.code for r in late.reasons[1:]] == ["NSFW_PROBE"]
    assert late.timings_ms == {"total": 300.0, SKIPPED_PICTURE: 175.0} and not late.failed
    warn = verdict(Decision.WARN, 0.45)
    assert withheld_late(warn, PictureRule(), CHILD, share=0.3, left_ms=1.0).score == 0.45  # the larger
    blocked = verdict(Decision.BLOCK, 0.9)
    assert withheld_late(blocked, PictureRule(), CHILD, share=0.3, left_ms=1.0) is blocked

"""bench/stream_calibrate.py's grid: the warn rule is a setting like K, T, the margin and cut reopening."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from tools.calibrate_fusion import DEFAULT_MANIFEST

from captureguard.core.ledger import StreamSettings
from tests.tools import bench_modules


def _args(**kw: str) -> argparse.Namespace:
    base = {
        "kt": "5/1.0",
        "margins": "1.0",
        "cut": "off",
        "warn": "shut,withhold",
        "hold": "0",
        "baseline": "5,1.0,1.0,off",
    }
    return argparse.Namespace(**(base | kw))


def test_the_warn_rule_is_in_the_grid_and_named_only_when_it_differs() -> None:
    sc = bench_modules.load("stream_calibrate")
    grid = sc.candidates(_args())
    assert sorted(grid) == ["K5 T1 margin1 cut-off", "K5 T1 margin1 cut-off warn-withhold"]
    assert grid["K5 T1 margin1 cut-off"].warn_shuts is True  # the earlier reports' names still match
    assert grid["K5 T1 margin1 cut-off warn-withhold"].warn_shuts is False
    assert sc.baseline(_args(baseline="3,0.5,1.0,off,withhold")).warn_shuts is False
    # "shut": every warn shuts (warn_run 1, v2.5); v2.6 shipped "run2", v2.7 "run4"
    assert sc.baseline(_args()) == StreamSettings(reopen_checks=5, reopen_s=1.0, warn_run=1, warn_window=0)
    in_a_row = StreamSettings(reopen_checks=5, reopen_s=1.0, warn_window=0)  # v2.7-v2.14
    assert sc.baseline(_args(baseline="5,1.0,1.0,off,run4")) == in_a_row
    assert sc.baseline(_args(baseline="5,1.0,1.0,off,run4/8")) == StreamSettings(reopen_checks=5, reopen_s=1.0)
    assert sc.baseline(_args(baseline="5,1.0,1.0,off,run2")).warn_run == 2
    with pytest.raises(SystemExit, match="--warn"):
        sc.candidates(_args(warn="sometimes"))


def test_a_warn_run_is_in_the_grid_by_name() -> None:
    sc = bench_modules.load("stream_calibrate")
    grid = sc.candidates(_args(warn="shut,run2"))
    assert sorted(grid) == ["K5 T1 margin1 cut-off", "K5 T1 margin1 cut-off warn-run2"]
    assert grid["K5 T1 margin1 cut-off warn-run2"].warn_run == 2
    assert grid["K5 T1 margin1 cut-off warn-run2"].warn_shuts is True
    assert grid["K5 T1 margin1 cut-off"].warn_run == 1
    assert sc.baseline(_args(baseline="5,1.0,1.0,off,run3")).warn_run == 3
    with pytest.raises(SystemExit, match="--warn"):
        sc.candidates(_args(warn="runs"))


def test_a_warn_window_is_in_the_grid_by_name() -> None:
    sc = bench_modules.load("stream_calibrate")
    grid = sc.candidates(_args(warn="run4,run4/8", baseline="5,1.0,1.0,off,run4"))
    base = "K5 T1 margin1 cut-off warn-run4"
    assert sorted(grid) == [base, f"{base}of8"]
    assert (grid[f"{base}of8"].warn_run, grid[f"{base}of8"].warn_window) == (4, 8)
    assert grid[base].warn_window == 0  # the earlier reports' names still match
    for bad in ("run4/", "run4/x", "run/8"):
        with pytest.raises(SystemExit, match="--warn"):
            sc.candidates(_args(warn=bad))


def test_a_recording_hold_is_in_the_grid_by_name() -> None:
    sc = bench_modules.load("stream_calibrate")
    grid = sc.candidates(_args(warn="run4", hold="0,0.5,flag:0.33", baseline="5,1.0,1.0,off,run4"))
    base = "K5 T1 margin1 cut-off warn-run4"
    assert sorted(grid) == [base, f"{base} hold-flag0.33", f"{base} hold0.5"]
    assert grid[base].hold_s == 0.0  # no hold: the earlier reports' names still match
    assert (grid[f"{base} hold0.5"].hold_s, grid[f"{base} hold0.5"].hold_after) == (0.5, "shut")
    assert (grid[f"{base} hold-flag0.33"].hold_s, grid[f"{base} hold-flag0.33"].hold_after) == (0.33, "flag")
    for bad in ("soon", "later:0.3"):
        with pytest.raises(SystemExit, match="--hold"):
            sc.candidates(_args(hold=bad))


def test_a_budget_holds_the_safe_videos_to_what_the_models_shipped_before_withheld() -> None:
    """Without ``--budget`` the allowance is the baseline's s/min in the same run plus the slack; with
    it, the budget's: a change of models that withholds more safe video everywhere cannot buy its
    leaks back with a baseline that moved with it."""
    sc = bench_modules.load("stream_calibrate")
    args = _args(warn="run2,run3", baseline="5,1.0,1.0,off,run2")
    args.slack, args.slack_min, args.unsure_max, args.budget = 0.10, 0.25, 0.005, None
    grid = sc.candidates(args)
    run2, run3 = "K5 T1 margin1 cut-off warn-run2", "K5 T1 margin1 cut-off warn-run3"
    raw = {
        "block_score": [0.5],
        "people": [{"allowed": True, "score": 0.01}],
        # one minute of safe video: run2 withholds 6 s, run3 5.4 s
        "videos": [{"name": "v", "frames": 600, "fps": 10.0, run2: {"withheld": 60}, run3: {"withheld": 54}}],
        "clips": [
            {
                "name": "c",
                "blocked_as_still": True,
                "substantial": 60,
                run2: {"leaked": 3, "released": 10, "safe_withheld": 0},
                run3: {"leaked": 5, "released": 12, "safe_withheld": 0},
            }
        ],
    }
    assert sc.allowance(6.0, args) == pytest.approx(6.6)
    assert sc.choose(raw, grid, run2, args) == run2  # both within 6.6 s/min: fewest leaks
    args.budget = 5.0  # the shipped models withheld 5.0 s/min: at most 5.5
    assert sc.allowance(6.0, args) == pytest.approx(5.5)
    assert sc.choose(raw, grid, run2, args) == run3
    args.budget = 4.0  # every setting over 4.4 s/min: none is allowed, the baseline is kept (it was a crash)
    assert sc.within(raw, grid, run2, args) == []
    assert sc.choose(raw, grid, run2, args) == run2


def test_second_looks_are_in_the_grid_by_suffix_and_the_first_is_the_baselines() -> None:
    """v2.10: the live check's second look is a candidate dimension: ``shipped`` (as configured, no
    suffix), ``off`` and FROM/MIN_SHARE/OFFSET rules; the first listed is the baseline's."""
    from captureguard.core.second_look import PictureRule

    sc = bench_modules.load("stream_calibrate")
    args = _args(warn="run4", baseline="5,1.0,1.0,off,run4", picture="off,shipped,0.05/0.2/1.39")
    grid = sc.candidates(args)
    base = "K5 T1 margin1 cut-off warn-run4"
    assert sorted(grid) == [base, base + " no-second-look", base + " pic0.05/0.2/1.39"]
    assert sc.baseline_name(args) == base + " no-second-look"
    looks = sc.pictures(args)
    assert sc.look_of(base, looks) == (None, False)  # the live check's own
    assert sc.look_of(base + " no-second-look", looks) == (None, True)
    assert sc.look_of(base + " pic0.05/0.2/1.39", looks) == (
        PictureRule(from_score=0.05, min_share=0.2, offset=1.39),
        False,
    )
    assert sc.baseline_name(_args(baseline="5,1.0,1.0,off,run4")) == base  # default: as configured
    with pytest.raises(SystemExit, match="--picture"):
        sc.pictures(_args(picture="0.05/0.2"))


def test_a_second_look_of_the_live_checks_own_set_is_named_and_built_apart() -> None:
    """``live:F/S/O``: the live check's full set reads the crop (no cascade, no look after it)."""
    from captureguard.core.fusion import FusionModel
    from captureguard.core.policy import Profile
    from captureguard.core.second_look import PictureRule
    from captureguard.guard.check import Checker, FirstStage, PictureCheck

    sc = bench_modules.load("stream_calibrate")
    looks = sc.pictures(_args(picture="0.05/0.2/1.39,live:0.05/0.2/0.5"))
    assert looks[" pic0.05/0.2/1.39"] == (PictureRule(from_score=0.05, min_share=0.2, offset=1.39), False)
    assert looks[" piclive:0.05/0.2/0.5"] == (PictureRule("live", 0.05, 0.2, 0.5), False)
    refined = sc.pictures(_args(picture="0.05/0.2/1.39/0.8"))
    assert refined == {" pic0.05/0.2/1.39/0.8": (PictureRule("photo", 0.05, 0.2, 1.39, refine=0.8), False)}
    head, profile = FusionModel(0.0, {}), Profile("t", block_score=0.5, warn_score=0.3)
    photo = Checker([], head, profile)
    live = Checker([], head, profile, first=FirstStage([], head, 0.1, 0), picture=PictureCheck(PictureRule(), photo))
    inners = sc.inner_checks(live, sc.inner_bases(live, looks))
    assert set(inners) == {"live"}
    assert inners["live"].first is None and inners["live"].picture is None and inners["live"].fusion is head
    assert sc.inner_bases(live, sc.pictures(_args(picture="off,0.05/0.2/1"))) == {}
    with pytest.raises(SystemExit, match="teen"):
        sc.inner_bases(live, sc.pictures(_args(picture="teen:0.05/0.2/1")))
    with pytest.raises(SystemExit, match="live@640"):
        sc.inner_bases(live, sc.pictures(_args(picture="live@640:0.05/0.2/1")))


def test_a_second_look_with_its_people_at_another_size_is_a_crop_check_of_its_own() -> None:
    """``photo@640:F/S/O``: the photo check with its people read at 640 is built once, apart from
    the configured photo check, and each fold's copy reads that fold's models."""
    from captureguard.core.second_look import PictureRule
    from captureguard.guard.check import Checker
    from captureguard.models.probe import NsfwProbeDetector

    sc = bench_modules.load("stream_calibrate")
    looks = sc.pictures(_args(picture="shipped,0.05/0.2/1.39,photo@640:0.05/0.2/1.39"))
    assert looks[" picphoto@640:0.05/0.2/1.39"] == (PictureRule("photo", 0.05, 0.2, 1.39, people_input=640), False)
    live = Checker.create(mode="live", profile="child")
    bases = sc.inner_bases(live, looks)
    assert set(bases) == {"photo@640"}  # plain "photo" is the configured crop check
    sizes = {
        d.people.settings.input_size
        for d in bases["photo@640"].detectors  # type: ignore[union-attr]
        if isinstance(d, NsfwProbeDetector) and d.people is not None
    }
    assert sizes == {640}
    assert sc.inner_checks(live, bases)["photo@640"] is bases["photo@640"]


def test_the_second_look_table_counts_a_tighter_crop_only_where_the_rule_reads_it() -> None:
    """bench/second_look.py's cached rows: [live score, live blocked, crop, share, tighter crop, its
    share of the crop]; a refine rule blocks on the tighter crop when the first does not block."""
    from captureguard.core.second_look import PictureRule

    sl = bench_modules.load("second_look")
    rows = [
        [0.2, False, 0.3, 0.5, 0.95, 0.4],  # the tighter crop blocks
        [0.2, False, 0.3, 0.5, 0.95, 0.85],  # ... but the picture fills most of the crop
        [0.2, False, 0.9, 0.5, None, 0.4],  # the first crop blocks
        [0.01, False, 0.3, 0.5, 0.95, 0.4],  # the live check is sure: no second look
        [0.2, True, None, None, None, None],  # the live check blocks
        [0.2, False, 0.3, 0.5],  # a row cached before tighter crops
    ]
    assert sl.blocked(rows, None).tolist() == [False, False, False, False, True, False]
    assert sl.blocked(rows, PictureRule(from_score=0.05)).tolist() == [False, False, True, False, True, False]
    refine = PictureRule(from_score=0.05, refine=0.8)
    assert sl.blocked(rows, refine).tolist() == [True, False, True, False, True, False]
    assert sl.parse_rule("live:0.05/0.2/1.5") == PictureRule("live", 0.05, 0.2, 1.5)
    assert sl.parse_rule("0.05/0.2/1.39/0.8") == PictureRule("photo", 0.05, 0.2, 1.39, refine=0.8)
    with pytest.raises(SystemExit):
        sl.parse_rule("0.05/0.2")
    with pytest.raises(SystemExit, match="cached"):
        sl.blocked(rows, PictureRule(refine=0.95))


@pytest.mark.skipif(not DEFAULT_MANIFEST.exists(), reason="the project's eval set is not beside the repository")
def test_the_second_look_cache_computes_missing_crop_checks_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/second_look.py's ``looks``: each inner check cached in its own file; the missing ones
    computed together (one live check per still); rows cached without tighter crops serve only
    rules that do not read them, rows with them serve both; rows of other fold models none."""
    sl = bench_modules.load("second_look")
    calls: list[tuple[str, tuple[str, ...], bool]] = []

    def fake(which: str, missing: list[str], *, tighter: bool) -> dict[str, list[list[object]]]:
        calls.append((which, tuple(missing), tighter))
        return {inner: [[0.1, False, 0.5 if "@" in inner else 0.4, 0.3, None, None]] for inner in missing}

    monkeypatch.setattr(sl, "CACHE", tmp_path / "looks")
    monkeypatch.setattr(sl, "compute_looks", fake)
    heads = tmp_path / "fold_heads.json"
    heads.write_text("{}")
    monkeypatch.setattr(sl.fit_heads, "FOLD_HEADS", heads)
    got = sl.looks("stills", ["photo", "photo@640"], tighter=False)
    assert calls == [("stills", ("photo", "photo@640"), False)]
    assert got["photo@640"][0][2] == 0.5 and got["photo"][0][2] == 0.4
    assert sorted(p.name for p in (tmp_path / "looks").iterdir()) == ["stills.json", "stills_photo@640.json"]
    sl.looks("stills", ["photo@640"], tighter=False)
    assert len(calls) == 1  # cached
    sl.looks("stills", ["photo@640"], tighter=True)  # the light rows cannot serve a refine rule
    assert calls[-1] == ("stills", ("photo@640",), True)
    sl.looks("stills", ["photo@640"], tighter=False)  # ... and the full rows serve both
    assert len(calls) == 2
    heads.write_text('{"live": {}}')  # re-fitted fold models: every cached row is stale
    sl.looks("stills", ["photo", "photo@640"], tighter=False)
    assert calls[-1] == ("stills", ("photo", "photo@640"), False)
    with pytest.raises(SystemExit, match="live@640"):
        sl.looks("stills", ["live@640"])

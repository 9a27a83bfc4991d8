"""bench/stream_calibrate.py's grid: the warn rule is a setting like K, T, the margin and cut reopening."""

from __future__ import annotations

import argparse

import pytest

from captureguard.core.ledger import StreamSettings
from tests.tools import bench_modules


def _args(**kw: str) -> argparse.Namespace:
    base = {"kt": "5/1.0", "margins": "1.0", "cut": "off", "warn": "shut,withhold", "baseline": "5,1.0,1.0,off"}
    return argparse.Namespace(**(base | kw))


def test_the_warn_rule_is_in_the_grid_and_named_only_when_it_differs() -> None:
    sc = bench_modules.load("stream_calibrate")
    grid = sc.candidates(_args())
    assert sorted(grid) == ["K5 T1 margin1 cut-off", "K5 T1 margin1 cut-off warn-withhold"]
    assert grid["K5 T1 margin1 cut-off"].warn_shuts is True  # the earlier reports' names still match
    assert grid["K5 T1 margin1 cut-off warn-withhold"].warn_shuts is False
    assert sc.baseline(_args(baseline="3,0.5,1.0,off,withhold")).warn_shuts is False
    # "shut": every warn shuts (warn_run 1, v2.5); the shipped rule since v2.6 is "run2"
    assert sc.baseline(_args()) == StreamSettings(reopen_checks=5, reopen_s=1.0, warn_run=1)
    assert sc.baseline(_args(baseline="5,1.0,1.0,off,run2")) == StreamSettings(reopen_checks=5, reopen_s=1.0)
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

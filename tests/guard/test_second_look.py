"""The live check's second look: the photo check run on the located picture's crop (v2.10)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from captureguard.core.detection import PICTURE_OUTER, Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.policy import Profile
from captureguard.core.second_look import PICTURE_CHECK, PictureRule
from captureguard.core.verdict import Decision
from captureguard.errors import ConfigError
from captureguard.evaluation.leaks import SecondLookMemo
from captureguard.guard.check import Checker, PictureCheck
from captureguard.models.base import load_picture_checks
from captureguard.testing import region

PROFILE = Profile("t", block_score=0.5, warn_score=0.3)
HEAD = FusionModel(-4.0, {"max:IMAGE_NSFW": 8.0})  # 0.5 at IMAGE_NSFW 0.5
BOX = (40.0, 20.0, 104.0, 68.0)  # 64 x 48 of a 160 x 96 frame: a fifth of it


def frame(index: int = 0) -> Frame:
    bgr = np.zeros((96, 160, 3), np.uint8)
    bgr[20:68, 40:104] = 200  # the "picture"
    return Frame.from_bgr(bgr, index=index, source="clip")


def located(score: float, box: tuple[float, float, float, float] | None = BOX) -> Detections:
    parts = [Detections.whole_image(score, height=96, width=160, model="probe")]
    if box is not None:
        parts.append(Detections.from_arrays(np.array([box], np.float32), [0.3], [PICTURE_OUTER], model="locator"))
    return Detections.concat(parts)


@dataclass
class Live:
    """The live check's one detector: the whole frame's score and (maybe) the located picture."""

    score: float
    box: tuple[float, float, float, float] | None = BOX
    name: str = "probe"

    def detect(self, frame: Frame) -> Detections:
        return located(self.score, self.box)


@dataclass
class Photo:
    """The inner check's detector: records what it was shown; a score, a region at (2, 2, 10, 10)."""

    score: float
    fail: Exception | None = None
    name: str = "photo"
    shown: list[tuple[int, ...]] = field(default_factory=list)
    pixels: list[float] = field(default_factory=list)

    def detect(self, frame: Frame) -> Detections:
        self.shown.append(frame.bgr.shape)
        self.pixels.append(float(frame.bgr.mean()))
        if self.fail is not None:
            raise self.fail
        return Detections.concat(
            [
                Detections.whole_image(self.score, height=frame.height, width=frame.width, model="photo"),
                region("FEMALE_BREAST_EXPOSED", 0.6, (2, 2, 10, 10), model="photo"),
            ]
        )


def checker(live: float, photo: Photo, rule: PictureRule | None = None) -> Checker:
    inner = Checker([photo], HEAD, PROFILE)  # type: ignore[list-item]
    return Checker([Live(live)], HEAD, PROFILE, picture=PictureCheck(rule or PictureRule(), inner))  # type: ignore[list-item]


def test_the_photo_check_of_the_located_crop_blocks_what_the_live_check_let_through() -> None:
    photo = Photo(0.9)
    seen = checker(0.2, photo).inspect(frame())
    assert photo.shown == [(48, 64, 3)] and photo.pixels == [200.0]  # exactly the box's pixels
    assert seen.verdict.decision is Decision.BLOCK
    assert seen.verdict.reasons[0].code == PICTURE_CHECK and "20% of the frame" in seen.verdict.reasons[0].detail
    assert any(k.startswith("picture:") for k in seen.verdict.timings_ms)
    # the crop's findings are reported in frame pixels (the stream guard follows them)
    part = seen.detections.with_label("FEMALE_BREAST_EXPOSED")
    assert part.xyxy.tolist() == [[42.0, 22.0, 50.0, 30.0]]


def test_a_safe_crop_leaves_the_live_verdict_with_the_larger_score() -> None:
    seen = checker(0.2, Photo(0.45)).inspect(frame())  # fused 0.40: between the warn and block scores
    assert seen.verdict.decision is Decision.WARN and seen.verdict.score == pytest.approx(0.401, abs=1e-3)
    seen = checker(0.2, Photo(0.01)).inspect(frame())
    assert seen.verdict.decision is Decision.ALLOW and seen.verdict.reasons[0].code != PICTURE_CHECK


@pytest.mark.parametrize(
    ("rule", "live", "box"),
    [
        (PictureRule(from_score=0.1), 0.2, BOX),  # the live check is sure enough (fused 0.08)
        (PictureRule(min_share=0.25), 0.2, BOX),  # the picture is too small a part of the frame
        (PictureRule(), 0.2, None),  # no picture located
        (PictureRule(), 0.7, BOX),  # the live check blocks already
    ],
)
def test_it_runs_only_when_the_rule_wants_it(
    rule: PictureRule, live: float, box: tuple[float, float, float, float] | None
) -> None:
    photo = Photo(0.9)
    inner = Checker([photo], HEAD, PROFILE)  # type: ignore[list-item]
    c = Checker([Live(live, box)], HEAD, PROFILE, picture=PictureCheck(rule, inner))  # type: ignore[list-item]
    seen = c.inspect(frame())
    assert photo.shown == []
    assert all(r.code != PICTURE_CHECK for r in seen.verdict.reasons)


def test_a_region_check_is_the_live_check_alone() -> None:
    photo = Photo(0.9)
    seen = checker(0.2, photo).inspect(frame(), region=(0.0, 0.0, 80.0, 60.0))
    assert photo.shown == [] and seen.verdict.decision is Decision.ALLOW


def test_a_failing_second_look_blocks() -> None:
    seen = checker(0.2, Photo(0.0, fail=RuntimeError("photo model gone"))).inspect(frame())
    assert seen.verdict.decision is Decision.BLOCK and seen.verdict.failed
    assert "photo model gone" in seen.verdict.reasons[0].detail


def test_the_offset_keeps_a_borderline_crop_from_blocking() -> None:
    assert checker(0.2, Photo(0.6), PictureRule(offset=2.0)).check(frame()).decision is Decision.ALLOW
    assert checker(0.2, Photo(0.6)).check(frame()).decision is Decision.BLOCK


def test_the_benchmark_memo_runs_each_crop_check_once_for_every_rule() -> None:
    photo = Photo(0.6)
    memo = SecondLookMemo(checker(0.2, photo))
    assert memo.inspect(frame()).verdict.decision is Decision.BLOCK  # the checker's own rule
    assert memo.with_rule(PictureRule(offset=2.0)).check(frame()).decision is Decision.ALLOW
    assert memo.with_rule(None, off=True).check(frame()).decision is Decision.ALLOW
    assert memo.with_rule(PictureRule(min_share=0.5)).check(frame()).decision is Decision.ALLOW
    assert len(photo.shown) == 1  # one crop check, re-joined under each rule
    memo.clear()
    memo.check(frame())
    assert len(photo.shown) == 2


def test_picture_check_tables_are_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "detectors.toml"
    path.write_text(
        '[[live.detectors]]\ntype = "nudenet"\n\n[live.picture_check]\nmode = "photo"\nfrom_score = 0.05\n'
        'min_share = 0.2\noffset = 1.4\nnote = "why"\n\n[[photo.detectors]]\ntype = "nudenet"\n'
    )
    assert load_picture_checks(path) == {"live": PictureRule("photo", 0.05, 0.2, 1.4)}
    path.write_text('[[live.detectors]]\ntype = "nudenet"\n\n[live.picture_check]\nmode = "live"\n')
    with pytest.raises(ConfigError, match="cannot run the \\[live\\] check itself"):
        load_picture_checks(path)
    path.write_text('[[live.detectors]]\ntype = "nudenet"\n\n[live]\npicture_check = 3\n')
    with pytest.raises(ConfigError):
        load_picture_checks(path)


def test_the_shipped_detectors_file_parses() -> None:
    rules = load_picture_checks()
    assert set(rules) <= {"live"}
    for rule in rules.values():
        assert rule.mode == "photo"

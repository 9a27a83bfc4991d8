"""The live check's second look: the photo check run on the located picture's crop (v2.10)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

from captureguard.core.detection import PICTURE_OUTER, Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.ledger import StreamSettings
from captureguard.core.policy import Profile
from captureguard.core.second_look import PICTURE_CHECK, PICTURE_LATE, SKIPPED_PICTURE, SKIPPED_TIGHTER, PictureRule
from captureguard.core.verdict import Decision
from captureguard.errors import ConfigError
from captureguard.evaluation.leaks import FILE_DEADLINE_S, SecondLookMemo
from captureguard.guard.check import Checker, Inspection, PictureCheck
from captureguard.guard.stream import StreamGuard
from captureguard.models.base import load_picture_checks, with_people_input
from captureguard.models.probe import NsfwProbeDetector
from captureguard.models.yolo import YoloDetector
from captureguard.testing import region

PROFILE = Profile("t", block_score=0.5, warn_score=0.3)
HEAD = FusionModel(-4.0, {"max:IMAGE_NSFW": 8.0})  # 0.5 at IMAGE_NSFW 0.5
BOX = (40.0, 20.0, 104.0, 68.0)  # 64 x 48 of a 160 x 96 frame: a fifth of it
HELD = PictureRule(late="withhold")  # the look held to the check's deadline (measured, not shipped)


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
    """The inner check's detector: records what it was shown; a score, a region at (2, 2, 10, 10);
    taking ``sleep_s`` per crop first (a slow look)."""

    score: float
    fail: Exception | None = None
    name: str = "photo"
    shown: list[tuple[int, ...]] = field(default_factory=list)
    pixels: list[float] = field(default_factory=list)
    sleep_s: float = 0.0

    def detect(self, frame: Frame) -> Detections:
        time.sleep(self.sleep_s)
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


def test_the_benchmarks_long_deadline_leaves_the_look_as_it_was() -> None:
    """The replaying benchmarks hold checks to 120 s (``FILE_DEADLINE_S``): every look fits, so their
    numbers are those of a look without a deadline."""
    photo = Photo(0.6)
    memo = SecondLookMemo(checker(0.2, photo, HELD))
    free = memo.inspect(frame()).verdict
    held = memo.inspect(frame(), within_ms=FILE_DEADLINE_S * 1e3).verdict
    assert (held.decision, held.score, [r.code for r in held.reasons]) == (
        free.decision,
        free.score,
        [r.code for r in free.reasons],
    )
    assert held.decision is Decision.BLOCK and SKIPPED_PICTURE not in held.timings_ms


def test_the_memo_reads_a_rule_of_another_mode_with_that_modes_inner_check() -> None:
    """A benchmark comparing the photo check and the live check's own set on the crop: each rule's
    crop is read by the check its mode names, each crop check memoised under its mode."""
    photo, other = Photo(0.6), Photo(0.05)
    memo = SecondLookMemo(checker(0.2, photo), inners={"live": Checker([other], HEAD, PROFILE)})  # type: ignore[list-item]
    assert memo.check(frame()).decision is Decision.BLOCK  # configured (photo): 0.6 blocks
    assert memo.with_rule(PictureRule("live")).check(frame()).decision is Decision.ALLOW  # 0.05 does not
    assert memo.with_rule(PictureRule("live")).check(frame()).decision is Decision.ALLOW
    assert (len(photo.shown), len(other.shown)) == (1, 1)


def test_picture_check_tables_are_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "detectors.toml"
    path.write_text(
        '[[live.detectors]]\ntype = "nudenet"\n\n[live.picture_check]\nmode = "photo"\nfrom_score = 0.05\n'
        'min_share = 0.2\noffset = 1.4\nnote = "why"\n\n[[photo.detectors]]\ntype = "nudenet"\n'
    )
    assert load_picture_checks(path) == {"live": PictureRule("photo", 0.05, 0.2, 1.4)}
    path.write_text('[[live.detectors]]\ntype = "nudenet"\n\n[live.picture_check]\nmode = "live"\n')
    assert load_picture_checks(path) == {"live": PictureRule("live")}  # its own full set on the crop
    path.write_text('[[live.detectors]]\ntype = "nudenet"\n\n[live.picture_check]\nmode = "live"\nfrom = 0.1\n')
    with pytest.raises(ConfigError, match="unknown keys"):
        load_picture_checks(path)
    path.write_text('[[live.detectors]]\ntype = "nudenet"\n\n[live]\npicture_check = 3\n')
    with pytest.raises(ConfigError):
        load_picture_checks(path)


def test_the_shipped_detectors_file_parses() -> None:
    rules = load_picture_checks()
    assert set(rules) <= {"live"}
    for rule in rules.values():
        assert rule.mode == "photo"


def test_a_rule_of_the_checks_own_mode_reads_the_crop_with_its_full_set(tmp_path: Path) -> None:
    """``mode = "live"`` under ``[live.picture_check]``: the live check's own detectors and head on the
    crop, without its cascade or a further look (the same objects: no model loaded twice)."""
    shipped = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data" / "detectors.toml"
    text = shipped.read_text().replace('[live.picture_check]\nmode = "photo"', '[live.picture_check]\nmode = "live"')
    assert 'mode = "live"' in text
    path = tmp_path / "detectors.toml"
    path.write_text(text)
    live = Checker.create(mode="live", detectors_path=path)
    assert live.picture is not None and live.picture.rule.mode == "live"
    inner = live.picture.checker
    assert inner.first is None and inner.picture is None and inner.fusion is live.fusion
    assert len(inner.detectors) == len(live.detectors)
    assert all(a is b for a, b in zip(inner.detectors, live.detectors, strict=True))
    v = live.check(frame())
    assert v.decision in set(Decision) and not v.failed
    live.close()


def test_the_crop_checks_people_are_read_at_the_rules_input_size(tmp_path: Path) -> None:
    """``people_input = 640``: the second look's photo check reads people at 640 (its table says
    960); NudeNet's own input and the live check's detectors are unchanged, and a rule of the live
    check's own set cannot resize its people (they are the live check's)."""
    shipped = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data" / "detectors.toml"
    text = shipped.read_text()
    assert "[live.picture_check]\n" in text
    path = tmp_path / "detectors.toml"
    path.write_text(text.replace("[live.picture_check]\n", "[live.picture_check]\npeople_input = 640\n"))

    def people(c: Checker) -> list[int]:
        return [d.people.settings.input_size for d in c.detectors if isinstance(d, NsfwProbeDetector) and d.people]

    def nudenet(c: Checker) -> list[int]:
        return [d.settings.input_size for d in c.detectors if isinstance(d, YoloDetector)]

    live = Checker.create(mode="live", detectors_path=path)
    assert live.picture is not None and live.picture.rule.people_input == 640
    inner, photo = live.picture.checker, Checker.create(mode="photo", detectors_path=path)
    assert people(photo) == [960] and people(inner) == [640]
    assert nudenet(inner) == nudenet(photo) == [640]
    assert people(live) == [640] and live.picture.checker.detectors[0] is live.detectors[0]  # NudeNet shared
    v = live.check(frame())
    assert v.decision in set(Decision) and not v.failed
    live.close()
    own = text.replace(
        '[live.picture_check]\nmode = "photo"', '[live.picture_check]\nmode = "live"\npeople_input = 320'
    )
    path.write_text(own)
    with pytest.raises(ConfigError, match="people_input"):
        Checker.create(mode="live", detectors_path=path)


def test_with_people_input_resizes_only_person_detectors() -> None:
    assert with_people_input({"type": "nsfw_probe", "input_size": 960}, 640) == {
        "type": "nsfw_probe",
        "input_size": 640,
    }
    assert with_people_input({"type": "person_crops"}, 480)["input_size"] == 480
    assert with_people_input({"type": "nsfw_probe", "max_crops": 0}, 640) == {"type": "nsfw_probe", "max_crops": 0}
    assert with_people_input({"type": "nudenet", "input_size": 640}, 320) == {"type": "nudenet", "input_size": 640}


@dataclass
class Zoomed(Photo):
    """The inner check's detector on a crop that holds a smaller picture: on the first crop (48 x 64)
    it scores ``score`` and locates the picture at (8, 8, 40, 32) of the crop; elsewhere ``tighter``."""

    tighter: float = 0.0

    def detect(self, frame: Frame) -> Detections:
        found = super().detect(frame)
        if frame.bgr.shape[:2] != (48, 64):
            return Detections.whole_image(self.tighter, height=frame.height, width=frame.width, model="photo")
        box = np.array([[8.0, 8.0, 40.0, 32.0]], np.float32)
        return Detections.concat([found, Detections.from_arrays(box, [0.4], [PICTURE_OUTER], model="locator")])


def small_picture_frame() -> Frame:
    bgr = np.zeros((96, 160, 3), np.uint8)
    bgr[20:68, 40:104] = 100  # what the live locator found
    bgr[28:52, 48:80] = 250  # the picture inside it
    return Frame.from_bgr(bgr, source="clip")


def zoomed_checker(zoom: Zoomed, refine: float, *, within_ms: float = 0.0) -> Checker:
    inner = Checker([zoom], HEAD, PROFILE)  # type: ignore[list-item]
    rule = PictureRule(refine=refine, refine_within_ms=within_ms)
    return Checker([Live(0.2)], HEAD, PROFILE, picture=PictureCheck(rule, inner))  # type: ignore[list-item]


def test_the_tighter_crop_is_left_out_when_it_would_not_fit_the_time_limit() -> None:
    """The first crop took >= 50 ms, so the tighter one is estimated at >= 100 ms more: over a 90 ms
    limit, the first look's verdict stands (it allows here) and the estimate is recorded; with room it is read."""
    late = Zoomed(0.3, sleep_s=0.05, tighter=0.9)
    seen = zoomed_checker(late, refine=0.8, within_ms=90.0).inspect(small_picture_frame())
    assert late.shown == [(48, 64, 3)] and seen.verdict.decision is Decision.ALLOW
    assert seen.verdict.timings_ms[SKIPPED_TIGHTER] >= 100.0
    assert all(not k.startswith("picture2:") for k in seen.verdict.timings_ms)
    in_time = Zoomed(0.3, sleep_s=0.05, tighter=0.9)
    seen = zoomed_checker(in_time, refine=0.8, within_ms=60_000.0).inspect(small_picture_frame())
    assert in_time.shown == [(48, 64, 3), (24, 32, 3)] and seen.verdict.decision is Decision.BLOCK
    assert SKIPPED_TIGHTER not in seen.verdict.timings_ms


def test_a_benchmark_replaying_recorded_checks_gates_on_their_recorded_times() -> None:
    """Without ``spent_ms`` the whole frame's recorded total counts, plus the first crop's recorded one."""
    c = zoomed_checker(Zoomed(0.3, tighter=0.9), refine=0.8, within_ms=300.0)
    f = small_picture_frame()
    seen = replace(c, picture=None).inspect(f)
    seen = Inspection(seen.verdict.with_timings(total=100.0), seen.detections, None)

    def took(ms: float) -> Callable[[Frame, tuple[int, int, int, int]], Inspection]:
        def read(at: Frame, window: tuple[int, int, int, int]) -> Inspection:
            found = c.picture_inspection(at, window)
            return Inspection(found.verdict.with_timings(total=ms), found.detections, None)

        return read

    assert c.look_again(f, seen, crop_check=took(100.0)).verdict.decision is Decision.BLOCK  # 100 + 2 x 100
    over = c.look_again(f, seen, crop_check=took(101.0)).verdict
    assert over.decision is Decision.ALLOW and over.timings_ms[SKIPPED_TIGHTER] == pytest.approx(302.0)
    assert c.look_again(f, seen, crop_check=took(101.0), spent_ms=0.0).verdict.decision is Decision.BLOCK


def test_a_picture_located_inside_the_crop_is_read_again_tighter() -> None:
    zoom = Zoomed(0.3, tighter=0.9)
    seen = zoomed_checker(zoom, refine=0.8).inspect(small_picture_frame())
    assert zoom.shown == [(48, 64, 3), (24, 32, 3)] and zoom.pixels[1] == 250.0  # exactly the inner box
    assert seen.verdict.decision is Decision.BLOCK and seen.verdict.reasons[0].code == PICTURE_CHECK
    assert "5% of the frame" in seen.verdict.reasons[0].detail  # 24 x 32 of 96 x 160
    assert any(k.startswith("picture2:") for k in seen.verdict.timings_ms)
    # the inner locator's box is reported in frame pixels, from the first crop's offset
    assert seen.detections.with_label(PICTURE_OUTER).xyxy.tolist()[-1] == [48.0, 28.0, 80.0, 52.0]


def test_the_tighter_crop_is_not_read_when_off_or_when_the_first_crop_blocks_or_fails() -> None:
    for zoom, refine in ((Zoomed(0.3, tighter=0.9), 0.0), (Zoomed(0.3, tighter=0.9), 0.2), (Zoomed(0.95), 0.8)):
        seen = zoomed_checker(zoom, refine).inspect(small_picture_frame())
        assert zoom.shown == [(48, 64, 3)]  # off; the picture fills 25% of the crop, not under 20%; blocked
        assert all(not k.startswith("picture2:") for k in seen.verdict.timings_ms)
    failing = Checker([Photo(0.0, fail=RuntimeError("gone"))], HEAD, PROFILE)  # type: ignore[list-item]
    c = Checker([Live(0.2)], HEAD, PROFILE, picture=PictureCheck(PictureRule(refine=0.9), failing))  # type: ignore[list-item]
    assert c.check(small_picture_frame()).failed


def test_the_memo_keeps_both_crops_of_a_frame() -> None:
    zoom = Zoomed(0.3, tighter=0.9)
    memo = SecondLookMemo(zoomed_checker(zoom, refine=0.8))
    assert memo.check(small_picture_frame()).decision is Decision.BLOCK
    assert memo.with_rule(PictureRule()).check(small_picture_frame()).decision is Decision.ALLOW  # no refine
    assert memo.with_rule(PictureRule(refine=0.5)).check(small_picture_frame()).decision is Decision.BLOCK
    assert len(zoom.shown) == 2  # each crop checked once


def test_a_look_past_what_is_left_of_the_deadline_is_left_out_and_the_frame_withheld() -> None:
    """Held to 100 ms, a 200 ms look is abandoned at 95 ms (95% of the deadline less what the whole
    frame took) and the frame withheld as a warn that says why; once that look has ended and been
    timed, the next one is not started at all. With room, or without a deadline, it runs; under
    ``late = "run"`` it runs regardless, as v2.10 did."""
    photo = Photo(0.9, sleep_s=0.2)
    c = checker(0.2, photo, HELD)
    t0 = time.perf_counter()
    late = c.inspect(frame(), within_ms=100.0).verdict
    assert time.perf_counter() - t0 < 0.18  # not waited for
    assert late.decision is Decision.WARN and late.reasons[0].code == PICTURE_LATE and not late.failed
    assert 0.0 < late.timings_ms[SKIPPED_PICTURE] <= 95.0
    time.sleep(0.25)  # the abandoned look ends and is timed
    assert c.picture is not None and (c.picture.fastest_ms() or 0.0) >= 200.0
    assert c.inspect(frame(), within_ms=100.0).verdict.reasons[0].code == PICTURE_LATE
    assert len(photo.shown) == 1  # not started
    assert c.inspect(frame(), within_ms=1000.0).verdict.decision is Decision.BLOCK and len(photo.shown) == 2
    assert c.inspect(frame()).verdict.decision is Decision.BLOCK and len(photo.shown) == 3  # no deadline
    c.close()
    run = Photo(0.9, sleep_s=0.2)
    c = checker(0.2, run)  # as shipped: "run"
    assert c.inspect(frame(), within_ms=100.0).verdict.decision is Decision.BLOCK and len(run.shown) == 1
    c.close()


def test_the_checkers_own_deadline_is_the_looks_budget() -> None:
    photo = Photo(0.9)
    c = replace(checker(0.2, photo, HELD), deadline_s=10.0)
    assert c.picture is not None
    with c.picture._lock:
        c.picture.times.record(time.monotonic(), 9_600.0)  # the fastest recent look: more than 95% of 10 s
    assert c.inspect(frame()).verdict.reasons[0].code == PICTURE_LATE and photo.shown == []
    c.close()
    c = replace(checker(0.2, photo, HELD), deadline_s=10.0)
    assert c.inspect(frame()).verdict.decision is Decision.BLOCK and len(photo.shown) == 1  # room enough
    c.close()


def test_a_stream_whose_looks_overrun_withholds_frames_instead_of_timing_out() -> None:
    """Each look takes 300 ms against the stream's 200 ms deadline. As v2.10 ran it (``late =
    "run"``) every check times out: a failure block that shuts the stream. Holding the look to the
    deadline, the frames whose looks do not fit are withheld as warns instead: no timeouts."""

    def run(late: str) -> list[str]:
        photo = Photo(0.01, sleep_s=0.3)
        settings = StreamSettings(max_gap=0, schedule="lockstep")
        guard = StreamGuard(checker(0.2, photo, PictureRule(late=late)), settings, deadline_s=0.2)
        try:
            for i in range(6):
                guard.submit(frame(i))
            guard.finish()
        finally:
            guard.close()
        return [reasons[0] for _, _, reasons in guard.stats.block_events]

    assert run("run") == ["timeout"] * 6
    held = run("withhold")
    assert held.count("timeout") <= 1 and held.count(PICTURE_LATE) >= 5  # a busy machine may miss once

"""The live check's hand pass: a flagged frame is checked again with its hands painted out."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pytest

from captureguard.core.detection import HAND, PICTURE_OUTER, Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.hands import HANDS_EXPLAINED, HANDS_TIMING, Hand, HandRule, Painted, pictures_kept, unmasked
from captureguard.core.ledger import StreamSettings
from captureguard.core.policy import Profile
from captureguard.core.verdict import Decision
from captureguard.errors import ConfigError
from captureguard.evaluation.leaks import SecondLookMemo
from captureguard.guard.check import Checker, Inspection
from captureguard.guard.stream import StreamGuard
from captureguard.models.base import load_hand_rules

PROFILE = Profile("t", block_score=0.5, warn_score=0.3)
HEAD = FusionModel(-4.0, {"max:IMAGE_NSFW": 8.0})  # 0.5 at IMAGE_NSFW 0.5
SKIN = 200  # the "skin" the fake classifier reads as nude


def frame(*, body: bool = False, index: int = 0) -> Frame:
    """A 96 x 160 frame with a "hand" (skin at rows 10-40, columns 10-40) and maybe a "body" beside it."""
    bgr = np.zeros((96, 160, 3), np.uint8)
    bgr[10:40, 10:40] = SKIN
    if body:
        bgr[50:90, 100:150] = SKIN
    return Frame.from_bgr(bgr, index=index, source="clip")


@dataclass
class Skin:
    """A whole-image classifier: ``nude`` when any skin is in view, else ``clear``."""

    nude: float = 0.9
    clear: float = 0.01
    name: str = "skin"
    seen: list[float] = field(default_factory=list)

    def detect(self, frame: Frame) -> Detections:
        self.seen.append(float(frame.bgr.mean()))
        score = self.nude if (frame.bgr == SKIN).any() else self.clear
        return Detections.whole_image(score, height=frame.height, width=frame.width, model="skin")


@dataclass
class Hands:
    """A hand finder: one hand over the skin patch at (10-40, 10-40), painted out as zeros."""

    rule: HandRule = field(default_factory=HandRule)
    found: int = 1
    fail: Exception | None = None
    calls: int = 0

    def find(self, bgr: np.ndarray) -> list[Hand]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        pts = np.tile([[25.0, 20.0]], (21, 1))
        pts[0], pts[12] = (25.0, 39.0), (25.0, 10.0)
        return [Hand(0.95, pts)] * self.found

    kept: list[list[list[float]]] = field(default_factory=list)

    def paint_out(self, bgr: np.ndarray, hands: list[Hand], *, keep: np.ndarray | None = None) -> Painted:
        """Zeros over the skin patch, except inside the located pictures it does not fill."""
        mask = np.zeros(bgr.shape[:2], np.uint8)
        mask[10:40, 10:40] = 255
        pictures = np.zeros((0, 4)) if keep is None else np.asarray(keep, np.float64).reshape(-1, 4)
        kept = pictures_kept(mask, pictures, self.rule)
        self.kept.append(kept.tolist())
        mask = unmasked(mask, kept)
        out = bgr.copy()
        out[mask > 0] = 0
        return Painted(out, float((mask > 0).mean()), len(pictures) - len(kept))


def checker(hands: Hands | None = None, skin: Skin | None = None, **kw: object) -> Checker:
    return Checker([skin or Skin()], HEAD, PROFILE, hands=hands or Hands(), **kw)  # type: ignore[list-item, arg-type]


def test_a_frame_flagged_only_for_its_hand_is_allowed_and_says_why() -> None:
    skin = Skin()
    seen = checker(skin=skin).inspect(frame())
    v = seen.verdict
    assert v.decision is Decision.ALLOW and v.score < 0.1
    assert v.reasons[0].code == HANDS_EXPLAINED and "1 hand in view" in v.reasons[0].detail
    assert HANDS_TIMING in v.timings_ms and f"{HANDS_TIMING}:total" not in v.timings_ms  # the inner look's own
    assert any(k.startswith(f"{HANDS_TIMING}:detect:") for k in v.timings_ms)
    assert skin.seen[1] == 0.0  # the second check saw the painted copy
    assert seen.detections.with_label(HAND).xyxy.tolist() == [[25.0, 10.0, 25.0, 39.0]]


def test_evidence_beyond_the_hands_keeps_the_frame_withheld() -> None:
    seen = checker().inspect(frame(body=True))  # the body is still in view once the hand is painted out
    assert seen.verdict.decision is Decision.BLOCK
    assert all(r.code != HANDS_EXPLAINED for r in seen.verdict.reasons)
    assert HANDS_TIMING in seen.verdict.timings_ms  # it did look


def test_a_painted_frame_that_is_only_just_allowed_does_not_explain_the_flag() -> None:
    # without the hand the classifier reads 0.363: fused 0.25, allowed (under the warn score 0.3)
    # but not clearly: over the shipped rule's line (clear_below x 0.3)
    assert HandRule().clear_below * PROFILE.warn_score < 0.25
    seen = checker(skin=Skin(clear=0.363)).inspect(frame())
    assert seen.verdict.decision is Decision.BLOCK
    seen = checker(skin=Skin(clear=0.363), hands=Hands(rule=HandRule(clear_below=1.0))).inspect(frame())
    assert seen.verdict.decision is Decision.ALLOW  # a looser rule would


@dataclass
class SkinInPicture(Skin):
    """:class:`Skin`, and a picture located at ``box``: around the hand (a painting held up to the
    camera), or on the hand itself (the locator firing on its skin)."""

    box: tuple[float, float, float, float] = (5.0, 5.0, 45.0, 45.0)

    def detect(self, frame: Frame) -> Detections:
        located = Detections.from_arrays(np.array([self.box], np.float32), [0.4], [PICTURE_OUTER], model="locator")
        return Detections.concat([super().detect(frame), located])


def test_a_hand_inside_a_located_picture_is_not_painted_out() -> None:
    hands = Hands()
    seen = checker(hands, SkinInPicture()).inspect(frame())
    assert seen.verdict.decision is Decision.BLOCK and HANDS_TIMING in seen.verdict.timings_ms
    assert hands.kept == [[[5.0, 5.0, 45.0, 45.0]]]  # 56% of it is hand: the located picture was kept


def test_a_located_picture_that_is_mostly_the_hand_is_painted_with_it() -> None:
    hands = Hands()
    seen = checker(hands, SkinInPicture(box=(8.0, 8.0, 42.0, 42.0))).inspect(frame())  # 78% hand
    assert seen.verdict.decision is Decision.ALLOW and hands.kept == [[]]
    assert seen.verdict.reasons[0].detail.endswith("1 located picture was the hand itself")
    hands = Hands(rule=HandRule(picture_is_hand=0.8))  # a stricter rule keeps it
    assert checker(hands, SkinInPicture(box=(8.0, 8.0, 42.0, 42.0))).inspect(frame()).verdict.decision is Decision.BLOCK


def test_no_hand_no_pass_and_allowed_frames_are_not_looked_at() -> None:
    hands = Hands(found=0)
    seen = checker(hands).inspect(frame())
    assert seen.verdict.decision is Decision.BLOCK and HANDS_TIMING in seen.verdict.timings_ms  # it looked
    hands = Hands()
    clear = Frame.from_bgr(np.zeros((96, 160, 3), np.uint8), source="clip")
    assert checker(hands).inspect(clear).verdict.decision is Decision.ALLOW and hands.calls == 0


def test_a_failing_hand_pass_leaves_the_frame_withheld(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        seen = checker(Hands(fail=RuntimeError("palm detector broke"))).inspect(frame())
    assert seen.verdict.decision is Decision.BLOCK and not seen.verdict.failed
    assert "hand pass of clip failed, its verdict stands: palm detector broke" in caplog.text


def test_failed_checks_and_region_checks_get_no_hand_pass() -> None:
    hands = Hands()

    @dataclass
    class Broken:
        name: str = "broken"

        def detect(self, frame: Frame) -> Detections:
            raise RuntimeError("model gone")

    failed = Checker([Broken()], HEAD, PROFILE, hands=hands).inspect(frame())  # type: ignore[list-item, arg-type]
    assert failed.verdict.failed and failed.verdict.decision is Decision.BLOCK and hands.calls == 0
    region = checker(hands).inspect(frame(), region=(0.0, 0.0, 60.0, 60.0))
    assert region.verdict.decision is Decision.BLOCK and hands.calls == 0


def test_a_pass_that_cannot_fit_the_deadline_is_not_started() -> None:
    hands = Hands()
    c = checker(hands)
    seen = c._looked(frame(), None, None)
    assert c.explain_hands(frame(), seen, spent_ms=300.0, budget_ms=500.0) is seen and hands.calls == 0
    assert c.explain_hands(frame(), seen, spent_ms=100.0, budget_ms=500.0).verdict.decision is Decision.ALLOW


def test_the_benchmarks_memo_runs_the_hand_pass_too() -> None:
    memo = SecondLookMemo(checker())
    assert memo.inspect(frame()).verdict.decision is Decision.ALLOW
    assert memo.own is not None and memo.own.hands is None  # the look itself, then the pass, as at run time


def test_a_stream_of_a_hand_held_up_is_released() -> None:
    guard = StreamGuard(checker(), StreamSettings(schedule="lockstep", max_gap=0))
    for i in range(6):
        guard.submit(frame(index=i))
    out = guard.collect() + guard.finish()
    assert len(out) == 6 and all(a.release.name in ("CHECKED", "COVERED") for a in out)


def test_the_shipped_live_check_has_a_hand_pass_and_bad_tables_are_refused(tmp_path: object) -> None:
    rules = load_hand_rules()
    assert set(rules) == {"live"} and rules["live"] == HandRule()
    from pathlib import Path

    bad = Path(str(tmp_path)) / "d.toml"
    bad.write_text('[live]\ndetectors = []\n[live.hands]\nforearm = "long"\n')
    with pytest.raises(ConfigError, match=r"\[live.hands\]"):
        load_hand_rules(bad)
    bad.write_text("[live]\ndetectors = []\nhands = 3\n")
    with pytest.raises(ConfigError, match="must be a table"):
        load_hand_rules(bad)


def test_inspection_type_is_unchanged() -> None:
    assert isinstance(checker().inspect(frame()), Inspection)

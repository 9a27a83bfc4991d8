"""Held-out checkers for the leak benchmark (bench/held_out.py): a fold's probe and heads swapped in."""

from __future__ import annotations

import numpy as np
import pytest

from captureguard.core.detection import Detections
from captureguard.core.fusion import Either, FusionModel
from captureguard.core.locator import PictureLocator
from captureguard.core.policy import load_profiles
from captureguard.core.probe import LinearProbe
from captureguard.guard.check import Checker, FirstStage
from captureguard.models.nsfwjs import NsfwjsDetector
from captureguard.models.probe import NsfwProbeDetector
from captureguard.testing import FakeDetector
from tests.tools import bench_modules


def _held_out_module():  # type: ignore[no-untyped-def]
    return bench_modules.load("held_out")


def _head(version: str, intercept: float) -> FusionModel:
    return FusionModel(intercept, {"nsfw_logit": 1.0}, version)


def _first_head(version: str, escalate_at: float) -> FusionModel:
    return FusionModel(0.0, {"nsfw_logit": 1.0}, version, {"cascade": {"escalate_at": escalate_at, "every": 10}})


def test_fold_checker_swaps_probe_and_heads_and_keeps_shared_detectors() -> None:
    held_out = _held_out_module()
    shipped_probe = LinearProbe(np.zeros(2048), 0.0, "shipped")
    shipped_scene = LinearProbe(np.zeros(2048), 0.0, "shipped-scene")
    probe_det = NsfwProbeDetector(None, object(), shipped_probe, max_crops=2, scene_probe=shipped_scene)  # type: ignore[arg-type]
    other = FakeDetector([Detections.empty()])
    first = FirstStage([probe_det], _head("first-shipped", 0.0), escalate_at=0.1, every=10)
    base = Checker([probe_det, other], _head("live-shipped", 0.0), load_profiles()["child"], None, first)
    fold_probe = LinearProbe(np.ones(2048), -1.0, "fold3")
    fold_scene = LinearProbe(np.ones(2048), -2.0, "scene-fold3")
    held = held_out.HeldOut(
        {"a.jpg": 3},
        {"live": {3: (fold_probe, fold_scene)}},
        {"live": {3: _head("live-fold3", 2.0)}, "live_first": {3: _first_head("first-fold3", 0.3)}},
    )
    swapped = held.checker(base, "live", held.fold("a.jpg"))
    assert swapped.fusion.version == "live-fold3"
    assert swapped.first is not None and swapped.first.fusion.version == "first-fold3"
    assert (swapped.first.escalate_at, swapped.first.every) == (0.3, 10)  # the fold set's own escalate_at
    new_probe_det = swapped.detectors[0]
    assert isinstance(new_probe_det, NsfwProbeDetector) and new_probe_det.probe is fold_probe
    assert new_probe_det.scene_probe is fold_scene
    assert swapped.first.detectors[0] is new_probe_det  # still one object: escalations reuse its detections
    assert swapped.detectors[1] is other  # detectors without a probe are the shipped ones
    assert probe_det.probe is shipped_probe and probe_det.scene_probe is shipped_scene  # the base is untouched
    assert base.fusion.version == "live-shipped"


def test_each_mode_gets_its_own_pair_of_fold_probes() -> None:
    """The photo path reads the pair fitted on people at 960, the live path the 640 pair: a fold
    checker of each mode carries that mode's fold probes, not the other's."""
    held_out = _held_out_module()
    shipped = LinearProbe(np.zeros(2048), 0.0, "shipped")
    det = NsfwProbeDetector(None, object(), shipped, max_crops=6, scene_probe=shipped)  # type: ignore[arg-type]
    pairs = {
        mode: (LinearProbe(np.ones(2048), i, f"{mode}-fold1"), LinearProbe(np.ones(2048), -i, f"{mode}-scene-fold1"))
        for i, mode in enumerate(("photo", "live"))
    }
    held = held_out.HeldOut(
        {"a.jpg": 1},
        {mode: {1: pair} for mode, pair in pairs.items()},
        {mode: {1: _head(f"{mode}-fold1", 0.0)} for mode in pairs},
    )
    for mode, (plain, scene) in pairs.items():
        base = Checker([det], _head(f"{mode}-shipped", 0.0), load_profiles()["child"], None, None)
        got = held.checker(base, mode, 1).detectors[0]
        assert isinstance(got, NsfwProbeDetector) and got.probe is plain and got.scene_probe is scene


def test_fold_checker_swaps_the_picture_locator_too() -> None:
    """v2.5: the live probes read the located crop, so a held-out clip is checked with the locator
    fitted without its fold; a HeldOut without locators (the stills-only baseline) does not run it."""
    held_out = _held_out_module()
    shipped = LinearProbe(np.zeros(2048), 0.0, "shipped")
    ship_loc = PictureLocator(np.zeros(1024), np.zeros(1024), 0.0, version="shipped-locator")
    fold_loc = PictureLocator(np.ones(1024), np.zeros(1024), -1.0, version="locator-fold2")
    det = NsfwProbeDetector(None, object(), shipped, max_crops=2, scene_probe=shipped, locator=ship_loc)  # type: ignore[arg-type]
    base = Checker([det], _head("live-shipped", 0.0), load_profiles()["child"], None, None)
    pair = (LinearProbe(np.ones(2048), 0.0, "fold2"), LinearProbe(np.ones(2048), 0.0, "scene-fold2"))
    heads = {"live": {2: _head("live-fold2", 0.0)}}
    with_loc = held_out.HeldOut({"a.jpg": 2}, {"live": {2: pair}}, heads, {2: fold_loc})
    got = with_loc.checker(base, "live", 2).detectors[0]
    assert isinstance(got, NsfwProbeDetector) and got.locator is fold_loc
    assert det.locator is ship_loc  # the base is untouched
    without = held_out.HeldOut({"a.jpg": 2}, {"live": {2: pair}}, heads)
    got = without.checker(base, "live", 2).detectors[0]
    # the shipped locator stays (a three-block probe needs it) but is not run: no located crops
    assert isinstance(got, NsfwProbeDetector) and got.locator is ship_loc and got.locate is False


def test_fold_checker_swaps_the_nsfwjs_probes() -> None:
    """Since v2.8 the photo head reads a probe on nsfwjs' embedding, and a live head may read one on
    nsfwjs' embedding of the located picture: the fold checker carries that fold's probe of each
    (by the detector's crop), and refuses to build without one."""
    held_out = _held_out_module()
    pair = (LinearProbe(np.ones(2048), 0.0, "p1"), LinearProbe(np.ones(2048), 0.0, "s1"))
    probe_det = NsfwProbeDetector(None, object(), pair[0], max_crops=6, scene_probe=pair[1])  # type: ignore[arg-type]
    shipped = LinearProbe(np.zeros(2048), 0.0, "nsfwjs-shipped")
    njs = NsfwjsDetector(object(), probe=shipped)  # type: ignore[arg-type]
    base = Checker([probe_det, njs], _head("photo-shipped", 0.0), load_profiles()["child"], None, None)
    fold_njs = LinearProbe(np.ones(2048), -1.0, "nsfwjs-fold4")
    heads = {"photo": {4: _head("photo-fold4", 0.0)}}
    fold_pic = LinearProbe(np.ones(2048), -2.0, "nsfwjs-picture-fold4")
    held = held_out.HeldOut(
        {"a.jpg": 4}, {"photo": {4: pair}}, heads, None, {"": {4: fold_njs}, "picture": {4: fold_pic}}
    )
    got = held.checker(base, "photo", 4).detectors[1]
    assert isinstance(got, NsfwjsDetector) and got.probe is fold_njs and got.model is njs.model
    assert njs.probe is shipped  # the base is untouched
    pic = NsfwjsDetector(object(), probe=shipped, crop="picture")  # type: ignore[arg-type]
    live = Checker([pic], _head("live-shipped", 0.0), load_profiles()["child"], None, None)
    heads_live = {"live": {4: _head("live-fold4", 0.0)}}
    held_live = held_out.HeldOut({"a.jpg": 4}, {"live": {4: pair}}, heads_live, None, {"picture": {4: fold_pic}})
    got = held_live.checker(live, "live", 4).detectors[0]
    assert isinstance(got, NsfwjsDetector) and got.probe is fold_pic and got.crop == "picture"
    without = held_out.HeldOut({"a.jpg": 4}, {"photo": {4: pair}}, heads)
    with pytest.raises(SystemExit, match=r"nsfwjs_probe\.py"):
        without.checker(base, "photo", 4)
    only_photo = held_out.HeldOut({"a.jpg": 4}, {"live": {4: pair}}, heads_live, None, {"": {4: fold_njs}})
    with pytest.raises(SystemExit, match=r"nsfwjs_probe\.py --set picture"):
        only_photo.checker(live, "live", 4)


def test_the_photo_fold_checker_gives_the_live_set_the_live_fold_probes() -> None:
    """v2.9: the photo head also reads the live head on the live detectors. A held-out photo check
    swaps in the fold's photo head (with that fold's live head inside it), the photo fold pair on the
    photo detector and the *live* fold pair and fold locator on the live one; a detector in both
    sets stays one object."""
    held_out = _held_out_module()
    shipped = LinearProbe(np.zeros(2048), 0.0, "shipped")
    ship_loc = PictureLocator(np.zeros(1024), np.zeros(1024), 0.0, version="shipped-locator")
    photo_det = NsfwProbeDetector(None, object(), shipped, max_crops=6, scene_probe=shipped)  # type: ignore[arg-type]
    live_det = NsfwProbeDetector(None, object(), shipped, max_crops=2, scene_probe=shipped, locator=ship_loc)  # type: ignore[arg-type]
    both = FakeDetector([Detections.empty()], name="nudenet")
    live_head = _head("live-fold5", 0.0)
    photo_fold = FusionModel(0.0, {"nsfw_logit": 1.0}, "photo-fold5", either=Either(live_head, 1.0, "live"))
    base = Checker(
        [both, photo_det], _head("photo-shipped", 0.0), load_profiles()["child"], None, None, [both, live_det]
    )
    pairs = {
        mode: (LinearProbe(np.ones(2048), 0.0, f"{mode}-fold5"), LinearProbe(np.ones(2048), 0.0, f"{mode}-s-fold5"))
        for mode in ("photo", "live")
    }
    fold_loc = PictureLocator(np.ones(1024), np.zeros(1024), -1.0, version="locator-fold5")
    held = held_out.HeldOut(
        {"a.jpg": 5}, {m: {5: p} for m, p in pairs.items()}, {"photo": {5: photo_fold}}, {5: fold_loc}
    )
    got = held.checker(base, "photo", 5)
    assert got.fusion is photo_fold
    assert got.detectors[0] is both and got.either[0] is both
    photo_new, live_new = got.detectors[1], got.either[1]
    assert isinstance(photo_new, NsfwProbeDetector) and photo_new.probe is pairs["photo"][0]
    assert isinstance(live_new, NsfwProbeDetector) and live_new.probe is pairs["live"][0]
    assert live_new.scene_probe is pairs["live"][1] and live_new.locator is fold_loc


def test_the_live_fold_checker_takes_the_folds_photo_check_as_its_second_look() -> None:
    """v2.10: the live check's second look is the photo check; held out, it is the fold's photo
    check (photo head and probes fitted without the fold), not the shipped one."""
    from captureguard.core.second_look import PictureRule
    from captureguard.guard.check import PictureCheck

    held_out = _held_out_module()
    shipped = LinearProbe(np.zeros(2048), 0.0, "shipped")
    live_det = NsfwProbeDetector(None, object(), shipped, max_crops=2, scene_probe=shipped)  # type: ignore[arg-type]
    photo_det = NsfwProbeDetector(None, object(), shipped, max_crops=6, scene_probe=shipped)  # type: ignore[arg-type]
    child = load_profiles()["child"]
    inner = Checker([photo_det], _head("photo-shipped", 0.0), child)
    rule = PictureRule(from_score=0.05, min_share=0.2, offset=1.39)
    base = Checker([live_det], _head("live-shipped", 0.0), child, picture=PictureCheck(rule, inner))
    pairs = {
        mode: (LinearProbe(np.ones(2048), 0.0, f"{mode}-fold2"), LinearProbe(np.ones(2048), 0.0, f"{mode}-s-fold2"))
        for mode in ("photo", "live")
    }
    heads = {"live": {2: _head("live-fold2", 0.0)}, "photo": {2: _head("photo-fold2", 0.0)}}
    got = held_out.HeldOut({"a.jpg": 2}, {m: {2: p} for m, p in pairs.items()}, heads).checker(base, "live", 2)
    assert got.picture is not None and got.picture.rule == rule
    assert got.picture.checker.fusion.version == "photo-fold2"
    photo_new = got.picture.checker.detectors[0]
    assert isinstance(photo_new, NsfwProbeDetector) and photo_new.probe is pairs["photo"][0]
    live_new = got.detectors[0]
    assert isinstance(live_new, NsfwProbeDetector) and live_new.probe is pairs["live"][0]
    assert base.picture is not None and base.picture.checker is inner  # the base is untouched

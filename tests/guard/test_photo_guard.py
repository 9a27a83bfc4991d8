"""Photo guard and store: allowed photos are written atomically; blocked ones never touch disk."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.policy import Profile
from captureguard.core.verdict import Decision, Verdict
from captureguard.errors import BadInputError, CaptureGuardError, DetectionError
from captureguard.guard.allowed import AllowedFrame, AllowedPhoto, Release, mint_frame, mint_photo
from captureguard.guard.check import Checker
from captureguard.guard.photo import PhotoGuard
from captureguard.sinks.photo_store import PhotoStore
from captureguard.testing import FakeDetector, Hang, region, whole
from tests.conftest import synthetic_bgr

PROFILE = Profile("t", block_score=0.5, warn_score=0.3, warn_underwear=True, underwear_threshold=0.5)
FUSION = FusionModel(-4.0, {"nsfw_logit": 1.0})


def guard(tmp_path: Path, *script: object, deadline_s: float | None = None) -> PhotoGuard:
    c = Checker([FakeDetector(list(script))], FUSION, PROFILE, deadline_s)  # type: ignore[arg-type]
    return PhotoGuard(c, PhotoStore(tmp_path / "photos"))


def frame() -> Frame:
    return Frame.from_bgr(synthetic_bgr(120, 160), source="synthetic")


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_allowed_photo_is_saved_with_the_checked_pixels(tmp_path: Path) -> None:
    f = frame()
    result = guard(tmp_path, whole(0.01)).save(f, "shot.png")
    assert result.verdict.decision is Decision.ALLOW and result.path == tmp_path / "photos" / "shot.png"
    saved = cv2.imread(str(result.path))
    assert np.array_equal(saved, f.bgr)  # PNG is lossless: the bytes checked are the bytes written
    assert all_files(tmp_path) == [result.path]  # no temp file left behind


@pytest.mark.parametrize(
    "step",
    [whole(0.999), DetectionError("model gone"), RuntimeError("bug")],
    ids=["nudity", "detector-error", "bug"],
)
def test_blocked_photo_never_touches_disk(tmp_path: Path, step: object) -> None:
    result = guard(tmp_path, step).save(frame(), "shot.jpg")
    assert result.verdict.decision is Decision.BLOCK
    assert result.photo is None and result.path is None
    assert all_files(tmp_path) == []


def test_timeout_blocks_and_writes_nothing(tmp_path: Path) -> None:
    hang = Hang(5.0)
    g = guard(tmp_path, hang, deadline_s=0.05)
    result = g.save(frame(), "shot.jpg")
    hang.release.set()
    assert result.verdict.reasons[0].code == "timeout"
    assert all_files(tmp_path) == []


def test_warned_photo_needs_confirmation(tmp_path: Path) -> None:
    underwear = region("FEMALE_BREAST_COVERED", 0.8)
    skin = region("BELLY_EXPOSED", 0.8)
    from captureguard.core.detection import Detections

    g = guard(tmp_path, Detections.concat([underwear, skin]))
    first = g.save(frame(), "a.jpg")
    assert first.verdict.decision is Decision.WARN and first.path is None
    assert all_files(tmp_path) == []
    confirmed = g.save(frame(), "a.jpg", confirm_warning=True)
    assert confirmed.path is not None and confirmed.path.exists()


def test_allowed_types_cannot_be_forged() -> None:
    f = frame()
    ok = Verdict(Decision.ALLOW, 0.0)
    with pytest.raises(TypeError, match="made only by a captureguard guard"):
        AllowedPhoto(f, ok, object())
    with pytest.raises(TypeError):
        AllowedFrame(f, Release.CHECKED, ok, None)
    with pytest.raises(TypeError, match="only pass as a placeholder"):
        mint_frame(f, Release.COVERED, Verdict(Decision.BLOCK, 1.0))
    with pytest.raises(TypeError, match="blocked frame"):
        mint_photo(f, Verdict(Decision.BLOCK, 1.0))


def test_store_refuses_unchecked_frames_and_bad_names(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)
    with pytest.raises(TypeError, match="accepts only AllowedPhoto"):
        store.write(frame(), "x.jpg")  # type: ignore[arg-type]
    photo = mint_photo(frame(), Verdict(Decision.ALLOW, 0.0))
    for name in ("../escape.jpg", "a/b.jpg", ".hidden.jpg", "x.gif", ""):
        with pytest.raises(BadInputError):
            store.write(photo, name)
    assert all_files(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_store_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    photo = mint_photo(frame(), Verdict(Decision.ALLOW, 0.0))
    with pytest.raises(CaptureGuardError, match="cannot save photo"):
        PhotoStore(ro).write(photo, "x.jpg")


def test_store_failure_mid_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photo = mint_photo(frame(), Verdict(Decision.ALLOW, 0.0))

    def broken_replace(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(CaptureGuardError, match="No space left"):
        PhotoStore(tmp_path).write(photo, "x.jpg")
    assert all_files(tmp_path) == []


def test_frames_are_frozen() -> None:
    f = frame()
    with pytest.raises(ValueError, match="read-only"):
        f.bgr[0, 0, 0] = 1

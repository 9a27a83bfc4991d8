"""``captureguard video`` and ``camera`` end to end with the real models (bundled public-domain stills)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from captureguard.cli.main import main
from captureguard.cli.stream import _PhotoTrigger
from captureguard.samples import Sample
from captureguard.sources.image import load_image
from tests.conftest import read_frame
from tests.sources.test_sources import write_video

pytestmark = pytest.mark.models
SIZE = (640, 360)  # width, height


def still(sample: Sample) -> np.ndarray:
    return cv2.resize(np.asarray(load_image(sample.path).bgr), SIZE, interpolation=cv2.INTER_AREA)


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def spliced(tmp_path_factory: pytest.TempPathFactory, samples: list[Sample]) -> tuple[Path, range]:
    """15 safe frames, 15 frames of a nude painting (a hard cut), 40 safe frames, 25 fps.

    The last stretch is longer than the hysteresis (3 safe checks over 1 s) so it is released again.
    """
    # Clothed people on both sides: the child profile warns on Sam Langford's bare-chested boxing
    # photo (v2.1 live head 0.39, warn 0.31) and a stream withholds warned frames, so it would
    # never reopen there.
    safe = {s.path.stem: s for s in samples if s.label == "safe"}
    nude = next(s for s in samples if s.label == "nudity")
    after = safe["iamtoxico_charlie-parker_gottlieb"]
    frames = [still(safe["matplotlib_grace_hopper"])] * 15 + [still(nude)] * 15 + [still(after)] * 40
    path = tmp_path_factory.mktemp("clips") / "spliced.mp4"
    return write_video(path, frames), range(15, 30)


def test_video_withholds_the_nude_stretch(tmp_path: Path, spliced: tuple[Path, range]) -> None:
    src, nude = spliced
    out, report = tmp_path / "guarded.mp4", tmp_path / "report.json"
    assert main(["video", str(src), str(out), "--report", str(report), "--no-progress"]) == 1
    frames = decode(out)
    assert len(frames) == 70
    assert all(frames[i].mean() < 25 for i in nude), "a frame of the painting was written"
    assert frames[0].mean() > 25 and frames[-1].mean() > 25
    doc = json.loads(report.read_text())
    assert doc["stats"]["frames_in"] == 70 and doc["stats"]["placeholders"] >= 15
    assert doc["hold_s"] == 0.5  # the default hold-back is in the report
    blocked_checks = {b["frame"] for b in doc["blocks"]}
    assert blocked_checks and blocked_checks <= set(nude)  # only checks of painting frames blocked
    assert not list(tmp_path.glob(".*partial*"))


def test_video_hold_takes_back_the_frames_before_the_cut(tmp_path: Path, spliced: tuple[Path, range]) -> None:
    # Held 0.2 s (5 frames at 25 fps): the block at the cut (frame 15) takes back frames 10-14,
    # which the checks before it had allowed; frames 0-9 are written as they were.
    src, nude = spliced
    out = tmp_path / "held.mp4"
    assert main(["video", str(src), str(out), "--hold-s", "0.2", "--no-progress"]) == 1
    frames = decode(out)
    assert len(frames) == 70
    assert all(frames[i].mean() > 25 for i in range(10))
    assert all(frames[i].mean() < 25 for i in range(10, nude.stop))
    assert frames[-1].mean() > 25  # the last frames, held at the end of the file, are written too


def test_video_refuses_a_hold_over_the_bound(tmp_path: Path, spliced: tuple[Path, range]) -> None:
    src, _ = spliced
    assert main(["video", str(src), str(tmp_path / "o.mp4"), "--hold-s", "9"]) == 2
    assert not (tmp_path / "o.mp4").exists()


def test_video_stop_on_block_keeps_only_what_came_before(tmp_path: Path, spliced: tuple[Path, range]) -> None:
    src, nude = spliced
    out = tmp_path / "stopped.mp4"
    assert main(["video", str(src), str(out), "--on-block", "stop", "--no-progress"]) == 1
    assert 0 < len(decode(out)) <= nude.start


def test_video_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    assert main(["video", str(bad), str(tmp_path / "out.mp4")]) == 2
    assert "not a recognised video" in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()


def test_truncated_video_keeps_a_valid_file_of_what_came_before(tmp_path: Path, samples: list[Sample]) -> None:
    # Matroska is streamable and declares its length: cut short, its first part still decodes and
    # the cut is detected (a cut MP4 loses its index; a cut MPEG-TS just ends early).
    src = write_video(tmp_path / "clip.mkv", [still(s) for s in samples if s.label == "safe"] * 7)
    cut = tmp_path / "cut.mkv"
    data = src.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out.mp4"
    code = main(["video", str(cut), str(out), "--no-progress"])
    assert code == 2
    frames = decode(out)  # finalised and playable
    assert 0 < len(frames) < 70


def test_camera_without_a_camera_fails_fast(capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.monotonic()
    assert main(["camera", "--device", "0", "--seconds", "1"]) == 2
    assert time.monotonic() - t0 < 10
    assert "cannot open camera 0" in capsys.readouterr().err


def test_camera_from_a_stream_file_records_the_guarded_stream(tmp_path: Path, spliced: tuple[Path, range]) -> None:
    src, nude = spliced
    out = tmp_path / "rec.mp4"
    assert main(["camera", "--device", str(src), "--record", str(out)]) == 1
    frames = decode(out)
    assert len(frames) == 70 and all(frames[i].mean() < 25 for i in nude)


def test_camera_recording_hold_takes_back_the_frames_before_the_cut(
    tmp_path: Path, spliced: tuple[Path, range]
) -> None:
    # --record-hold-s 0.2 (5 frames at 25 fps): the recording loses frames 10-14, which the live
    # output (a preview or virtual camera, had there been one) showed at once.
    src, nude = spliced
    out, report = tmp_path / "rec.mp4", tmp_path / "report.json"
    argv = ["camera", "--device", str(src), "--record", str(out), "--record-hold-s", "0.2", "--report", str(report)]
    assert main(argv) == 1
    frames = decode(out)
    assert len(frames) == 70
    assert all(frames[i].mean() > 25 for i in range(10))
    assert all(frames[i].mean() < 25 for i in range(10, nude.stop))
    doc = json.loads(report.read_text())
    assert doc["record_hold_s"] == 0.2 and doc["hold_s"] == 0.0 and doc["recorded"] == 70
    stats = doc["stats"]
    assert stats["recorded_withheld"] == stats["placeholders"] + 5  # the live output kept 10-14


def test_camera_refuses_a_recording_hold_over_the_bound(tmp_path: Path, spliced: tuple[Path, range]) -> None:
    src, _ = spliced
    out = tmp_path / "o.mp4"
    assert main(["camera", "--device", str(src), "--record", str(out), "--record-hold-s", "9"]) == 2
    assert not out.exists()


def test_photo_trigger_saves_safe_frames_only(
    tmp_path: Path, nude_samples: list[Sample], safe_samples: list[Sample]
) -> None:
    args = argparse.Namespace(profile="child", profiles_file=None, photos=tmp_path / "photos")
    trigger = _PhotoTrigger(args)
    for sample in (safe_samples[0], nude_samples[0]):
        trigger.request()
        trigger(read_frame(sample.path))
    trigger.wait()
    saved = list((tmp_path / "photos").iterdir())
    assert len(saved) == 1


def test_video_can_drop_withheld_frames(tmp_path: Path, spliced: tuple[Path, range]) -> None:
    src, nude = spliced
    out = tmp_path / "dropped.mp4"
    assert main(["video", str(src), str(out), "--placeholder", "drop", "--no-progress"]) == 1
    frames = decode(out)
    assert len(frames) <= 70 - len(nude)
    assert all(f.mean() > 25 for f in frames)  # no painting, no placeholder either

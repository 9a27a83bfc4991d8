"""Videos in ``captureguard eval``: span accounting, the guard vs fixed-rate sampling, by hand.

Every video is generated here from flat synthetic colours (no people): 60 frames at 25 fps
(2.4 s, frame ``i`` at ``i / 25`` s). A scripted checker blocks a frame whose top-left corner is
red, so the test decides which frames are "unsafe" by painting them red.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Decision, Verdict
from captureguard.evaluation.manifest import WHOLE_VIDEO, Item, Span
from captureguard.evaluation.videos import VideoResult, baseline_name, evaluate_video, unsafe_frames

FPS, FRAMES = 25, 60
GREY = (200, 200, 200)  # BGR; grey thumbnails 0.78 vs red 0.33: every switch is a scene cut
RED = (0, 0, 255)


def write_video(path: Path, red: Sequence[int]) -> Path:
    """60 frames of 64x48 at 25 fps, grey except the frames in ``red`` (H.264 via PyAV)."""
    with av.open(str(path), "w") as container:
        stream: Any = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(FRAMES):
            bgr = np.full((48, 64, 3), RED if i in red else GREY, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(bgr, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@dataclass
class RedChecker:
    """Blocks a frame whose top-left 4x4 corner is red (after compression); records what it checked."""

    seen: list[int] = field(default_factory=list)

    def check(self, frame: Frame) -> Verdict:
        self.seen.append(frame.index)
        b, g, r = frame.bgr[:4, :4].reshape(-1, 3).mean(axis=0)
        red = r > 150 and g < 100 and b < 100
        return Verdict(Decision.BLOCK if red else Decision.ALLOW, 1.0 if red else 0.0)


def item(path: Path, label: str = "nudity", spans: tuple[Span, ...] = ()) -> Item:
    return Item(path, label, "test", str(path), True, spans, 2)  # type: ignore[arg-type]


TIMES = [i / FPS for i in range(FRAMES)]


@pytest.mark.parametrize(
    ("label", "spans", "expected"),
    [
        ("safe", (), set()),
        ("nudity", (), set(range(60))),
        ("nudity", (WHOLE_VIDEO,), set(range(60))),
        ("nudity", (Span(20, 39, "frame"),), set(range(20, 40))),
        ("nudity", (Span(0.8, 1.6, "s"),), set(range(20, 40))),  # half-open: 1.6 s is frame 40, out
        ("nudity", (Span(55, 99, "frame"),), set(range(55, 60))),  # clipped at the end
        ("nudity", (Span(0, 1, "frame"), Span(2.32, 9.0, "s")), {0, 1, 58, 59}),
    ],
    ids=["safe", "nudity-no-spans", "whole-video", "frames-inclusive", "seconds-half-open", "clipped", "mixed"],
)
def test_unsafe_frames(label: str, spans: tuple[Span, ...], expected: set[int]) -> None:
    assert unsafe_frames(item(Path("v.mp4"), label, spans), TIMES) == expected


def test_unsafe_frames_use_real_timestamps() -> None:
    """Variable frame rate: second spans follow the timestamps, not index / fps."""
    times = [0.0, 0.1, 0.5, 0.9, 1.0, 1.7]
    assert unsafe_frames(item(Path("v.mp4"), "nudity", (Span(0.5, 1.0, "s"),)), times) == {2, 3}


@pytest.fixture(scope="module")
def unsafe_result(tmp_path_factory: pytest.TempPathFactory) -> tuple[VideoResult, RedChecker]:
    path = write_video(tmp_path_factory.mktemp("v") / "red.mp4", range(20, 40))
    checker = RedChecker()
    return evaluate_video(item(path, "nudity", (Span(20, 39, "frame"),)), checker), checker


def test_video_with_unsafe_span(unsafe_result: tuple[VideoResult, RedChecker]) -> None:
    result, checker = unsafe_result
    assert (result.frames, result.duration_s, result.unsafe_frames) == (60, pytest.approx(2.4), 20)
    # Ours: frame 20 differs from 19 (a cut), is checked and blocked at once; nothing unsafe leaks.
    assert (result.ours.released_unsafe, result.ours.reaction_s, result.ours.stretches_missed) == (0, 0.0, 0)
    assert result.stream["frames_in"] == 60
    assert result.ours.checks == result.stream["checks"] == len(set(checker.seen) - {13, 25})
    # 2 fps: samples at the first frames at/after 0, 0.5, 1.0, 1.5, 2.0 s = frames 0, 13, 25, 38, 50.
    # 13 (grey) releases 13..24, so 20..24 leak (5); 25 and 38 (red) withhold 25..49: reaction 5 frames.
    two = result.baselines[0]
    assert (two.name, two.checks, two.withheld_frames) == ("2fps", 5, 25)
    assert (two.released_unsafe, two.reaction_s, two.stretches_missed) == (5, 0.2, 0)
    # 1 per 6 s: only frame 0 (grey) is sampled in 2.4 s: all 20 unsafe frames leak; the
    # stretch counts its whole length, 20 frames = 0.8 s.
    six = result.baselines[1]
    assert (six.name, six.checks, six.withheld_frames) == ("1_per_6s", 1, 0)
    assert (six.released_unsafe, six.reaction_s, six.stretches_missed) == (20, 0.8, 1)
    assert two.blocked_s_per_min is None and result.ours.blocked_s_per_min is None  # not a safe video


def test_each_frame_checked_at_most_once(unsafe_result: tuple[VideoResult, RedChecker]) -> None:
    result, checker = unsafe_result
    assert len(checker.seen) == len(set(checker.seen))
    # The guard checks even frames (max_gap 1) and cuts; baseline samples 13 and 25 are odd: extra.
    assert {0, 38, 50} <= set(checker.seen)
    assert result.baseline_only_checks == 2


def test_safe_video_with_one_false_block(tmp_path: Path) -> None:
    path = write_video(tmp_path / "safe.mp4", [25])
    # K and T spelled out (the shipped ones are chosen by bench/stream_calibrate.py and may move).
    settings = StreamSettings(reopen_checks=4, reopen_s=0.75, confident_below=1.0, reopen_on_cut=False)
    result = evaluate_video(item(path, "safe"), RedChecker(), settings=settings)
    # Ours: 25 is a cut, blocked; 26 (the cut back) is checked and starts the count: the stream
    # stays shut for 4 confident checks over 0.75 s: 26, 28, ..., 46 (1.84 s - 1.04 s >= 0.75 s)
    # reopens at 46: 25..45 = 21 frames = 0.84 s of 2.4 s: 21 s per minute.
    assert result.ours.withheld_frames == 21
    assert result.ours.blocked_s_per_min == pytest.approx(21.0)
    # With cut reopening, 26 is a cut to a frame unlike the blocked one, checked confidently: open.
    cut = evaluate_video(item(path, "safe"), RedChecker(), settings=replace(settings, reopen_on_cut=True))
    assert cut.ours.withheld_frames == 1
    # 2 fps: sample 25 withholds 25..37 = 13 frames = 0.52 s: 13 s per minute. 1 per 6 s: none.
    assert result.baselines[0].withheld_frames == 13
    assert result.baselines[0].blocked_s_per_min == pytest.approx(13.0)
    assert result.baselines[1].blocked_s_per_min == 0.0
    assert all(o.reaction_s is None and o.released_unsafe == 0 for o in (result.ours, *result.baselines))


def test_result_is_json_ready(unsafe_result: tuple[VideoResult, RedChecker]) -> None:
    data = json.loads(json.dumps(unsafe_result[0].to_dict()))
    assert data["ours"]["released_unsafe"] == 0
    assert [b["name"] for b in data["baselines"]] == ["2fps", "1_per_6s"]
    assert set(data["stream"]) >= {"frames_in", "released", "placeholders", "checks"}
    assert not any("latency" in k or "ms" in k for k in data["stream"])


@pytest.mark.parametrize(("rate", "name"), [(2.0, "2fps"), (1 / 6, "1_per_6s"), (0.5, "1_per_2s"), (1.0, "1fps")])
def test_baseline_names(rate: float, name: str) -> None:
    assert baseline_name(rate) == name


@pytest.mark.models
def test_real_checker_on_a_synthetic_safe_video(tmp_path: Path) -> None:
    """The shipped live checker on 2 s of a slow pan over a smooth colour field (no people)."""
    from captureguard.guard.check import Checker
    from tests.conftest import synthetic_bgr

    field_bgr = synthetic_bgr(120, 400, seed=3)
    path = tmp_path / "pan.mp4"
    with av.open(str(path), "w") as container:
        stream: Any = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(20):
            bgr = np.ascontiguousarray(field_bgr[:, i * 10 : i * 10 + 160])
            for packet in stream.encode(av.VideoFrame.from_ndarray(bgr, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    result = evaluate_video(item(path, "safe"), Checker.create(mode="live"))
    assert (result.frames, result.unsafe_frames, result.ours.released_unsafe) == (20, 0, 0)
    assert result.ours.checks >= 10  # max_gap 1: at least every other frame
    assert result.ours.blocked_s_per_min is not None and math.isfinite(result.ours.blocked_s_per_min)
    json.dumps(result.to_dict())

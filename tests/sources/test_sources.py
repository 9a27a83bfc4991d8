"""Video and live sources: every video is generated here from synthetic pixels (no people)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import cv2
import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.errors import BadInputError
from captureguard.sources import Source
from captureguard.sources.live import CvCaptureSource, LatestFrameReader
from captureguard.sources.video import AvFileSource, open_source

RED = (0, 0, 255)  # BGR


def marked_bgr(height: int, width: int, level: int = 60) -> np.ndarray:
    """A flat grey picture with a red block in its top-left quarter (to see rotations)."""
    bgr = np.full((height, width, 3), level, np.uint8)
    bgr[: height // 2, : width // 2] = RED
    return bgr


def write_video(
    path: Path,
    frames: Sequence[np.ndarray],
    *,
    fps: int = 25,
    pts_ms: Sequence[int] | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation: float | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode ``(H, W, 3) uint8`` BGR frames with PyAV (``pts_ms``: variable frame rate)."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", options=options or {}) as container:
        stream: Any = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, bgr in enumerate(frames):
            av_frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
            if pts_ms is not None:
                av_frame.pts, av_frame.time_base = pts_ms[i], Fraction(1, 1000)
            for packet in stream.encode(av_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def noise_frames(n: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(n)]


def read_all(source: Source) -> list[Frame]:
    return list(source)


def read_until_error(source: Source) -> tuple[list[Frame], BadInputError]:
    frames: list[Frame] = []
    with pytest.raises(BadInputError) as info:
        for frame in source:
            frames.append(frame)
    return frames, info.value


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on a worker and fail (instead of hanging) if it takes longer than ``seconds``."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=seconds)


# --- video files -------------------------------------------------------------------------


def test_constant_rate_file_gives_indexed_timestamped_frozen_bgr(tmp_path: Path) -> None:
    path = write_video(tmp_path / "cfr.mp4", [marked_bgr(48, 64, level=10 * i) for i in range(10)])
    source = AvFileSource(path)
    frames = read_all(source)
    source.close()
    assert source.fps == 25.0 and not source.live and source.name == str(path)
    assert source.frame_count == 10
    assert [f.index for f in frames] == list(range(10))
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 25 for i in range(10)])
    assert frames[0].bgr.shape == (48, 64, 3) and frames[0].bgr.dtype == np.uint8
    assert not frames[0].bgr.flags.writeable
    assert np.abs(frames[3].bgr.astype(int) - marked_bgr(48, 64, 30)).mean() < 4


def test_variable_frame_rate_gives_the_real_times(tmp_path: Path) -> None:
    pts_ms = [0, 40, 200, 210, 500, 520, 1000, 1040, 1100, 1500]
    path = write_video(tmp_path / "vfr.mp4", noise_frames(10), pts_ms=pts_ms)
    with_times = [f.timestamp_s for f in read_all(AvFileSource(path))]
    assert with_times == pytest.approx([t / 1000 for t in pts_ms], abs=1e-3)


@pytest.mark.parametrize(
    ("rotation", "red_corner"),
    [(90, "bottom-left"), (-90, "top-right"), (180, "bottom-right"), (0, "top-left")],
    ids=["ccw90", "phone-portrait-cw90", "180", "none"],
)
def test_display_rotation_is_applied_so_frames_are_upright(tmp_path: Path, rotation: int, red_corner: str) -> None:
    path = write_video(tmp_path / "rot.mp4", [marked_bgr(48, 64)] * 3, rotation=rotation)
    source = AvFileSource(path)
    frame = read_all(source)[0]
    expected_shape = (64, 48, 3) if rotation % 180 else (48, 64, 3)
    assert frame.bgr.shape == expected_shape
    assert source.rotation_deg == rotation % 360
    h, w = frame.height, frame.width
    corners = {
        "top-left": frame.bgr[: h // 4, : w // 4],
        "top-right": frame.bgr[: h // 4, -w // 4 :],
        "bottom-left": frame.bgr[-h // 4 :, : w // 4],
        "bottom-right": frame.bgr[-h // 4 :, -w // 4 :],
    }
    reddest = max(corners, key=lambda k: corners[k][..., 2].mean() - corners[k][..., 1].mean())
    assert reddest == red_corner


def test_odd_sizes_pass_through_unchanged(tmp_path: Path) -> None:
    frames = [marked_bgr(481, 641)] * 2
    path = write_video(tmp_path / "odd.mp4", frames, pix_fmt="yuv444p")
    decoded = read_all(AvFileSource(path))
    assert [f.bgr.shape for f in decoded] == [(481, 641, 3)] * 2


def test_missing_pts_falls_back_to_index_over_fps(tmp_path: Path) -> None:
    source = AvFileSource(write_video(tmp_path / "a.mp4", noise_frames(2)))
    no_pts = SimpleNamespace(pts=None, time_base=None)
    assert source._timestamp_s(no_pts, 5) == pytest.approx(5 / 25)


def test_a_second_pass_decodes_from_the_start(tmp_path: Path) -> None:
    source = AvFileSource(write_video(tmp_path / "a.mp4", noise_frames(4)))
    assert len(read_all(source)) == 4
    assert [f.index for f in source] == [0, 1, 2, 3]
    source.close()
    source.close()


def _cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    cut = path.with_name("cut_" + path.name)
    cut.write_bytes(data[: int(len(data) * fraction)])
    return cut


@pytest.mark.parametrize(
    ("suffix", "options"), [("mkv", {}), ("mp4", {"movflags": "faststart"})], ids=["mkv", "mp4-faststart"]
)
def test_truncated_file_yields_good_frames_then_raises(tmp_path: Path, suffix: str, options: dict[str, str]) -> None:
    full = write_video(tmp_path / f"full.{suffix}", noise_frames(50), options=options)
    frames, error = read_until_error(AvFileSource(_cut(full, 0.5)))
    assert 5 < len(frames) < 50
    assert [f.index for f in frames] == list(range(len(frames)))  # the good frames stay valid
    assert "cut_full" in str(error) and ("truncated" in str(error) or "corrupt" in str(error))
    assert "\n" not in str(error)


def test_corrupt_data_mid_stream_yields_good_frames_then_raises(tmp_path: Path) -> None:
    path = write_video(tmp_path / "ok.mp4", noise_frames(30))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    frames, error = read_until_error(AvFileSource(path))
    assert 0 < len(frames) < 30
    assert "corrupt or truncated video data after frame" in str(error)
    assert isinstance(error.__cause__, av.FFmpegError)


def _text(tmp: Path) -> Path:
    (tmp / "notes.mp4").write_text("this is a text file, not a video\n" * 20)
    return tmp / "notes.mp4"


def _garbage(tmp: Path) -> Path:
    (tmp / "garbage.mkv").write_bytes(np.random.default_rng(3).integers(0, 256, 8000, dtype=np.uint8).tobytes())
    return tmp / "garbage.mkv"


def _jpeg(tmp: Path) -> Path:
    cv2.imwrite(str(tmp / "still.jpg"), marked_bgr(40, 40))
    return tmp / "still.jpg"


def _empty(tmp: Path) -> Path:
    (tmp / "empty.mp4").write_bytes(b"")
    return tmp / "empty.mp4"


def _no_frames(tmp: Path, suffix: str) -> Path:
    with av.open(str(tmp / f"zero.{suffix}"), "w") as container:
        stream: Any = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    return tmp / f"zero.{suffix}"


def _header_only(tmp: Path) -> Path:
    data = write_video(tmp / "h.mp4", noise_frames(5), options={"movflags": "faststart"}).read_bytes()
    (tmp / "header_only.mp4").write_bytes(data[: data.index(b"mdat") + 4])
    return tmp / "header_only.mp4"


def _unknown_codec(tmp: Path) -> Path:
    """A valid AVI whose codec FourCC no decoder knows."""
    data = bytearray(write_video(tmp / "raw.avi", noise_frames(3), codec="rawvideo", pix_fmt="bgr24").read_bytes())
    strh, strf = data.index(b"vids"), data.index(b"strf")
    data[strh + 4 : strh + 8] = data[strf + 24 : strf + 28] = b"ZZZZ"  # fccHandler, biCompression
    (tmp / "unknown.avi").write_bytes(bytes(data))
    return tmp / "unknown.avi"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: tmp / "missing.mp4", "no such file"),
        (lambda tmp: tmp, "is not a regular file"),
        (_text, "not a recognised video"),
        (_garbage, "not a recognised video"),
        (_jpeg, "is a still image (jpeg), not a video"),
        (_empty, "file is empty (0 bytes)"),
        (lambda tmp: _no_frames(tmp, "mp4"), "has no video stream"),
        (lambda tmp: _no_frames(tmp, "mkv"), "ends before the first video frame"),
        (_header_only, "contains no video frames (its header lists 5: cut short?)"),
        (_unknown_codec, "video codec this FFmpeg build cannot decode"),
    ],
    ids=["missing", "folder", "text", "garbage", "jpeg", "empty", "zero-mp4", "zero-mkv", "header-only", "codec"],
)
def test_bad_files_give_one_line_errors_naming_the_file(
    tmp_path: Path, make: Callable[[Path], Path], expected: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(BadInputError) as info:
        read_all(open_source(str(path)))
    message = str(info.value)
    assert expected in message and repr(str(path)) in message and "\n" not in message
    assert "; " in message  # a hint follows the problem


# --- open_source -------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [0, "0", " 1 "], ids=["int", "digit-string", "padded"])
def test_camera_index_that_does_not_exist_fails_fast_and_clearly(spec: int | str) -> None:
    start = time.monotonic()
    with pytest.raises(BadInputError, match=r"cannot open camera \d: .*connect a camera"):
        open_source(spec)
    assert time.monotonic() - start < 1.0


def test_open_source_dispatches_by_spec(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a.mp4", noise_frames(2))
    assert isinstance(open_source(str(path)), AvFileSource)
    assert isinstance(open_source(path), AvFileSource)
    with pytest.raises(BadInputError, match="expected a camera index"):
        open_source(1.5)  # type: ignore[arg-type]


def test_unreachable_stream_url_fails_with_credentials_hidden() -> None:
    with pytest.raises(BadInputError) as info:
        open_source("rtsp://user:secret@127.0.0.1:9/cam")
    assert "secret" not in str(info.value) and "user:***@127.0.0.1:9" in str(info.value)


def test_opencv_capture_reads_a_file_in_order(tmp_path: Path) -> None:
    source = CvCaptureSource(str(write_video(tmp_path / "a.mp4", noise_frames(6))))
    frames = read_all(source)
    source.close()
    assert not source.live and source.fps == 25.0
    assert [f.index for f in frames] == list(range(6)) and frames[0].bgr.shape == (48, 64, 3)


# --- live sources: the latest-frame reader -----------------------------------------------


class CountingCamera:
    """A fake device: frame ``i`` is a flat picture of value ``i % 256``; optional faults."""

    def __init__(self, *, interval_s: float = 0.002, fail_after: int | None = None, raise_after: int | None = None):
        self.reads = 0
        self.interval_s, self.fail_after, self.raise_after = interval_s, fail_after, raise_after

    def read(self) -> np.ndarray | None:
        time.sleep(self.interval_s)
        self.reads += 1
        if self.raise_after is not None and self.reads > self.raise_after:
            raise RuntimeError("driver exploded")
        if self.fail_after is not None and self.reads > self.fail_after:
            return None
        return np.full((8, 8, 3), self.reads % 256, np.uint8)


def take(frames: Iterator[Frame], n: int, *, delay_s: float = 0.0) -> list[Frame]:
    out = []
    for frame in frames:
        out.append(frame)
        if len(out) == n:
            break
        time.sleep(delay_s)
    return out


def test_slow_consumer_gets_only_the_latest_frames_and_drops_are_counted() -> None:
    camera = CountingCamera()
    reader = LatestFrameReader(camera.read, name="fake", fps=500)
    frames = within(5, lambda: take(iter(reader), 5, delay_s=0.05))
    reader.close()
    values = [int(f.bgr[0, 0, 0]) for f in frames]
    assert values == sorted(values) and len(set(values)) == 5  # each a new, newer frame
    assert reader.dropped > 5 and values[-1] - values[0] > 5  # skipped, not queued
    assert [f.index for f in frames] == list(range(5)) and frames[0].timestamp_s == 0.0
    assert all(b.timestamp_s > a.timestamp_s for a, b in itertools.pairwise(frames))
    assert reader.live and frames[0].source == "fake"


def test_reader_exception_is_reraised_in_the_consumer_without_hanging() -> None:
    reader = LatestFrameReader(CountingCamera(raise_after=3).read, name="fake")

    def consume() -> BadInputError:
        with pytest.raises(BadInputError) as info:
            list(reader)
        return info.value

    error = within(5, consume)
    reader.close()
    assert isinstance(error.__cause__, RuntimeError) and "driver exploded" in str(error)


def test_close_stops_the_thread_and_ends_iteration() -> None:
    reader = LatestFrameReader(CountingCamera().read, name="fake")
    frames = iter(reader)
    next(frames)
    threading.Timer(0.1, reader.close).start()  # close from another thread while consuming
    rest = within(5, lambda: list(frames))
    assert isinstance(rest, list)
    assert reader.close() is True  # idempotent; joins the stopped thread
    assert not reader._thread.is_alive()


def test_disappearing_camera_ends_iteration_with_a_clear_error() -> None:
    reader = LatestFrameReader(CountingCamera(fail_after=3).read, name="camera:7", max_failures=10)
    frames: list[Frame] = []

    def consume() -> BadInputError:
        with pytest.raises(BadInputError) as info:
            frames.extend(reader)
        return info.value

    error = within(5, consume)
    reader.close()
    assert "camera camera:7 disappeared: 10 reads failed" in str(error)
    assert 1 <= len(frames) <= 3


def test_disappearance_also_counts_time_without_frames() -> None:
    camera = CountingCamera(fail_after=0, interval_s=0.05)
    reader = LatestFrameReader(camera.read, name="cam", max_failures=1000, failure_timeout_s=0.2)
    with pytest.raises(BadInputError, match="disappeared"):
        within(5, lambda: list(reader))
    assert camera.reads < 20
    reader.close()


def test_a_read_that_blocks_forever_does_not_hang_the_consumer() -> None:
    release = threading.Event()

    def stuck_read() -> np.ndarray | None:
        release.wait(10)
        return None

    reader = LatestFrameReader(stuck_read, name="cam", stall_timeout_s=0.2)
    with pytest.raises(BadInputError, match=r"stalled: no frame for 0\.2 s"):
        within(5, lambda: list(reader))
    release.set()
    assert reader.close() is True


class FakeCapture:
    """A fake ``cv2.VideoCapture``: 4 good reads, then the device is gone."""

    def __init__(self, spec: int | str, *, opened: bool = True) -> None:
        self.spec, self.opened, self.reads, self.released = spec, opened, 0, False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened

    def read(self) -> tuple[bool, Any]:
        self.reads += 1
        time.sleep(0.002)
        return (True, marked_bgr(6, 8)) if self.reads <= 4 else (False, None)

    def get(self, prop: int) -> float:
        return float("nan") if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        self.released = True


def test_capture_source_live_path_with_a_fake_device() -> None:
    captures: list[FakeCapture] = []

    def factory(spec: int | str) -> FakeCapture:
        captures.append(FakeCapture(spec))
        return captures[-1]

    source = CvCaptureSource(3, capture_factory=factory, max_failures=5)
    assert source.live and source.name == "camera:3" and source.fps == 0.0  # NaN rate -> unknown
    with pytest.raises(BadInputError, match="camera camera:3 disappeared"):
        within(5, lambda: list(source))
    source.close()
    source.close()
    assert captures[0].released and source.dropped >= 0


def test_capture_source_that_does_not_open_is_released_and_reported() -> None:
    captures: list[FakeCapture] = []

    def factory(spec: int | str) -> FakeCapture:
        captures.append(FakeCapture(spec, opened=False))
        return captures[-1]

    with pytest.raises(BadInputError, match="cannot open camera 2: the device did not open"):
        CvCaptureSource(2, capture_factory=factory)
    with pytest.raises(BadInputError, match=r"cannot open stream 'http://cam\.local/mjpg'"):
        CvCaptureSource("http://cam.local/mjpg", capture_factory=factory)
    assert all(c.released for c in captures)


def test_sources_satisfy_the_protocol(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a.mp4", noise_frames(1))
    assert isinstance(AvFileSource(path), Source)
    assert isinstance(CvCaptureSource(str(path)), Source)
    assert os.path.exists(path)

"""Sinks: MP4 recorder (round trip, padding, crash safety), preview and virtual camera."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.core.verdict import Decision, Verdict
from captureguard.errors import ConfigError
from captureguard.guard.allowed import AllowedFrame, Release, mint_frame
from captureguard.sinks import Sink
from captureguard.sinks import mp4 as mp4_module
from captureguard.sinks import preview as preview_module
from captureguard.sinks import virtualcam as virtualcam_module
from captureguard.sinks.mp4 import Mp4Sink
from captureguard.sinks.preview import HeadlessPreview, PreviewSink
from captureguard.sinks.virtualcam import VirtualCamSink

ALLOW = Verdict(Decision.ALLOW, 0.0)


def moving_box_bgr(i: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A gradient background with a coloured box that moves one step per frame (no people)."""
    bgr = np.zeros((height, width, 3), np.uint8)
    bgr[..., 0] = np.linspace(0, 200, width, dtype=np.uint8)[None, :]
    bgr[..., 1] = np.linspace(0, 150, height, dtype=np.uint8)[:, None]
    x = (2 * i) % (width - 12)
    bgr[10:22, x : x + 12] = (40, 200, 250)
    return bgr


def allowed(bgr: np.ndarray, index: int = 0, timestamp_s: float = 0.0) -> AllowedFrame:
    frame = Frame.from_bgr(bgr, index=index, timestamp_s=timestamp_s, source="test")
    return mint_frame(frame, Release.CHECKED, ALLOW)


def decode(path: Path) -> tuple[Any, list[np.ndarray], list[float]]:
    """The stream's (average rate, width, height), the BGR frames and their times."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = (stream.average_rate, stream.width, stream.height)
        frames = list(container.decode(stream))
        return info, [f.to_ndarray(format="bgr24") for f in frames], [float(f.time) for f in frames]


# --- Mp4Sink -----------------------------------------------------------------------------


def test_mp4_round_trip_keeps_count_rate_size_and_pixels(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    inputs = [moving_box_bgr(i) for i in range(30)]
    sink = Mp4Sink(target, fps=30, crf=18)
    for i, bgr in enumerate(inputs):
        sink.write(allowed(bgr, i, i / 30))
        assert not target.exists()  # never under the final name before close()
    assert sink.partial_path.exists()  # (created with the first packet the encoder hands out)
    sink.close()
    (rate, width, height), frames, times = decode(target)
    assert (rate, width, height, len(frames)) == (30, 64, 48, 30)
    assert times == pytest.approx([i / 30 for i in range(30)], abs=1e-3)
    errors = [np.abs(out.astype(int) - inp).mean() for out, inp in zip(frames, inputs, strict=True)]
    assert max(errors) < 4.0
    assert not sink.partial_path.exists() and sink.frames_written == 30
    assert sink.partial_path.name == ".clip.partial.mp4"


def test_mp4_preserves_variable_frame_rate_and_spaces_untimed_frames(tmp_path: Path) -> None:
    vfr_times = [0.0, 0.04, 0.2, 0.21, 0.5, 1.0]
    with Mp4Sink(tmp_path / "vfr.mp4", fps=25) as sink:
        for i, t in enumerate(vfr_times):
            sink.write(allowed(moving_box_bgr(i), i, 10.0 + t))  # a recording that starts mid-stream
    assert decode(tmp_path / "vfr.mp4")[2] == pytest.approx(vfr_times, abs=1e-3)
    with Mp4Sink(tmp_path / "untimed.mp4", fps=25) as sink:
        for i in range(4):
            sink.write(allowed(moving_box_bgr(i)))  # all timestamps 0.0
    assert decode(tmp_path / "untimed.mp4")[2] == pytest.approx([0.0, 0.04, 0.08, 0.12], abs=1e-3)


def test_mp4_pads_odd_sizes_with_black_and_resizes_to_the_first_size(tmp_path: Path) -> None:
    grey = np.full((49, 65, 3), 200, np.uint8)
    with Mp4Sink(tmp_path / "odd.mp4", fps=10, crf=10) as sink:
        sink.write(allowed(grey, 0, 0.0))
        sink.write(allowed(np.full((98, 130, 3), 200, np.uint8), 1, 0.1))  # other size: resized
    (_, width, height), frames, _ = decode(tmp_path / "odd.mp4")
    assert (width, height, len(frames)) == (66, 50, 2)
    for out in frames:
        assert np.abs(out[:48, :64].astype(int) - 200).max() < 6  # the picture, away from the pad edge
        assert out[49, :64].mean() < 40 and out[:48, 65].mean() < 40  # the padded row and column


@pytest.mark.parametrize(
    "make_sink",
    [
        lambda tmp: Mp4Sink(tmp / "a.mp4", fps=25),
        lambda tmp: HeadlessPreview(),
        lambda tmp: PreviewSink("t", gui=FakeGui()),
        lambda tmp: VirtualCamSink(8, 6, 30, camera_factory=FakeCamera),
    ],
    ids=["mp4", "headless", "preview", "virtualcam"],
)
@pytest.mark.parametrize("item", [np.zeros((6, 8, 3), np.uint8), Frame.from_bgr(np.zeros((6, 8, 3), np.uint8))])
def test_sinks_refuse_anything_but_allowed_frames(tmp_path: Path, make_sink: Any, item: object) -> None:
    sink = make_sink(tmp_path)
    assert isinstance(sink, Sink)
    with pytest.raises(TypeError, match="accepts only AllowedFrame"):
        sink.write(item)  # type: ignore[arg-type]
    sink.close()


def test_mp4_close_is_idempotent_and_an_empty_recording_leaves_no_file(tmp_path: Path) -> None:
    sink = Mp4Sink(tmp_path / "empty.mp4", fps=25)
    sink.close()
    sink.close()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="is closed"):
        sink.write(allowed(moving_box_bgr(0)))


def test_mp4_abort_deletes_the_partial_file(tmp_path: Path) -> None:
    sink = Mp4Sink(tmp_path / "discard.mp4", fps=25)
    for i in range(5):
        sink.write(allowed(moving_box_bgr(i), i, i / 25))
    sink.abort()
    sink.close()  # no-op after abort
    assert list(tmp_path.iterdir()) == []
    kept = Mp4Sink(tmp_path / "kept.mp4", fps=25)
    kept.write(allowed(moving_box_bgr(0)))
    kept.close()
    kept.abort()  # no-op after close: the recording was already published
    assert (tmp_path / "kept.mp4").exists()


def test_mp4_error_in_a_with_block_finalises_what_was_written(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="pipeline failed"), Mp4Sink(tmp_path / "f.mp4", fps=25) as sink:
        for i in range(6):
            sink.write(allowed(moving_box_bgr(i), i, i / 25))
        raise RuntimeError("pipeline failed")
    assert len(decode(tmp_path / "f.mp4")[1]) == 6


class FailingContainer:
    """Wraps the real output container; ``mux`` fails like a full disk."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def mux(self, packet: Any) -> None:
        raise OSError(28, "No space left on device")

    def close(self) -> None:
        self.real.close()


def test_mp4_error_while_encoding_finalises_and_propagates(tmp_path: Path) -> None:
    sink = Mp4Sink(tmp_path / "disk.mp4", fps=25, keyframe_interval_s=0.2)
    for i in range(20):
        sink.write(allowed(moving_box_bgr(i), i, i / 25))
    sink._container = FailingContainer(sink._container)
    with pytest.raises(OSError, match="No space left"):
        for i in range(20, 40):
            sink.write(allowed(moving_box_bgr(i), i, i / 25))
    assert (tmp_path / "disk.mp4").exists() and not sink.partial_path.exists()
    assert 0 < len(decode(tmp_path / "disk.mp4")[1]) <= 20


def test_mp4_rejects_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Mp4Sink(tmp_path / "a.mp4", fps=0)
    with pytest.raises(ConfigError, match="does not exist; create it"):
        Mp4Sink(tmp_path / "no" / "a.mp4", fps=25)


_KILL_SCRIPT = """
import sys, time
import numpy as np
from captureguard.guard.allowed import Release, mint_frame
from captureguard.core.frame import Frame
from captureguard.sinks.mp4 import Mp4Sink
from captureguard.core.verdict import Decision, Verdict

sink = Mp4Sink(sys.argv[1], fps=25, keyframe_interval_s=0.2)  # a fragment every 5 frames
for i in range(10_000):
    bgr = np.full((48, 64, 3), (i * 10) % 250, np.uint8)
    frame = Frame.from_bgr(bgr, index=i, timestamp_s=i / 25)
    sink.write(mint_frame(frame, Release.CHECKED, Verdict(Decision.ALLOW, 0.0)))
    print(i + 1, flush=True)
    time.sleep(0.005)
"""


def test_mp4_killed_mid_recording_leaves_a_playable_partial_file_only(tmp_path: Path) -> None:
    target = tmp_path / "killed.mp4"
    script = tmp_path / "record.py"
    script.write_text(textwrap.dedent(_KILL_SCRIPT))
    proc = subprocess.Popen([sys.executable, str(script), str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    written = 0
    try:
        while written < 33:
            written = int(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    partial = tmp_path / ".killed.partial.mp4"
    assert not target.exists() and partial.exists()
    _, frames, times = decode(partial)  # decodes without error
    assert 10 <= len(frames) <= written
    levels = [round(float(f.mean())) for f in frames]
    assert levels == pytest.approx([(i * 10) % 250 for i in range(len(frames))], abs=4)  # exactly a prefix
    assert times == pytest.approx([i / 25 for i in range(len(frames))], abs=1e-3)


# --- preview -----------------------------------------------------------------------------


class FakeGui:
    """Records HighGUI calls."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, tuple[int, ...]]] = []
        self.destroyed: list[str] = []

    def imshow(self, winname: str, mat: Any) -> None:
        self.shown.append((winname, mat.shape))

    def waitKey(self, delay: int) -> int:  # noqa: N802 - OpenCV's name
        return -1

    def destroyWindow(self, winname: str) -> None:  # noqa: N802 - OpenCV's name
        self.destroyed.append(winname)


def test_preview_refuses_to_start_without_a_gui() -> None:
    with pytest.raises(ConfigError, match=r"cannot open preview window 'cam'.*pip install opencv-python"):
        PreviewSink("cam")  # this machine: opencv-python-headless, no display


def test_preview_names_a_missing_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview_module, "_opencv_gui_backend", lambda: "GTK3")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ConfigError, match="no display"):
        PreviewSink("cam")


def test_preview_shows_frames_and_closes_once() -> None:
    gui = FakeGui()
    sink = PreviewSink("cam", gui=gui)
    for i in range(3):
        sink.write(allowed(moving_box_bgr(i)))
    sink.close()
    sink.close()
    assert gui.shown == [("cam", (48, 64, 3))] * 3 and gui.destroyed == ["cam"] and sink.frames_shown == 3


def test_headless_preview_counts_frames() -> None:
    sink = HeadlessPreview()
    for i in range(4):
        sink.write(allowed(moving_box_bgr(i)))
    sink.close()
    assert sink.frames_shown == 4 and sink.closed


# --- virtual camera ----------------------------------------------------------------------


class FakeCamera:
    """Records what a virtual camera would send."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.size, self.fps = (width, height), fps
        self.sent: list[np.ndarray] = []
        self.closed = 0

    def send(self, frame: np.ndarray) -> None:
        self.sent.append(frame.copy())

    def close(self) -> None:
        self.closed += 1


def test_virtualcam_sends_rgb_at_the_device_size() -> None:
    cameras: list[FakeCamera] = []

    def factory(width: int, height: int, fps: float) -> FakeCamera:
        cameras.append(FakeCamera(width, height, fps))
        return cameras[-1]

    sink = VirtualCamSink(32, 24, 30, camera_factory=factory)
    blue_bgr = np.zeros((48, 64, 3), np.uint8)
    blue_bgr[..., 0] = 255
    sink.write(allowed(blue_bgr))
    sink.close()
    sink.close()
    camera = cameras[0]
    assert camera.size == (32, 24) and camera.fps == 30 and camera.closed == 1
    assert camera.sent[0].shape == (24, 32, 3) and tuple(camera.sent[0][0, 0]) == (0, 0, 255)  # RGB
    with pytest.raises(ValueError, match="closed"):
        sink.write(allowed(blue_bgr))


def test_virtualcam_for_a_stream_takes_the_first_frame_size() -> None:
    cameras: list[FakeCamera] = []

    def factory(width: int, height: int, fps: float) -> FakeCamera:
        cameras.append(FakeCamera(width, height, fps))
        return cameras[-1]

    sink = VirtualCamSink.for_stream(fps=25, camera_factory=factory)
    assert cameras == []  # opened at the first frame
    sink.write(allowed(moving_box_bgr(0, height=49, width=65)))
    sink.write(allowed(moving_box_bgr(1)))  # another size: resized to the first
    sink.close()
    assert cameras[0].size == (65, 49) and [f.shape for f in cameras[0].sent] == [(49, 65, 3)] * 2
    with pytest.raises(ValueError, match="must be positive"):
        VirtualCamSink(0, 10, 25, camera_factory=factory)


def test_virtualcam_without_pyvirtualcam_says_how_to_install_it() -> None:
    with pytest.raises(ConfigError, match=r"pip install 'captureguard\[virtualcam\]'"):
        VirtualCamSink(64, 48, 30)
    with pytest.raises(ConfigError, match="not installed"):
        VirtualCamSink.for_stream(fps=30)


def test_virtualcam_without_a_loopback_device_says_how_to_create_one(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_module = type(sys)("pyvirtualcam")
    monkeypatch.setitem(sys.modules, "pyvirtualcam", fake_module)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(virtualcam_module, "_LOOPBACK_SYSFS", "/nonexistent/video4linux")
    with pytest.raises(ConfigError, match=r"no v4l2loopback .* modprobe v4l2loopback"):
        VirtualCamSink(64, 48, 30)


def test_mp4_module_documents_its_crash_safety() -> None:
    doc = mp4_module.__doc__ or ""
    assert "frag_keyframe+empty_moov+default_base_moof" in doc and "os.replace" in doc


def test_preview_passes_key_presses_on() -> None:
    class KeyGui(FakeGui):
        def waitKey(self, delay: int) -> int:  # noqa: N802 - OpenCV's name
            return ord("p") if len(self.shown) == 2 else -1

    keys: list[str] = []
    sink = PreviewSink("cam", gui=KeyGui(), on_key=keys.append)
    for i in range(3):
        sink.write(allowed(np.zeros((8, 8, 3), np.uint8), i, i / 30))
    sink.close()
    assert keys == ["p"]

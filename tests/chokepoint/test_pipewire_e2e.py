"""End to end through a real PipeWire session (no camera): camerad -> socket -> publish -> app.

The "camera" is the conformance clip (index-marked frames, nude paintings cut, panned and slid
in); the app is ``gst-launch-1.0 pipewiresrc target-object=captureguard-camera`` (or
``captureguard-camera-held``, the held camera for apps that record). Every frame it
receives must be a frame the guard released (mark + pixels) or the guard's placeholder.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from captureguard.chokepoint.conformance import MarkedClip, audit, read_mark
from tests.chokepoint.support import Consumer, PipeWireSession, need_pipewire, wait_for

pytestmark = pytest.mark.slow

SIZE, SECONDS = (320, 240), 6.0
CLIP = f"conformance:{SIZE[0]}x{SIZE[1]}:{SECONDS:g}"
NODE, HELD = "captureguard-camera", "captureguard-camera-held"


@pytest.fixture
def session() -> Iterator[PipeWireSession]:
    need_pipewire()
    s = PipeWireSession()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def clip() -> MarkedClip:
    return MarkedClip(size=SIZE, seconds=SECONDS, paced=False, cache=True)


def start_chain(session: PipeWireSession, tmp_path: Path, mode: str) -> tuple[Path, Path]:
    sock, log = tmp_path / "frames.sock", tmp_path / "released.txt"
    camerad_args = ["--source", CLIP, "--socket", str(sock), "--view-group", "none", "--loop"]
    session.fake_camerad("camerad", "--mode", mode, "--release-log", str(log), "--", *camerad_args)
    wait_for("the frame socket", sock.exists, 30)
    session.captureguard("publish", "publish", "--socket", str(sock), "--connect-timeout-s", "20")
    wait_for(f"the {NODE} node", lambda: NODE in session.video_sources(), 30)
    return sock, log


def released_log(path: Path) -> tuple[set[int], set[int]]:
    shown, hidden = set(), set()
    for line in path.read_text().splitlines():
        index, release = line.split()
        (shown if release in ("checked", "covered") else hidden).add(int(index))
    return shown, hidden


def test_app_receives_only_released_frames_or_placeholders(
    session: PipeWireSession, tmp_path: Path, clip: MarkedClip
) -> None:
    _, log = start_chain(session, tmp_path, "oracle")
    app = Consumer(session, SIZE, frames=240, target=NODE)
    assert app.wait(60), f"the app did not get 240 frames in 60 s: {session.procs.log('consumer')}"
    shown, hidden = released_log(log)
    result = audit(app.frames, clip, withheld=(hidden - shown) | {i for i, t in enumerate(clip.truth) if t})
    assert len(app.frames) >= 120, "the app's leaky queue drops some under load, not half"
    assert result.passed, result.summary()
    assert set(result.released) <= shown, "a marked frame the guard never released reached the app"
    # The run must have exercised both paths: released frames and withheld (nude) stretches.
    assert len(result.released) >= 30 and result.placeholders >= 30, result.summary()
    assert session.video_sources() == [NODE], "exactly one Video/Source: the guarded camera"


def test_recording_apps_get_the_held_camera(session: PipeWireSession, tmp_path: Path, clip: MarkedClip) -> None:
    """``publish --held``: a second camera fed by camerad's held socket. With a detector that
    catches each painting 6 frames late, the live camera shows those frames; the held one never does."""
    _, log = start_chain(session, tmp_path, "late")
    held_sock = tmp_path / "frames-held.sock"  # camerad's default: beside --socket
    assert held_sock.exists()
    session.captureguard("publish-held", "publish", "--held", "--socket", str(held_sock), "--connect-timeout-s", "20")
    wait_for(f"the {HELD} node", lambda: HELD in session.video_sources(), 30)
    app = Consumer(session, SIZE, frames=240, target=HELD, name="held-app")
    assert app.wait(60), f"the app did not get 240 frames in 60 s: {session.procs.log('held-app')}"
    result = audit(app.frames, clip)  # a frame showing any part of a painting leaks
    assert result.passed, result.summary()
    # (a 6 s clip is mostly paintings and the stream's reopening time: few frames are released)
    assert len(result.released) >= 10 and result.placeholders >= 30, result.summary()
    shown, _ = released_log(log)
    assert shown & {i for i, t in enumerate(clip.truth) if t}, "the late detector must leak live, or this test is moot"
    assert sorted(session.video_sources()) == [NODE, HELD]


def test_the_camera_closes_while_no_app_reads(session: PipeWireSession, tmp_path: Path) -> None:
    """publish reads camerad's socket only while an app reads its node: with none, camerad closes the
    camera (no frame is guarded any more); an app that connects opens it again."""
    sock, log = tmp_path / "frames.sock", tmp_path / "released.txt"
    camerad_args = ["--source", CLIP, "--socket", str(sock), "--view-group", "none", "--loop", "--idle-close-s", "0.5"]
    session.fake_camerad("camerad", "--mode", "oracle", "--release-log", str(log), "--", *camerad_args)
    wait_for("the frame socket", sock.exists, 30)
    session.captureguard("publish", "publish", "--socket", str(sock), "--connect-timeout-s", "20")
    wait_for(f"the {NODE} node", lambda: NODE in session.video_sources(), 30)

    def frames_guarded() -> int:
        return len(log.read_text().splitlines()) if log.exists() else 0

    def camera_closed() -> bool:
        before = frames_guarded()
        time.sleep(1.0)
        return frames_guarded() == before

    wait_for("camerad to close the camera with no app", camera_closed, 20)
    assert NODE in session.video_sources(), "the node stays for apps to find"
    before = frames_guarded()
    app = Consumer(session, SIZE, frames=60, target=NODE)
    assert app.wait(30), f"the app got {len(app.frames)} frames: {session.procs.log('publish')}"
    assert frames_guarded() > before + 30, "an app reading the node opened the camera again"


@pytest.mark.parametrize("mode", ["raise", "hang"])
def test_failing_detector_gives_placeholders_only(
    session: PipeWireSession, tmp_path: Path, clip: MarkedClip, mode: str
) -> None:
    start_chain(session, tmp_path, mode)
    app = Consumer(session, SIZE, frames=45, target=NODE)
    assert app.wait(60), session.procs.log("consumer")
    result = audit(app.frames, clip)
    # (the app's leaky queue may drop a few of the 45 buffers under load: count what arrived)
    assert len(app.frames) >= 20 and result.placeholders == len(app.frames), result.summary()


def test_killing_camerad_stops_the_stream_without_raw_frames(
    session: PipeWireSession, tmp_path: Path, clip: MarkedClip
) -> None:
    start_chain(session, tmp_path, "oracle")
    camerad = session.procs.procs[1]
    app = Consumer(session, SIZE, frames=100_000, target=NODE)
    wait_for("60 frames at the app", lambda: len(app.frames) >= 60, 30)
    os.kill(camerad.pid, signal.SIGKILL)
    killed = time.monotonic()
    app.wait(4.0)  # times out: the app gets no more frames (the node stays, idle)
    after = [t for t in app.times if t > killed + 1.0]
    assert not after, f"{len(after)} frames arrived more than 1 s after camerad died"
    result = audit(app.frames, clip, withheld={i for i, t in enumerate(clip.truth) if t})
    assert result.passed, result.summary()


def test_killing_publish_removes_the_node(session: PipeWireSession, tmp_path: Path) -> None:
    start_chain(session, tmp_path, "oracle")
    publish = session.procs.procs[2]
    os.kill(publish.pid, signal.SIGKILL)
    wait_for("the node to disappear", lambda: NODE not in session.video_sources(), 10)
    assert session.video_sources() == []


@pytest.mark.models
def test_real_models_end_to_end(session: PipeWireSession, tmp_path: Path) -> None:
    """The shipped live models in camerad; withheld = frames the photo check blocks."""
    from captureguard import Checker, Decision

    size = (480, 270)
    clip = MarkedClip(size=size, seconds=SECONDS, paced=False)
    photo = Checker.create(mode="photo")
    unsafe = {i for i, t in enumerate(clip.truth) if t and photo.check(clip.frame(i)).decision is Decision.BLOCK}
    sock = tmp_path / "frames.sock"
    args = ["camerad", "--source", f"conformance:{size[0]}x{size[1]}:{SECONDS:g}", "--socket", str(sock)]
    session.captureguard("camerad", *args, "--view-group", "none", "--loop")
    wait_for("the frame socket (models loading)", sock.exists, 120)
    session.captureguard("publish", "publish", "--socket", str(sock), "--connect-timeout-s", "20")
    wait_for(f"the {NODE} node", lambda: NODE in session.video_sources(), 30)
    app = Consumer(session, size, frames=200, target=NODE)
    assert app.wait(90), session.procs.log("consumer")
    result = audit(app.frames, clip, withheld=unsafe, truth_leaks=False)
    assert len(unsafe) >= 30, "the clip must hold frames the photo check blocks"
    assert result.passed, result.summary()
    assert result.released and result.placeholders, result.summary()
    assert {read_mark(f) for f in app.frames} & unsafe == set()

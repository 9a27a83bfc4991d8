"""``captureguard publish``: one user's PipeWire camera, fed only from the guard's socket.

Reads released frames from camerad's socket and hands them to ``gst-launch-1.0 ... pipewiresink
mode=provide``, which creates a PipeWire node (``media.class=Video/Source``,
``media.role=Camera``, ``node.name=captureguard-camera``). Browsers (through the camera portal),
OBS and every other PipeWire client then see this camera. It never sees a raw frame: killing or
replacing it only loses the camera. Once its node exists, it reads the socket only while an app
reads the node (``pw-link -l``), so camerad can close the camera while no app uses it.

Debian 12's ``pipewiresink`` (PipeWire 0.3.65) crashes when fed by ``videoconvert`` /
``rawvideoparse`` buffers unless ``identity drop-allocation=true`` sits before it, so it does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from captureguard import ConfigError
from captureguard.chokepoint.framesock import DEFAULT_SOCKET, FrameClient, ReceivedFrame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishOptions:
    """What the published camera looks like.

    Attributes:
        socket_path: camerad's frame socket.
        node_name: the PipeWire node's ``node.name`` (what ``target-object`` selects).
        description: the name apps show.
        pixel_format: the raw format offered to apps (``YUY2``: what most webcams deliver).
        fps: the frame rate announced in the caps (frames are forwarded as they come).
        on_demand: read camerad's socket only while an app reads the node (camerad then keeps the
            camera closed while no app uses it); False: read all the time.
    """

    socket_path: str = DEFAULT_SOCKET
    node_name: str = "captureguard-camera"
    description: str = "Camera (guarded by captureguard)"
    pixel_format: str = "YUY2"
    fps: int = 30
    on_demand: bool = True


def gst_command(width: int, height: int, opts: PublishOptions, *, gst_launch: str = "gst-launch-1.0") -> list[str]:
    """The ``gst-launch-1.0`` argv that turns raw BGR frames on stdin into the PipeWire camera (pure)."""
    # gst-launch joins argv with spaces and parses the result: quote the structure, escape inner quotes.
    desc = opts.description.replace("\\", "").replace('"', "'")
    props = (
        f"props,media.class=Video/Source,media.role=Camera,node.name={opts.node_name},"
        f'media.name={opts.node_name},node.description=\\"{desc}\\"'
    )
    return [
        gst_launch,
        "-q",
        "fdsrc", "fd=0", f"blocksize={width * height * 3}",
        "!", "rawvideoparse", "format=bgr", f"width={width}", f"height={height}", f"framerate={opts.fps}/1",
        "!", "videoconvert",
        "!", f"video/x-raw,format={opts.pixel_format}",
        "!", "identity", "drop-allocation=true",  # Debian 12 pipewiresink crash without it
        "!", "pipewiresink", "mode=provide", "sync=false", f"client-name={opts.node_name}",
        f'stream-properties="{props}"',
    ]  # fmt: skip


class GstCamera:
    """The ``gst-launch-1.0`` child that owns the PipeWire node for one frame size."""

    def __init__(self, width: int, height: int, opts: PublishOptions) -> None:
        gst = shutil.which("gst-launch-1.0")
        if gst is None:
            raise ConfigError("publish needs gst-launch-1.0: apt-get install gstreamer1.0-tools gstreamer1.0-pipewire")
        self.size = (width, height)
        # setpriv --pdeathsig: the child dies with publish (even on kill -9), so the node goes too;
        # without setpriv, the closed stdin ends gst-launch a moment later.
        setpriv = shutil.which("setpriv")
        wrapper = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
        self._proc = subprocess.Popen(
            [*wrapper, *gst_command(width, height, opts, gst_launch=gst)], stdin=subprocess.PIPE
        )
        log.info(
            "PipeWire camera %s: %dx%d %s (gst pid %d)",
            opts.node_name,
            width,
            height,
            opts.pixel_format,
            self._proc.pid,
        )

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self._proc.pid

    def write(self, frame: ReceivedFrame) -> None:
        """Hand one frame to the node.

        Raises:
            ConfigError: the gst child died.
        """
        if self._proc.poll() is not None or self._proc.stdin is None:
            raise ConfigError(f"the PipeWire publisher (gst-launch-1.0) exited with {self._proc.returncode}")
        try:
            self._proc.stdin.write(frame.bgr.data)
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise ConfigError("the PipeWire publisher (gst-launch-1.0) stopped taking frames") from exc

    def close(self) -> None:
        """End the stream: the node disappears."""
        if self._proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=3)


#: Seconds without an app linked to the node before publish leaves camerad's socket.
IDLE_S = 3.0
#: How often publish asks PipeWire whether an app reads its node.
LINK_POLL_S = 0.5

#: ``linked(node_name)``: whether a PipeWire link reads the node (None: cannot tell).
Linked = Callable[[str], "bool | None"]


def linked_in(pw_link_list: str, node_name: str) -> bool:
    """Whether ``pw-link -l``'s output shows a link out of a port of ``node_name`` (pure).

    ``pw-link -l`` prints each linked port, then its links indented (``|->`` out, ``|<-`` in).
    """
    port = ""
    for line in pw_link_list.splitlines():
        if not line[:1].isspace():
            port = line.strip()
        elif line.strip().startswith("|->") and port.startswith(f"{node_name}:"):
            return True
    return False


def node_linked(node_name: str) -> bool | None:
    """Ask PipeWire (``pw-link -l``) whether an app reads ``node_name``; None when it cannot say."""
    pw_link = shutil.which("pw-link")
    if pw_link is None:
        return None
    try:
        out = subprocess.run([pw_link, "-l"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return linked_in(out.stdout, node_name) if out.returncode == 0 else None


def run_publish(
    opts: PublishOptions,
    stop: threading.Event,
    *,
    connect_timeout_s: float | None = None,
    linked: Linked = node_linked,
) -> int:
    """Forward frames until ``stop``; reconnects when camerad restarts. Returns an exit code.

    While camerad is away the node stays but gets no frames (apps keep the camera open and
    resume when systemd has restarted camerad); nothing else is ever shown.

    On demand (``opts.on_demand``): once the node exists (it needs a first frame for its size),
    publish reads camerad's socket only while an app is linked to the node (``linked``), and
    leaves it ``IDLE_S`` after the last app went, so that camerad can close the camera. When
    PipeWire cannot be asked (``linked`` returns None), it keeps reading.
    """
    camera: GstCamera | None = None
    waited = 0.0
    try:
        while not stop.is_set():
            if camera is not None and opts.on_demand and not _wait_for_app(opts.node_name, linked, stop):
                break
            try:
                client = FrameClient(opts.socket_path, connect_timeout_s=0.5)
            except ConnectionError as exc:
                waited += 0.5
                if connect_timeout_s is not None and waited >= connect_timeout_s:
                    log.error("%s", exc)
                    return 1
                if waited == 0.5:
                    log.warning("%s; waiting for it", exc)
                stop.wait(0.5)
                continue
            waited = 0.0
            with client:
                camera, idle = _forward(client, camera, opts, stop, linked)
            if idle:
                log.info("no app reads %s: left camerad's socket until one does", opts.node_name)
            elif not stop.is_set():
                log.warning("camerad closed the stream; waiting for it to come back")
                stop.wait(0.5)
    finally:
        if camera is not None:
            camera.close()
    return 0


def _wait_for_app(node_name: str, linked: Linked, stop: threading.Event) -> bool:
    """Block until an app is linked to the node (True) or ``stop`` (False)."""
    while not stop.is_set():
        if linked(node_name) is not False:
            return True
        stop.wait(LINK_POLL_S)
    return False


def _forward(
    client: FrameClient, camera: GstCamera | None, opts: PublishOptions, stop: threading.Event, linked: Linked
) -> tuple[GstCamera | None, bool]:
    """Forward frames until the stream ends, ``stop``, or (on demand) no app has read the node for
    ``IDLE_S``. Returns the camera and whether it stopped for want of an app."""
    seen = asked = time.monotonic()  # when an app was last seen linked, and PipeWire last asked
    while not stop.is_set():
        try:
            frame = client.receive(timeout_s=0.5)
        except TimeoutError:
            frame = None
        else:
            if frame is None:
                return camera, False  # camerad ended the stream
        if frame is not None:
            size = (frame.header.width, frame.header.height)
            if camera is None or camera.size != size:
                if camera is not None:
                    camera.close()
                camera = GstCamera(*size, opts)
                seen = time.monotonic()  # a new node: give apps time to find it
            camera.write(frame)
        now = time.monotonic()
        if opts.on_demand and camera is not None and now - asked >= LINK_POLL_S:
            asked = now
            if linked(opts.node_name) is not False:
                seen = now
            elif now - seen >= IDLE_S:
                return camera, True
    return camera, False


def process_exists(pid: int) -> bool:
    """True while ``pid`` runs (for tests and doctor)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

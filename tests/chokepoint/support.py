"""Test support for the chokepoint: a throwaway PipeWire session and bounded child processes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PIPEWIRE_TOOLS = ("pipewire", "wireplumber", "pw-dump", "gst-launch-1.0", "dbus-run-session")


def need_pipewire() -> None:
    """Skip (with the reason) when the PipeWire tools are missing; as root, they must be there."""
    missing = [t for t in PIPEWIRE_TOOLS if shutil.which(t) is None]
    if missing and os.geteuid() == 0:
        pytest.fail(f"{missing} missing although this is root: make test installs them (make pipewire-tools)")
    if missing:
        pytest.skip(
            f"needs {missing} (sudo apt-get install pipewire wireplumber gstreamer1.0-pipewire gstreamer1.0-tools)"
        )
    if subprocess.run(["gst-inspect-1.0", "pipewiresink"], capture_output=True, timeout=30, check=False).returncode:
        pytest.fail("gst-inspect-1.0 finds no pipewiresink: install gstreamer1.0-pipewire")


def wait_for(what: str, ok: Callable[[], bool], timeout_s: float, poll_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


@dataclass
class Procs:
    """Child processes, each in its own process group; all killed at teardown."""

    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cg-logs-")))

    def start(self, name: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:
            kw.setdefault("stdout", log)
            proc = subprocess.Popen(list(argv), env=self.env, stderr=log, start_new_session=True, **kw)
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)
        shutil.rmtree(self.logs, ignore_errors=True)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal ``proc``'s process group, wait up to 5 s, then SIGKILL it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    if proc.stdout is not None:
        time.sleep(0.05)  # let a reader thread see end-of-file first
        proc.stdout.close()


class PipeWireSession:
    """pipewire + wireplumber under ``dbus-run-session`` with a temporary ``XDG_RUNTIME_DIR``."""

    def __init__(self) -> None:
        self.runtime = Path(tempfile.mkdtemp(prefix="cg-xdg-"))
        self.runtime.chmod(0o700)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPEWIRE", "DBUS", "XDG_RUNTIME"))}
        env.update(XDG_RUNTIME_DIR=str(self.runtime), PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
        self.procs = Procs(env)
        self.procs.start("session", ["dbus-run-session", "--", "sh", "-c", "pipewire & sleep 0.3; exec wireplumber"])
        wait_for("WirePlumber to join PipeWire", self._ready, 20)

    @property
    def env(self) -> dict[str, str]:
        return self.procs.env

    def _ready(self) -> bool:
        objects = self.dump()
        return any(
            o.get("type", "").endswith(":Client")
            and (o.get("info") or {}).get("props", {}).get("application.name") == "WirePlumber"
            for o in objects
        )

    def dump(self) -> list[dict[str, Any]]:
        try:
            out = subprocess.run(["pw-dump"], env=self.env, capture_output=True, timeout=10, check=False).stdout
            return list(json.loads(out or b"[]"))
        except (subprocess.TimeoutExpired, json.JSONDecodeError):
            return []

    def video_sources(self) -> list[str]:
        from captureguard.chokepoint.doctor import video_sources

        return [str(p.get("node.name")) for p in video_sources(self.dump())]

    def captureguard(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self.procs.start(name, [sys.executable, "-m", "captureguard", *args])

    def fake_camerad(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self.procs.start(name, [sys.executable, "-m", "tests.chokepoint.camerad_fake", *args])

    def close(self) -> None:
        self.procs.stop_all()
        shutil.rmtree(self.runtime, ignore_errors=True)


class Consumer:
    """``gst-launch-1.0 pipewiresrc target-object=...`` writing BGR frames to a pipe we read."""

    def __init__(
        self, session: PipeWireSession, size: tuple[int, int], *, frames: int, target: str, name: str = "consumer"
    ) -> None:
        w, h = size
        self.frame_bytes = w * h * 3
        self.size = size
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        argv = [
            "gst-launch-1.0", "-q", "pipewiresrc", f"target-object={target}", f"num-buffers={frames}",
            "!", "queue", "leaky=downstream", "max-size-buffers=2",  # see docs/chokepoint.md: pipewiresrc stall
            "!", "videoconvert", "!", f"video/x-raw,format=BGR,width={w},height={h}",
            "!", "fdsink", "fd=1", "sync=false",
        ]  # fmt: skip
        self.proc = session.procs.start(name, argv, stdout=subprocess.PIPE)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        w, h = self.size
        while True:
            buf = self.proc.stdout.read(self.frame_bytes)
            if not buf or len(buf) < self.frame_bytes:
                return
            self.times.append(time.monotonic())
            self.frames.append(np.frombuffer(buf, np.uint8).reshape(h, w, 3))

    def wait(self, timeout_s: float) -> bool:
        """True when the consumer ended by itself within the timeout (else it is killed)."""
        self._thread.join(timeout_s)
        ended = not self._thread.is_alive()
        if not ended:
            stop(self.proc)
            self._thread.join(5)
        return ended

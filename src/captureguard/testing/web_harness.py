"""Drive ``captureguard serve`` with Chromium's fake camera (the browser e2e test and ``bench/web.py``).

* :func:`build_camera` writes a looping y4m (safe, painting, safe) and the reference thumbnails
  of its stills, so any picture seen later (drawn on the viewfinder, in the camera, in a
  recording) can be told apart by its nearest reference.
* :class:`Server` runs ``python -m captureguard serve --port 0 --data DIR`` and waits for its URL.
* :data:`INIT_SCRIPT` records a thumbnail of every draw onto ``#viewfinder`` in ``window.__drawn``.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from captureguard.testing.y4m import Segment, build_script, thumbnail

CHROMIUM = Path("/usr/bin/chromium")
SAFE_A = "matplotlib_grace_hopper.jpg"
NUDE = "prani_godward_nude_on_the_beach.jpg"
SAFE_B = "skimage_chelsea.png"
FPS = 10
SEGMENTS = (Segment(SAFE_A, "safe", 3.0), Segment(NUDE, "nudity", 3.0), Segment(SAFE_B, "safe", 3.0))
LOOP_S = sum(s.seconds for s in SEGMENTS)
THUMB_W, THUMB_H = 16, 12
_URL = re.compile(r"captureguard serving on (https?://\S+/)")

#: Runs before the page's scripts: every draw onto the visible viewfinder canvas also records a
#: 16x12 RGB thumbnail of what the canvas then shows (64x48 smooth downscale, 4x4 block means).
INIT_SCRIPT = """
(() => {
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  const scratch = document.createElement("canvas");
  scratch.width = 64; scratch.height = 48;
  const sx = scratch.getContext("2d", { willReadFrequently: true });
  sx.imageSmoothingEnabled = true; sx.imageSmoothingQuality = "high";
  window.__thumb = (source) => {
    draw.call(sx, source, 0, 0, 64, 48);
    const px = sx.getImageData(0, 0, 64, 48).data;
    const out = new Array(16 * 12 * 3).fill(0);
    for (let y = 0; y < 48; y++) for (let x = 0; x < 64; x++) {
      const i = (y * 64 + x) * 4, o = ((y >> 2) * 16 + (x >> 2)) * 3;
      out[o] += px[i] / 16; out[o + 1] += px[i + 1] / 16; out[o + 2] += px[i + 2] / 16;
    }
    return out.map((v) => Math.round(v));
  };
  window.__drawn = [];
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const result = draw.apply(this, args);
    if (this.canvas && this.canvas.id === "viewfinder") window.__drawn.push(window.__thumb(this.canvas));
    return result;
  };
})();
"""

CHROMIUM_ARGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A hidden or occluded headless tab must keep its timers and frames running.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
)


@dataclass(frozen=True)
class Camera:
    """The fake camera's y4m and the reference thumbnails of its stills.

    Attributes:
        path: the y4m file (Chromium loops it).
        references: ``(label, (12, 16, 3) float32 RGB thumbnail)``: one per still plus a black
            ``placeholder`` (the guard's hidden frame).
    """

    path: Path
    references: tuple[tuple[str, np.ndarray], ...]

    def classify(self, rgb_thumb: Sequence[float] | np.ndarray) -> str:
        """Label of the reference nearest to a ``16x12x3`` RGB thumbnail (flat or shaped)."""
        thumb = np.asarray(rgb_thumb, dtype=np.float32).reshape(THUMB_H, THUMB_W, 3)
        return min(self.references, key=lambda ref: float(np.abs(ref[1] - thumb).mean()))[0]


def build_camera(directory: Path, *, fps: int = FPS) -> Camera:
    """Write ``camera.y4m`` (safe 3 s, painting 3 s, safe 3 s at ``fps``) in ``directory``."""
    path = directory / "camera.y4m"
    frames = build_script(path, SEGMENTS, fps=fps)
    refs: dict[str, tuple[str, np.ndarray]] = {}
    names = [s.name for s in SEGMENTS for _ in range(round(s.seconds * fps))]
    for (label, bgr), seg_name in zip(frames, names, strict=True):
        if seg_name not in refs:
            refs[seg_name] = (label, thumbnail(np.ascontiguousarray(bgr[:, :, ::-1]), width=THUMB_W, height=THUMB_H))
    black = np.zeros((THUMB_H, THUMB_W, 3), np.float32)
    return Camera(path, (*refs.values(), ("placeholder", black)))


class Server:
    """``captureguard serve --port 0 --data DATA`` as a subprocess; a context manager.

    Args:
        data: the data directory.
        timeout_s: how long to wait for the ``captureguard serving on URL`` line.
        extra: more command-line arguments.
    """

    def __init__(self, data: Path, *, timeout_s: float = 60.0, extra: Sequence[str] = ()) -> None:
        self.data = data
        self.timeout_s = timeout_s
        self.extra = tuple(extra)
        self.url = ""
        self.lines: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._drainer: threading.Thread | None = None

    def __enter__(self) -> Server:
        cmd = [sys.executable, "-m", "captureguard", "serve", "--port", "0", "--data", str(self.data), *self.extra]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
        )
        found: queue.Queue[str] = queue.Queue()
        self._drainer = threading.Thread(target=self._drain, args=(found,), daemon=True)
        self._drainer.start()
        try:
            self.url = found.get(timeout=self.timeout_s)
        except queue.Empty:
            self.__exit__(None, None, None)
            raise RuntimeError(
                f"captureguard serve printed no URL within {self.timeout_s:.0f} s; output:\n" + "".join(self.lines)
            ) from None
        if not self.url:
            raise RuntimeError("captureguard serve exited before serving; output:\n" + "".join(self.lines))
        return self

    def _drain(self, found: queue.Queue[str]) -> None:
        stdout = self._proc.stdout if self._proc is not None else None
        if stdout is None:
            found.put("")
            return
        for line in stdout:
            self.lines.append(line)
            match = _URL.search(line)
            if match:
                found.put(match.group(1))
        found.put("")

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM, wait (kill after ``timeout_s``) and return the exit code; ``lines`` is then complete."""
        proc = self._proc
        if proc is None:
            raise RuntimeError("the server is not running")
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._drainer is not None:
            self._drainer.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        self._proc = None
        return int(proc.returncode)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self.stop()


def launch(playwright: Any, camera: Camera, *, headless: bool = True) -> Any:
    """Chromium with the fake camera playing ``camera.path`` (Debian's binary, never a download)."""
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera.path}"]
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=headless, args=args)


def open_camera_page(browser: Any, url: str, *, locale: str = "en-US", viewport: tuple[int, int] = (1100, 1000)) -> Any:
    """A new page on ``url`` with the drawn-thumbnail recorder installed."""
    context = browser.new_context(locale=locale, viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.add_init_script(INIT_SCRIPT)
    page.problems = []  # console errors: CSP violations, failed loads, uncaught exceptions
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.goto(url)
    return page


def wait_until(page: Any, expression: str, *, timeout_s: float = 30.0) -> None:
    """Poll a JS expression until truthy (``page.wait_for_function`` needs eval, which the CSP forbids)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression!r} stayed false for {timeout_s} s")
        time.sleep(0.05)


def wait_for_frames(page: Any, count: int, *, timeout_s: float = 30.0) -> None:
    """Wait until the viewfinder has drawn ``count`` answers from the guard."""
    wait_until(page, f"!!window.captureguardStats && window.captureguardStats.drawn >= {count}", timeout_s=timeout_s)


def camera_label(page: Any, camera: Camera) -> str:
    """What the hidden camera shows right now (``safe``, ``nudity``), via ``window.captureguardCamera``."""
    return camera.classify(page.evaluate("window.__thumb(window.captureguardCamera)"))


def wait_for_label(page: Any, camera: Camera, label: str, *, held_s: float, timeout_s: float = 30.0) -> None:
    """Wait until the camera has shown ``label`` for ``held_s`` seconds in a row (fresh run)."""
    deadline = time.monotonic() + timeout_s
    since: float | None = None
    seen_other = False
    while time.monotonic() < deadline:
        now_label = camera_label(page, camera)
        now = time.monotonic()
        if now_label != label:
            seen_other, since = True, None
        elif seen_other and since is None:
            since = now
        if since is not None and now - since >= held_s:
            return
        time.sleep(0.05)
    raise TimeoutError(f"the camera did not show {label!r} for {held_s} s within {timeout_s} s")


def page_stats(page: Any) -> dict[str, Any]:
    """``window.captureguardStats`` without the per-frame arrays, plus all latencies kept."""
    return dict(page.evaluate("({...window.captureguardStats, drawTimes: undefined})"))

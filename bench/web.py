"""Web viewfinder benchmark: ``captureguard serve`` driven by Chromium's fake camera.

The fake camera loops 3 s of a safe portrait, 3 s of a nude painting and 3 s of a safe cat
(640x480, ``--camera-fps``; the same script as ``tests/web/test_web_e2e.py``). For each scenario the camera
page runs ``--seconds`` and the page's own counters (``window.captureguardStats``) give:

* **viewfinder fps**: frames drawn on the visible canvas per second;
* **round trip**: camera frame sent on the WebSocket -> the guard's answer drawn (ms);
* **blocked**: answers with ``blocked: true`` (the painting, hidden behind the notice);
* **dropped**: frames the server dropped under overload.

Scenarios: one viewer on an idle machine; one viewer while 2 threads POST ``/v1/check`` in a
loop; two viewers at once. Writes ``bench/results/web.md``.

Usage::

    .venv/bin/python bench/web.py --seconds 20
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from playwright.sync_api import sync_playwright

from captureguard.testing import web_harness as wh
from captureguard.testing.y4m import load_fixture

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "bench" / "results"


@dataclass
class Row:
    """One viewer's numbers over one measured window."""

    scenario: str
    viewer: str
    seconds: float
    drawn: int
    fps: float
    median_ms: float
    p90_ms: float
    blocked: int
    dropped: int
    extra: str = ""


def _snapshot(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            "(() => { const s = window.captureguardStats; "
            "return {drawn: s.drawn, blocked: s.blocked, dropped: s.dropped, n: s.latency_log.length}; })()"
        )
    )


def _measure(pages: dict[str, Any], seconds: float, scenario: str, extra: str = "") -> list[Row]:
    """Run ``seconds`` and turn each page's counter deltas into a :class:`Row`."""
    start = {name: _snapshot(p) for name, p in pages.items()}
    t0 = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    rows = []
    for name, page in pages.items():
        end = _snapshot(page)
        log = page.evaluate(f"window.captureguardStats.latency_log.slice({start[name]['n']}, {end['n']})")
        lat = np.asarray(log or [np.nan], dtype=float)
        drawn = end["drawn"] - start[name]["drawn"]
        rows.append(
            Row(
                scenario,
                name,
                elapsed,
                drawn,
                drawn / elapsed,
                float(np.median(lat)),
                float(np.percentile(lat, 90)),
                end["blocked"] - start[name]["blocked"],
                end["dropped"] - start[name]["dropped"],
                extra,
            )
        )
    return rows


class CheckLoad:
    """``threads`` threads POSTing a safe JPEG to ``/v1/check`` until stopped (a busy integrator)."""

    def __init__(self, url: str, *, threads: int = 2) -> None:
        ok, jpeg = cv2.imencode(".jpg", load_fixture(wh.SAFE_A), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise RuntimeError("could not encode the load image")
        self.body = jpeg.tobytes()
        self.url = url + "v1/check"
        self.stop = threading.Event()
        self.done = 0
        self.errors = 0
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                answer = client.post(self.url, content=self.body, headers={"Content-Type": "image/jpeg"})
                if answer.status_code == 200:
                    self.done += 1
                else:
                    self.errors += 1

    def __enter__(self) -> CheckLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def run(seconds: float, *, camera_fps: int) -> list[Row]:
    """Every scenario, one fresh server."""
    rows: list[Row] = []
    cam = f"camera {camera_fps} fps: "
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        camera = wh.build_camera(Path(tmp), fps=camera_fps)
        with wh.Server(Path(tmp) / "data") as server:
            browser = wh.launch(pw, camera)
            first = wh.open_camera_page(browser, server.url)
            wh.wait_for_frames(first, 10)
            time.sleep(2)  # warm-up
            rows += _measure({"viewer 1": first}, seconds, cam + "1 viewer, idle")

            with CheckLoad(server.url, threads=2) as load:
                t0 = time.monotonic()
                rows += _measure({"viewer 1": first}, seconds, cam + "1 viewer + 2 threads of /v1/check")
                rate = load.done / (time.monotonic() - t0)
            rows[-1].extra = f"{rate:.1f} checks/s, {load.errors} errors"

            second = wh.open_camera_page(browser, server.url)
            wh.wait_for_frames(second, 5)
            time.sleep(1)
            rows += _measure({"viewer 1": first, "viewer 2": second}, seconds, cam + "2 viewers")
            browser.close()
    return rows


def table(rows: list[Row]) -> str:
    """The markdown table of ``rows``."""
    lines = [
        "| scenario | viewer | fps drawn | round trip median ms | p90 ms | blocked | dropped | notes |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.scenario} | {r.viewer} | {r.fps:.1f} | {r.median_ms:.0f} | {r.p90_ms:.0f} "
            f"| {r.blocked} | {r.dropped} | {r.extra} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run the scenarios, print the table and write ``bench/results/web.md``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per scenario")
    parser.add_argument(
        "--camera-fps", default="10,30", help="frame rates of the fake camera, comma-separated (each is a ceiling)"
    )
    args = parser.parse_args()
    if not wh.CHROMIUM.exists():
        raise SystemExit("/usr/bin/chromium is missing: apt-get install chromium (make test does it)")
    rates = [int(r) for r in args.camera_fps.split(",")]
    load_before = os.getloadavg()[0]
    rows = [row for fps in rates for row in run(args.seconds, camera_fps=fps)]
    text = table(rows)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    cpu = (
        f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()} "
        f"(1-min load average {load_before:.1f} before the run)"
    )
    (RESULTS / "web.md").write_text(
        "# Web viewfinder: end-to-end fps and round trip\n\n"
        f"`bench/web.py --seconds {args.seconds:g} --camera-fps {args.camera_fps}` on {cpu}; Chromium "
        f"headless with a fake camera (640x480 y4m at {args.camera_fps} fps looping "
        f"safe {wh.SEGMENTS[0].seconds:g} s / nude painting "
        f"{wh.SEGMENTS[1].seconds:g} s / safe {wh.SEGMENTS[2].seconds:g} s). The page sends 640-wide JPEGs (q 0.8), "
        "at most 2 in flight; round trip = frame sent on the WebSocket -> the guard's answer drawn. "
        "`blocked` counts answers held back behind the notice (the painting part of the loop). "
        "The camera's frame rate is the ceiling; the 30 fps rows show what the guard can sustain. "
        "Chromium, the server and the load share the same CPUs.\n\n" + text + "\n"
    )


if __name__ == "__main__":
    main()

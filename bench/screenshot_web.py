"""Screenshots of the camera page for the docs: ``docs/web_camera.png`` and ``docs/web_blocked.png``.

The fake camera plays the e2e script (safe portrait, nude painting, safe cat). The first shot is
taken once a safe part has been shown for over a second (whichever comes first: on this clip it
is usually the cat); the second in the painting part, when the viewfinder shows only the guard's
placeholder and the calm notice. Before a screenshot is kept, the photo checker looks at it: a
screenshot that is not allowed is not written.

Usage::

    .venv/bin/python bench/screenshot_web.py [--lang en-US]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from playwright.sync_api import sync_playwright

from captureguard.core.frame import Frame
from captureguard.guard.check import Checker
from captureguard.testing import web_harness as wh

ROOT = Path(__file__).resolve().parents[1]


def _shoot(page: Any, path: Path, checker: Checker) -> None:
    png = page.screenshot(full_page=True)
    bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"{path.name}: the screenshot did not decode")
    verdict = checker.check(Frame.from_bgr(bgr, source=str(path)))
    if not verdict.allowed:
        raise SystemExit(f"{path.name}: the photo check did not allow the screenshot ({verdict.decision.value})")
    path.write_bytes(png)
    print(f"wrote {path} ({bgr.shape[1]}x{bgr.shape[0]}, check {verdict.decision.value} {verdict.score:.3f})")


def main() -> None:
    """Take both screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", default="en-US", help="browser language (Accept-Language)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    checker = Checker.create(mode="photo")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        camera = wh.build_camera(Path(tmp))
        with wh.Server(Path(tmp) / "data") as server:
            browser = wh.launch(pw, camera)
            page = wh.open_camera_page(browser, server.url, locale=args.lang, viewport=(1000, 900))
            wh.wait_for_frames(page, 10)

            wh.wait_for_label(page, camera, "safe", held_s=1.2)
            wh.wait_until(page, "!window.captureguardStats.blockedNow")
            _shoot(page, args.out / "web_camera.png", checker)

            wh.wait_for_label(page, camera, "nudity", held_s=1.2)
            page.locator("#notice").wait_for(state="visible", timeout=10_000)
            last = camera.classify(page.evaluate("window.__drawn[window.__drawn.length - 1]"))
            if last == "nudity":
                raise SystemExit("the viewfinder shows the painting: not taking a screenshot")
            _shoot(page, args.out / "web_blocked.png", checker)
            browser.close()


if __name__ == "__main__":
    main()

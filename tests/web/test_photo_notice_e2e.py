"""In Chromium at 1280x900: the "This wasn't kept" notice after a blocked shutter is in view without
scrolling (it was below the fold), and the screenshot is kept for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from captureguard.testing import web_harness as wh
from captureguard.web.messages import load_messages

pytestmark = [pytest.mark.browser, pytest.mark.models, pytest.mark.slow]
if not wh.CHROMIUM.exists():
    pytest.skip("/usr/bin/chromium is missing (make test installs it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed in the venv")

VIEWPORT = (1280, 900)


def test_blocked_shutter_notice_is_in_view_at_1280x900(tmp_path: Path) -> None:
    camera = wh.build_camera(tmp_path)
    shot = Path(os.environ.get("CAPTUREGUARD_SCREENSHOT_DIR", tmp_path)) / "blocked_shutter_1280x900.png"
    with wh.Server(tmp_path / "data") as server, sync_api.sync_playwright() as pw:
        browser = wh.launch(pw, camera)
        page = wh.open_camera_page(browser, server.url, viewport=VIEWPORT)
        wh.wait_for_frames(page, 5)
        wh.wait_for_label(page, camera, "nudity", held_s=1.0)
        page.locator("#shutter").click()
        notice = page.locator("#photo-result .photo-notice")
        notice.wait_for(state="visible", timeout=15_000)
        title = notice.locator(".notice-title")
        assert title.inner_text() == load_messages()["en"].blocked_title
        box = page.evaluate(
            "(() => { const r = document.querySelector('#photo-result').getBoundingClientRect();"
            " return {top: r.top, bottom: r.bottom, scrollY: window.scrollY, height: window.innerHeight}; })()"
        )
        page.screenshot(path=str(shot))  # the viewport only: what a person sees without scrolling
        browser.close()
    assert box["scrollY"] == 0
    assert box["top"] >= 0 and box["bottom"] <= box["height"], box

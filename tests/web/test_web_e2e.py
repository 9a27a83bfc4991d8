"""End to end: ``captureguard serve`` + Chromium's fake camera playing safe stills and a nude painting.

The camera loops 3 s of a safe portrait, 3 s of a nude painting and 3 s of a safe cat. Checks:

(a) the visible viewfinder never draws a painting frame (every draw is thumbnailed in the page
    and matched against the stills), while many safe frames are drawn;
(b) the shutter pressed while the camera shows the painting saves nothing and shows the notice;
(c) the shutter pressed on a safe scene saves exactly one photo, listed by ``/api/gallery``;
(d) a recording through a whole loop holds no painting frame but does hold safe frames;
(e) the event log has a block.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from captureguard.testing import web_harness as wh
from captureguard.web.messages import load_messages

pytestmark = [pytest.mark.browser, pytest.mark.models, pytest.mark.slow]

if not wh.CHROMIUM.exists():
    pytest.skip(
        "/usr/bin/chromium is missing (make test installs it: apt-get install chromium)", allow_module_level=True
    )

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed in the venv")


def _listing(directory: Path) -> set[str]:
    return set(os.listdir(directory)) if directory.exists() else set()


def _video_labels(path: Path, camera: wh.Camera) -> list[str]:
    import av
    import cv2

    labels = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            thumb = cv2.resize(rgb, (wh.THUMB_W, wh.THUMB_H), interpolation=cv2.INTER_AREA)
            labels.append(camera.classify(thumb))
    return labels


def _shutter(page: Any) -> None:
    """Close the last photo result (if shown), then press the shutter."""
    if page.locator("#photo-result").is_visible():
        page.locator("#photo-result .close").click()
    page.locator("#shutter").click()


def test_camera_page_never_shows_the_painting(tmp_path: Path) -> None:
    camera = wh.build_camera(tmp_path)
    data = tmp_path / "data"
    started = time.monotonic()

    with wh.Server(data) as server, sync_api.sync_playwright() as pw:
        browser = wh.launch(pw, camera)
        page = wh.open_camera_page(browser, server.url)
        wh.wait_for_frames(page, 5)
        assert page.evaluate("document.querySelectorAll('video').length") == 0, "the camera <video> is in the DOM"

        # Record from a safe scene, so the recording spans safe -> painting -> safe.
        wh.wait_for_label(page, camera, "safe", held_s=0.3)
        page.locator("#record").click()
        page.locator("#rec").wait_for(state="visible", timeout=10_000)
        recording_from = time.monotonic()

        _shutter_on_painting(page, camera, data)  # (b)
        _shutter_on_safe_scene(page, camera, data, server.url)  # (c)

        # (d) keep recording through a whole loop and back to a safe scene, then stop.
        time.sleep(max(0.0, wh.LOOP_S + 1.0 - (time.monotonic() - recording_from)))
        wh.wait_for_label(page, camera, "safe", held_s=0.5)
        page.locator("#record").click()
        page.locator("#rec").wait_for(state="hidden", timeout=15_000)

        stats = wh.page_stats(page)
        drawn = page.evaluate("window.__drawn")
        events = page.request.get(server.url + "api/events?limit=200").json()["events"]
        problems = list(page.problems)
        _check_japanese(browser, server.url)
        browser.close()

    assert not problems, f"the camera page logged errors (CSP violations, failed loads...): {problems}"
    _check_drawn(camera, drawn, stats)  # (a)
    _check_recording(camera, data / "gallery" / "videos")  # (d)
    # (e) the event log has the block (viewfinder and/or the refused photo).
    blocks = {e["source"] for e in events if e["decision"] == "block"}
    assert blocks & {"viewfinder", "photo"}, f"no block event logged: {events}"
    print(f"block events from {sorted(blocks)}; test took {time.monotonic() - started:.1f} s")


def _shutter_on_painting(page: Any, camera: wh.Camera, data: Path) -> None:
    """(b) In the middle of the painting segment the shutter saves nothing and shows the notice."""
    photos = data / "gallery" / "photos"
    before = _listing(photos)
    wh.wait_for_label(page, camera, "nudity", held_s=1.0)
    _shutter(page)
    assert wh.camera_label(page, camera) == "nudity", "the painting segment ended before the shutter"
    notice = page.locator("#photo-result .photo-notice")
    notice.wait_for(state="visible", timeout=15_000)
    assert notice.locator(".notice-title").inner_text() == load_messages()["en"].blocked_title
    assert page.locator("#photo-result .photo-saved").is_hidden()
    assert _listing(photos) == before, "a blocked photo reached the gallery directory"


def _shutter_on_safe_scene(page: Any, camera: wh.Camera, data: Path, url: str) -> None:
    """(c) On a safe scene the shutter saves exactly one photo, listed by the gallery API."""
    photos = data / "gallery" / "photos"
    before = _listing(photos)
    wh.wait_for_label(page, camera, "safe", held_s=0.5)
    _shutter(page)
    page.locator("#photo-result .photo-saved").wait_for(state="visible", timeout=15_000)
    new = _listing(photos) - before
    assert len(new) == 1, f"expected one new photo, got {sorted(new)}"
    listed = page.request.get(url + "api/gallery").json()["items"]
    assert [i["name"] for i in listed if i["kind"] == "photos"] == list(new)


def _check_japanese(browser: Any, url: str) -> None:
    """A browser in Japanese gets the notices (from the server) and the page chrome in Japanese."""
    ja = load_messages()["ja"]
    context = browser.new_context(locale="ja-JP")
    page = context.new_page()
    page.goto(url + "events")
    page.locator("nav a[href='/']").filter(has_text="カメラ").wait_for(timeout=10_000)
    session = page.evaluate("fetch('/api/session').then((r) => r.json())")
    assert session["messages"]["blocked"]["title"] == ja.blocked_title
    assert session["messages"]["viewfinder"]["title"] == ja.viewfinder_title
    context.close()


def _check_drawn(camera: wh.Camera, drawn: list[list[float]], stats: dict[str, Any]) -> None:
    """(a) Every picture drawn on the viewfinder is a safe still or the black placeholder."""
    labels = [camera.classify(t) for t in drawn]
    counts = {label: labels.count(label) for label in set(labels)}
    print(f"\nviewfinder draws by nearest still: {counts}; {_summary(stats)}")
    assert counts.get("nudity", 0) == 0, f"the viewfinder drew painting frames: {counts}"
    assert counts.get("safe", 0) >= 20, f"too few safe frames drawn for a meaningful check: {counts}"
    assert stats["blocked"] > 0, "the guard never blocked a viewfinder frame: the painting was not seen"


def _check_recording(camera: wh.Camera, videos: Path) -> None:
    """(d) One finished MP4 with safe frames and no painting frame."""
    mp4s = sorted(p for p in videos.glob("*.mp4") if ".partial." not in p.name)
    assert len(mp4s) == 1, f"expected one recording, found {sorted(_listing(videos))}"
    labels = _video_labels(mp4s[0], camera)
    counts = {label: labels.count(label) for label in set(labels)}
    print(f"recording {mp4s[0].name}: {len(labels)} frames by nearest still: {counts}")
    assert counts.get("nudity", 0) == 0, f"the recording holds painting frames: {counts}"
    assert counts.get("safe", 0) >= 10, f"the recording holds too few safe frames: {counts}"
    assert counts.get("placeholder", 0) > 0, f"the recording did not span the painting: {counts}"


def _summary(stats: dict[str, Any]) -> str:
    log = np.asarray(stats.get("latency_log") or [0], dtype=float)
    return (
        f"drawn {stats['drawn']} at {stats['fps']} fps, round trip median {np.median(log):.0f} ms "
        f"p90 {np.percentile(log, 90):.0f} ms, sent {stats['sent']}, blocked {stats['blocked']}, "
        f"dropped {stats['dropped']}"
    )

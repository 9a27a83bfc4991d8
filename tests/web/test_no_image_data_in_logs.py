"""No log level writes pixels or image metadata: the web app and the CLI at DEBUG, every logger on."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from captureguard.cli.main import main
from tests.support.webutil import GREEN, RED, WS_URL, csrf, hello, make_app, next_answer, running

ARTIST = "Zq7-ARTIST-MARKER-4711"
#: Third-party loggers that a -vv run (or an integrator's DEBUG config) turns on too.
LOGGERS = ("", "PIL", "uvicorn", "uvicorn.error", "websockets", "asyncio", "captureguard", "multipart", "httpx")


def tagged_jpeg(colour: tuple[int, int, int]) -> bytes:
    """A JPEG with an EXIF Artist and a distinctive pixel pattern (BGR ``colour`` plus a ramp)."""
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:] = colour[::-1]
    rgb[:8, :, 1] = np.arange(64, dtype=np.uint8) * 3  # a ramp: distinctive pixel bytes
    exif = Image.Exif()
    exif[315] = ARTIST  # Artist
    exif[270] = ARTIST + "-description"  # ImageDescription
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", exif=exif.tobytes(), quality=95)
    return out.getvalue()


# Made at import, before the logs are captured (encoding them logs their tags at DEBUG too).
SAFE, NUDE = tagged_jpeg(GREEN), tagged_jpeg(RED)
SAFE_RGB = np.asarray(Image.open(io.BytesIO(SAFE)).convert("RGB"))


def markers(data: bytes) -> list[str]:
    """What a leak of ``data`` would look like in a log: the metadata, and a run of its bytes as
    repr, hex and spaced hex (as websockets prints frames)."""
    run = data[200:216]
    return [ARTIST, ARTIST.encode().hex(), repr(run)[2:-1], run.hex(), " ".join(f"{b:02x}" for b in run)]


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


def assert_clean(records: list[logging.LogRecord], data: bytes) -> None:
    assert records, "nothing was logged: the test would not see a leak"
    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in records)
    for marker in markers(data):
        assert marker not in text, f"log holds {marker!r}"


def test_web_app_logs_no_pixels_or_metadata(tmp_path: Path, every_log: pytest.LogCaptureFixture) -> None:
    safe, nude = SAFE, NUDE
    with running(make_app(tmp_path)) as client:
        token = csrf(client)
        jpeg = {"content-type": "image/jpeg"}
        assert client.post("/v1/check", content=nude, headers=jpeg).json()["decision"] == "block"
        assert client.post("/v1/check", content=safe, headers=jpeg).json()["decision"] == "allow"
        blocked = client.post("/api/photo", content=nude, headers={**jpeg, "x-csrf-token": token})
        assert blocked.json()["saved"] is False
        assert client.post("/api/photo", content=safe, headers={**jpeg, "x-csrf-token": token}).json()["saved"]
        assert client.post("/v1/check", content=safe[:300], headers=jpeg).status_code == 400  # truncated
        with client.websocket_connect(WS_URL) as ws:
            hello(ws, token)
            for frame in (safe, nude, safe):
                ws.send_bytes(frame)
                next_answer(ws, [])
    assert any(r.name.startswith("captureguard") for r in every_log.records)
    assert_clean(every_log.records, safe)
    assert_clean(every_log.records, nude)


@pytest.mark.models
def test_cli_check_and_video_log_no_pixels_or_metadata(tmp_path: Path, every_log: pytest.LogCaptureFixture) -> None:
    photo = tmp_path / "tagged.jpg"
    data = SAFE
    photo.write_bytes(data)
    assert main(["-vv", "check", str(photo)]) == 0
    video = tmp_path / "tagged.mp4"
    with av.open(str(video), "w") as container:
        container.metadata["artist"] = ARTIST
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(10):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(SAFE_RGB, format="rgb24")))
        container.mux(stream.encode())
    assert main(["-vv", "video", str(video), str(tmp_path / "out.mp4"), "--no-progress"]) in (0, 1)
    assert_clean(every_log.records, data)
    assert_clean(every_log.records, video.read_bytes())


@pytest.mark.models
@pytest.mark.slow
def test_served_at_vv_the_console_holds_no_frame_bytes_or_metadata(tmp_path: Path) -> None:
    """The real server (uvicorn + websockets) at -vv: websockets logs each frame at DEBUG
    (``< BINARY ff d8 ff ...``) and Pillow each EXIF tag; neither may reach the console."""
    import json
    import re
    import subprocess
    import sys
    import threading
    import urllib.request
    from http.cookiejar import CookieJar

    from websockets.sync.client import connect

    command = [sys.executable, "-m", "captureguard", "-vv", "serve", "--port", "0", "--data", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            lines.append(line)
            if found := re.search(r"serving on (\S+/)", line):
                url = found[1]
                break
        assert url, "".join(lines)
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
        reader.start()
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        token = json.loads(opener.open(url + "api/session").read())["csrf_token"]
        check = urllib.request.Request(url + "v1/check", data=SAFE, headers={"content-type": "image/jpeg"})
        assert json.loads(opener.open(check).read())["decision"] == "allow"
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        headers = {"Cookie": cookie, "Origin": url.rstrip("/")}
        with connect(url.replace("http", "ws", 1) + "ws/viewfinder", additional_headers=headers) as ws:
            ws.send(json.dumps({"type": "hello", "csrf": token}))
            for _ in range(3):
                ws.send(SAFE)
                assert json.loads(ws.recv())["type"] == "frame"
                ws.recv()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if "reader" in locals():
            reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    text = "".join(lines)
    assert "DEBUG" in text  # -vv was in effect
    assert "BINARY" not in text and ARTIST not in text
    head = SAFE[:12]
    assert " ".join(f"{b:02x}" for b in head) not in text and head.hex() not in text

"""Helpers of the web tests: an app on fake detectors, colour-coded frames, a viewfinder client."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from fastapi import FastAPI

from captureguard.core.detection import Detections
from captureguard.core.frame import Frame
from captureguard.core.fusion import FusionModel
from captureguard.core.policy import Profile
from captureguard.errors import DetectionError
from captureguard.guard.check import Checker
from captureguard.testing import region, whole
from captureguard.web.app import ServerConfig, Services, create_app

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx still works
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

BASE = "http://127.0.0.1:8765"
WS_URL = "ws://127.0.0.1:8765/ws/viewfinder"
PROFILE = Profile("t", block_score=0.5, warn_score=0.3, warn_underwear=True, underwear_threshold=0.5)
FUSION = FusionModel(-4.0, {"nsfw_logit": 1.0})

# BGR colours that script the fake detector.
GREEN, RED, BLUE, YELLOW, MAGENTA = (40, 180, 40), (30, 30, 220), (220, 30, 30), (30, 220, 220), (220, 30, 220)


@dataclass
class ColourDetector:
    """A fake detector scripted by a frame's mean colour (so tests do not depend on call order).

    Red is nudity (block), yellow is underwear-level (warn), blue raises (fail closed),
    magenta hangs until ``release`` is set, anything else is safe.
    """

    name: str = "colour"
    release: threading.Event = field(default_factory=threading.Event)
    calls: int = 0

    def detect(self, frame: Frame) -> Detections:
        self.calls += 1
        b, g, r = (float(v) for v in frame.bgr.reshape(-1, 3).mean(axis=0))
        if r > 150 and g < 100 and b < 100:
            return whole(0.999)
        if r > 150 and g > 150 and b < 100:
            return Detections.concat([region("FEMALE_BREAST_COVERED", 0.8), region("BELLY_EXPOSED", 0.8)])
        if b > 150 and g < 100 and r < 100:
            raise DetectionError("the fake detector failed")
        if b > 150 and r > 150 and g < 100:
            self.release.wait(10.0)
        return whole(0.01)


#: The first-run setup code the test apps use (``captureguard serve`` makes a random one).
SETUP_CODE = "test-setup-code"


def make_app(tmp_path: Path, detector: ColourDetector | None = None, **config: Any) -> FastAPI:
    """The app on ``detector`` (photo and live checkers share it), data under ``tmp_path/data``."""
    det = detector or ColourDetector()
    services = Services(Checker([det], FUSION, PROFILE), Checker([det], FUSION, PROFILE))
    config.setdefault("photo_deadline_s", 1.0)
    config.setdefault("setup_code", SETUP_CODE)
    return create_app(ServerConfig(data_dir=tmp_path / "data", **config), services=services)


@contextmanager
def running(app: FastAPI) -> Iterator[TestClient]:
    """A test client on ``http://127.0.0.1:8765`` (an allowed Host), lifespan included."""
    with TestClient(app, base_url=BASE) as client:
        yield client


def csrf(client: TestClient) -> str:
    """Start a session (cookie) and return its CSRF token."""
    response = client.get("/api/session")
    assert response.status_code == 200
    return str(response.json()["csrf_token"])


def picture(colour: tuple[int, int, int], *, width: int = 64, height: int = 48, suffix: str = ".jpg") -> bytes:
    """An encoded solid-colour image."""
    bgr = np.zeros((height, width, 3), np.uint8)
    bgr[:] = colour
    ok, buf = cv2.imencode(suffix, bgr)
    assert ok
    return bytes(buf.tobytes())


def mean_bgr(data: bytes) -> tuple[float, float, float]:
    """Mean BGR of an encoded image."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None
    b, g, r = (float(v) for v in bgr.reshape(-1, 3).mean(axis=0))
    return b, g, r


def is_reddish(bgr: tuple[float, float, float]) -> bool:
    """True if the picture looks like the red (nudity) test frames."""
    b, g, r = bgr
    return r > 120 and g < 100 and b < 100


def hello(ws: Any, token: str) -> None:
    """Send the viewfinder hello."""
    ws.send_text(json.dumps({"type": "hello", "csrf": token}))


@contextmanager
def viewfinder(client: TestClient, **kwargs: Any) -> Iterator[Any]:
    """A viewfinder socket after its hello (the session cookie is made before connecting)."""
    token = csrf(client)
    with client.websocket_connect(WS_URL, **kwargs) as ws:
        hello(ws, token)
        yield ws


def next_answer(ws: Any, statuses: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], bytes | None]:
    """The next frame answer: ``(header, jpeg)`` or ``({"type": "dropped"...}, None)``.

    Status messages on the way are appended to ``statuses``.
    """
    while True:
        message = ws.receive_json()
        if message["type"] == "frame":
            return message, ws.receive_bytes()
        if message["type"] == "dropped":
            return message, None
        if statuses is None:
            raise AssertionError(f"unexpected message {message}")
        statuses.append(message)

"""``captureguard serve`` as a user runs it: a real process on the shipped models, a port, signals."""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from websockets.sync.client import connect

from captureguard.cli.serve import is_loopback
from captureguard.testing.web_harness import Server

DEMO = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data" / "demo"


def request(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, Any, Any]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60, context=context) as answer:
            return answer.status, json.loads(answer.read()), answer.headers
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), err.headers


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("camera.local", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.models
@pytest.mark.slow
def test_serve_checks_images_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with Server(tmp_path / "data") as served:
        assert served.url.startswith("http://127.0.0.1:")
        status, health, _ = request(served.url + "v1/health")
        assert status == 200 and health["status"] == "ok" and health["profile"] == "child"
        assert health["models"]["photo"] and health["models"]["live"]

        nude = (DEMO / "prani_godward_nude_on_the_beach.jpg").read_bytes()
        portrait = (DEMO / "matplotlib_grace_hopper.jpg").read_bytes()
        status, verdict, _ = request(served.url + "v1/check", nude, {"content-type": "image/jpeg"})
        assert status == 200 and verdict["decision"] == "block", verdict
        status, verdict, _ = request(served.url + "v1/check", portrait, {"content-type": "image/jpeg"})
        assert status == 200 and verdict["decision"] == "allow", verdict
        status, error, _ = request(served.url + "v1/check", b"not an image", {"content-type": "image/jpeg"})
        assert status == 400 and "detail" in error

        status, openapi, _ = request(served.url + "openapi.json")
        assert status == 200 and "/v1/check" in openapi["paths"]

        assert served.stop() == 0, "".join(served.lines)
    assert not any("Traceback" in line for line in served.lines), "".join(served.lines)


@pytest.mark.models
@pytest.mark.slow
def test_shutdown_finalises_an_open_recording(tmp_path: Path) -> None:
    """SIGTERM while a viewfinder records: the MP4 is closed properly and holds the safe frames."""
    portrait = cv2.imread(str(DEMO / "matplotlib_grace_hopper.jpg"))
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(portrait, (320, 240)))
    assert ok
    with Server(tmp_path / "data") as served:
        origin = served.url.rstrip("/")
        _, session, headers = request(served.url + "api/session")
        cookie = headers["set-cookie"].split(";")[0]
        ws_url = "ws" + origin.removeprefix("http") + "/ws/viewfinder"
        with connect(ws_url, additional_headers={"cookie": cookie, "origin": origin}) as ws:
            ws.send(json.dumps({"type": "hello", "csrf": session["csrf_token"]}))
            ws.send(json.dumps({"type": "record", "on": True}))
            released = 0
            for _ in range(6):
                ws.send(jpeg.tobytes())
                while True:
                    message = ws.recv(timeout=30)
                    if isinstance(message, bytes):
                        break
                    header = json.loads(message)
                    if header["type"] == "frame":
                        released += not header["blocked"]
            assert released == 6
            assert served.stop() == 0, "".join(served.lines)
    videos = list((tmp_path / "data" / "gallery" / "videos").glob("*.mp4"))
    assert len(videos) == 1, "".join(served.lines)
    with av.open(str(videos[0])) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == 6
    assert (
        float(np.abs(cv2.resize(frames[-1], (320, 240)).astype(np.float32) - cv2.resize(portrait, (320, 240))).mean())
        < 20
    )


@pytest.mark.models
@pytest.mark.slow
def test_non_loopback_host_warns(tmp_path: Path) -> None:
    with Server(tmp_path / "data", extra=["--host", "0.0.0.0"]) as served:
        assert served.stop() == 0
    text = "".join(served.lines)
    assert "warning: --host 0.0.0.0 is not a loopback address" in text


def test_unknown_profile_fails_before_listening(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "captureguard", "serve", "--port", "0", "--data", str(tmp_path), "--profile", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "nope" in proc.stderr and "Traceback" not in proc.stderr
    assert "serving on" not in proc.stdout


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
         "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.mark.models
@pytest.mark.slow
def test_serve_over_tls_for_phones(tmp_path: Path) -> None:
    """With a certificate the page, the API and the viewfinder socket are HTTPS/WSS, the cookie Secure."""
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    portrait = cv2.imread(str(DEMO / "matplotlib_grace_hopper.jpg"))
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(portrait, (320, 240)))
    assert ok
    with Server(tmp_path / "data", extra=["--tls-cert", str(cert), "--tls-key", str(key)]) as served:
        assert served.url.startswith("https://127.0.0.1:"), served.url
        status, session, headers = request(served.url + "api/session", context=trust)
        assert status == 200
        cookie_header = headers["set-cookie"]
        assert "secure" in cookie_header.lower() and "httponly" in cookie_header.lower()
        status, health, headers = request(served.url + "v1/health", context=trust)
        assert status == 200 and health["status"] == "ok"
        assert "wss://" in headers["content-security-policy"]
        with pytest.raises((OSError, http.client.HTTPException)):  # plain HTTP on the TLS port: no answer
            request("http" + served.url.removeprefix("https"))
        origin = served.url.rstrip("/")
        ws_url = "wss" + origin.removeprefix("https") + "/ws/viewfinder"
        cookie = cookie_header.split(";")[0]
        with connect(ws_url, ssl=trust, additional_headers={"cookie": cookie, "origin": origin}) as ws:
            ws.send(json.dumps({"type": "hello", "csrf": session["csrf_token"]}))
            ws.send(jpeg.tobytes())
            header = json.loads(ws.recv(timeout=30))
            assert header["type"] == "frame" and not header["blocked"], header
            assert isinstance(ws.recv(timeout=30), bytes)
        assert served.stop() == 0, "".join(served.lines)


@pytest.mark.parametrize("which", ["cert-only", "missing-files", "not-a-certificate"])
def test_bad_tls_options_fail_before_loading_models(tmp_path: Path, which: str) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    args = {
        "cert-only": ["--tls-cert", str(junk)],
        "missing-files": ["--tls-cert", str(tmp_path / "no.pem"), "--tls-key", str(tmp_path / "no.key")],
        "not-a-certificate": ["--tls-cert", str(junk), "--tls-key", str(junk)],
    }[which]
    proc = subprocess.run(
        [sys.executable, "-m", "captureguard", "serve", "--port", "0", "--data", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "tls" in proc.stderr.lower() or "certificate" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr and "serving on" not in proc.stdout

"""The web app's HTTP side: integrator API, uploads, shutter, CSRF/Host/Origin, settings, gallery, events."""

from __future__ import annotations

import csv
import io
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from captureguard.guard.check import Checker
from captureguard.web.app import ServerConfig, Services, create_app
from captureguard.web.security import ApiError
from captureguard.web.uploads import read_body
from tests.support.webutil import (
    BASE,
    BLUE,
    FUSION,
    GREEN,
    MAGENTA,
    PROFILE,
    RED,
    SETUP_CODE,
    YELLOW,
    ColourDetector,
    TestClient,
    csrf,
    make_app,
    mean_bgr,
    picture,
    running,
)

DEMO = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data" / "demo"
JPEG = {"content-type": "image/jpeg"}


@pytest.fixture
def client(tmp_path: Path) -> Any:
    with running(make_app(tmp_path)) as c:
        yield c


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def post_photo(client: TestClient, data: bytes, token: str, *, confirm: int = 0, **headers: str) -> Any:
    return client.post(
        f"/api/photo?confirm={confirm}", content=data, headers={**JPEG, "x-csrf-token": token, **headers}
    )


# -- service basics -----------------------------------------------------------------------------


def test_health_openapi_and_no_cdn_docs(client: TestClient) -> None:
    health = client.get("/v1/health").json()
    assert health["status"] == "ok" and health["profile"] == "child" and health["viewers"] == 0
    assert health["models"] == {"photo": ["colour"], "photo_also": [], "live": ["colour"], "live_first": []}
    spec = client.get("/openapi.json").json()
    assert "/v1/check" in spec["paths"] and "/api/photo" in spec["paths"]
    assert client.get("/docs").status_code == 404  # Swagger UI loads from a CDN: off
    assert client.get("/redoc").status_code == 404


@pytest.mark.parametrize("path", ["/api/session", "/v1/health", "/api/nope", "/openapi.json"])
def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "connect-src 'self' ws://127.0.0.1:8765" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"


def test_errors_are_json(client: TestClient) -> None:
    answer = client.get("/api/nope")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"
    invalid = client.get("/api/events?limit=0")
    assert invalid.status_code == 422 and invalid.json()["error"] == "invalid"


def test_pages_are_served_from_static(tmp_path: Path) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>camera</title>", "utf-8")
    (static / "app.css").write_text("body{}", "utf-8")
    det = ColourDetector()
    services = Services(Checker([det], FUSION, PROFILE), Checker([det], FUSION, PROFILE))
    app = create_app(ServerConfig(data_dir=tmp_path / "data"), services=services, static_dir=static)
    with running(app) as c:
        page = c.get("/")
        assert page.status_code == 200 and "camera" in page.text
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert c.get("/static/app.css").status_code == 200
        assert c.get("/gallery").status_code == 404  # not installed in this static dir


# -- /v1/check ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("colour", "decision", "code"),
    [(GREEN, "allow", "IMAGE_NSFW"), (RED, "block", None), (YELLOW, "warn", None), (BLUE, "block", "error")],
    ids=["safe", "nudity", "underwear", "detector-error-fails-closed"],
)
def test_check_decisions(client: TestClient, colour: tuple[int, int, int], decision: str, code: str | None) -> None:
    answer = client.post("/v1/check", content=picture(colour), headers=JPEG)
    assert answer.status_code == 200
    verdict = answer.json()
    assert verdict["decision"] == decision and verdict["profile"] == "child"
    assert verdict["image"] == {"width": 64, "height": 48} and "total" in verdict["timings_ms"]
    if code is not None:
        assert verdict["reasons"][0]["code"] == code
    events = client.get("/api/events?source=api").json()
    assert events["total"] == 1 and events["events"][0]["decision"] == decision


def test_check_timeout_blocks(tmp_path: Path) -> None:
    det = ColourDetector()
    with running(make_app(tmp_path, det, photo_deadline_s=0.2)) as c:
        verdict = c.post("/v1/check", content=picture(MAGENTA), headers=JPEG).json()
        det.release.set()
    assert verdict["decision"] == "block" and verdict["reasons"][0]["code"] == "timeout"


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (the pixels are never there)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'


@pytest.mark.parametrize(
    ("body", "ctype", "status", "words"),
    [
        (b"\xff\xd8\xff\xe0" + b"garbage" * 50, "image/jpeg", 400, "cannot load image"),
        (b"", "image/jpeg", 400, "empty"),
        (SVG, "image/png", 400, "SVG is not a supported image format"),
        (SVG, "image/svg+xml", 415, "not accepted"),
        (b"hello", "text/plain", 415, "not accepted"),
        (b"hello", "", 415, "not accepted"),
        (bomb_png(12_000, 10_000), "image/png", 413, "over the 100 MP limit"),
        (bomb_png(20_000, 20_000), "image/png", 413, "too many pixels to decode safely"),
    ],
    ids=["corrupt", "zero-bytes", "svg-as-png", "svg-type", "text", "no-type", "bomb-120MP", "bomb-400MP"],
)
def test_bad_uploads(client: TestClient, body: bytes, ctype: str, status: int, words: str) -> None:
    headers = {"content-type": ctype} if ctype else {}
    answer = client.post("/v1/check", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"] and "\n" not in answer.json()["detail"]
    assert client.get("/api/events").json()["total"] == 0  # nothing was checked


def test_upload_over_the_limit_is_413(tmp_path: Path) -> None:
    with running(make_app(tmp_path, max_upload_bytes=1000)) as c:
        big = picture(GREEN, width=400, height=300, suffix=".png")
        assert len(big) > 1000
        assert c.post("/v1/check", content=big, headers={"content-type": "image/png"}).status_code == 413

        def chunks() -> Any:  # no Content-Length: chunked transfer
            yield big

        answer = c.post("/v1/check", content=chunks(), headers={"content-type": "image/png"})
        assert answer.status_code == 413 and answer.json()["error"] == "too_large"


def _request(chunks: list[bytes], headers: dict[str, str], pulled: list[int]) -> Request:
    queue = list(chunks)

    async def receive() -> dict[str, Any]:
        pulled.append(1)
        body = queue.pop(0) if queue else b""
        return {"type": "http.request", "body": body, "more_body": bool(queue)}

    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/v1/check", "headers": raw}, receive)


@pytest.mark.anyio
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_huge_body_is_refused_without_reading_it_all(declared: bool) -> None:
    pulled: list[int] = []
    chunks = [b"x" * 1_000_000] * 100  # 100 MB offered
    headers = {"content-length": str(100_000_000)} if declared else {}
    with pytest.raises(ApiError) as caught:
        await read_body(_request(chunks, headers, pulled), 2_500_000)
    assert caught.value.status == 413
    assert len(pulled) <= 3  # stopped at the limit, never read the other ~97 MB


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_overload_is_503_and_keeps_nothing(tmp_path: Path) -> None:
    det = ColourDetector()
    with running(make_app(tmp_path, det, max_pending_checks=1, photo_deadline_s=5.0)) as c:
        slow: list[Any] = []
        hang = threading.Thread(target=lambda: slow.append(c.post("/v1/check", content=picture(MAGENTA), headers=JPEG)))
        hang.start()
        for _ in range(500):
            if det.calls:
                break
            threading.Event().wait(0.01)
        token = csrf(c)
        busy = c.post("/v1/check", content=picture(GREEN), headers=JPEG)
        busy_photo = post_photo(c, picture(GREEN), token)
        det.release.set()
        hang.join(10)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert busy.json()["error"] == "busy"
        assert busy_photo.status_code == 503
        assert slow[0].status_code == 200
        assert files_under(tmp_path / "data" / "gallery") == []


# -- the shutter (/api/photo) -------------------------------------------------------------------


def test_allowed_photo_is_saved_and_listed(client: TestClient, tmp_path: Path) -> None:
    token = csrf(client)
    answer = post_photo(client, picture(GREEN), token).json()
    assert answer["saved"] is True and answer["decision"] == "allow" and answer["message"] is None
    name = answer["name"]
    assert files_under(tmp_path / "data" / "gallery") == [tmp_path / "data" / "gallery" / "photos" / name]
    items = client.get("/api/gallery").json()["items"]
    assert [(i["kind"], i["name"]) for i in items] == [("photos", name)]
    served = client.get(f"/api/gallery/photos/{name}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    _b, g, r = mean_bgr(served.content)
    assert g > 150 and r < 80  # the checked green picture
    event = client.get("/api/events?source=photo").json()["events"][0]
    assert event["decision"] == "allow" and event["detail"] == name


@pytest.mark.parametrize(
    ("colour", "decision", "title"),
    [(RED, "block", "This wasn't kept"), (BLUE, "block", "Not saved: the check could not run")],
    ids=["nudity", "detector-error"],
)
def test_blocked_photo_leaves_no_file(
    client: TestClient, tmp_path: Path, colour: tuple[int, int, int], decision: str, title: str
) -> None:
    token = csrf(client)
    answer = post_photo(client, picture(colour), token, confirm=1).json()
    assert answer["saved"] is False and answer["name"] is None and answer["decision"] == decision
    assert answer["message"]["title"] == title and answer["message"]["help"]
    assert files_under(tmp_path / "data" / "gallery") == []  # not even a temp file
    event = client.get("/api/events?source=photo").json()["events"][0]
    assert event["decision"] == "block" and "photo-" not in event["detail"]


def test_warned_photo_needs_confirmation(client: TestClient, tmp_path: Path) -> None:
    token = csrf(client)
    first = post_photo(client, picture(YELLOW), token).json()
    assert first["saved"] is False and first["decision"] == "warn"
    assert first["message"]["title"] == "Check before saving" and first["message"]["confirm"]
    assert files_under(tmp_path / "data" / "gallery") == []
    confirmed = post_photo(client, picture(YELLOW), token, confirm=1).json()
    assert confirmed["saved"] is True
    assert [p.name for p in files_under(tmp_path / "data" / "gallery")] == [confirmed["name"]]


def test_photo_needs_an_image_type(client: TestClient) -> None:
    token = csrf(client)
    answer = client.post(
        "/api/photo", content=picture(GREEN), headers={"content-type": "image/gif", "x-csrf-token": token}
    )
    assert answer.status_code == 415


def test_photo_answers_in_the_browser_language(client: TestClient) -> None:
    token = csrf(client)
    answer = post_photo(client, picture(RED), token, **{"accept-language": "ja-JP,ja;q=0.9"}).json()
    assert answer["message"]["title"] == "この写真は保存されませんでした"


# -- CSRF, Origin, Host -------------------------------------------------------------------------

STATE_CHANGING = [
    ("POST", "/api/photo", {"content": picture(GREEN), "headers": JPEG}),
    ("DELETE", "/api/gallery/photos/photo-x.jpg", {}),
    ("POST", "/api/settings", {"json": {"settings": {"profile": "child"}}}),
    ("POST", "/api/pin", {"json": {"new": "2468"}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), STATE_CHANGING, ids=[r[1] for r in STATE_CHANGING])
@pytest.mark.parametrize("token", ["missing", "wrong", "no-cookie"])
def test_csrf_is_required(
    client: TestClient, tmp_path: Path, *, method: str, path: str, kwargs: dict[str, Any], token: str
) -> None:
    good = csrf(client)
    headers = dict(kwargs.get("headers", {}))
    if token == "wrong":
        headers["x-csrf-token"] = "0" * 64
    elif token == "no-cookie":
        headers["x-csrf-token"] = good
        client.cookies.clear()
    answer = client.request(method, path, **{**kwargs, "headers": headers})
    assert answer.status_code == 403 and answer.json()["error"] == "csrf"
    assert files_under(tmp_path / "data" / "gallery") == []
    assert not (tmp_path / "data" / "admin.json").exists()


def test_foreign_origin_is_refused(client: TestClient) -> None:
    token = csrf(client)
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999", "https://127.0.0.1.evil.example:8765"):
        answer = post_photo(client, picture(GREEN), token, origin=origin)
        assert answer.status_code == 403 and answer.json()["error"] == "origin", origin
    assert post_photo(client, picture(GREEN), token, origin=BASE).status_code == 200
    assert client.get("/v1/health", headers={"origin": "http://evil.example"}).status_code == 200  # reads are fine


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example:8765", "localhost:99999", "a b"])
def test_foreign_host_is_refused(client: TestClient, host: str) -> None:
    answer = client.get("/v1/health", headers={"host": host})
    assert answer.status_code == 400 and answer.json()["error"] == "host"


@pytest.mark.parametrize("host", ["localhost:8765", "127.0.0.1", "[::1]:8765"])
def test_loopback_hosts_are_served(client: TestClient, host: str) -> None:
    assert client.get("/v1/health", headers={"host": host}).status_code == 200


def test_configured_and_extra_hosts_are_served(tmp_path: Path) -> None:
    with running(make_app(tmp_path, host="192.168.1.20", allowed_hosts=("camera.lan",))) as c:
        for host in ("192.168.1.20:8765", "camera.lan:8765"):
            assert c.get("/v1/health", headers={"host": host}).status_code == 200
        assert c.get("/v1/health", headers={"host": "192.168.1.21"}).status_code == 400


def test_session_cookie_is_strict_and_http_only(client: TestClient) -> None:
    answer = client.get("/api/session")
    cookie = answer.headers["set-cookie"].lower()
    assert "cg_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    body = answer.json()
    assert body["limits"]["max_upload_bytes"] == 25 * 2**20 and body["limits"]["max_frame_side"] == 1920
    assert body["messages"]["viewfinder"]["title"] and body["messages"]["lang"] == "en"
    assert body["has_pin"] is False and "child" in body["profiles"]
    again = client.get("/api/session").json()
    assert again["csrf_token"] == body["csrf_token"]  # same cookie, same token


# -- settings and the PIN -----------------------------------------------------------------------


def post_settings(client: TestClient, token: str, settings: dict[str, Any], pin: str | None = None) -> Any:
    body: dict[str, Any] = {"settings": settings}
    if pin is not None:
        body["pin"] = pin
    return client.post("/api/settings", json=body, headers={"x-csrf-token": token})


def test_tightening_needs_no_pin_and_takes_effect(client: TestClient) -> None:
    token = csrf(client)
    answer = post_settings(
        client, token, {"profile": "child", "block_score": 0.2, "warn_score": 0.1, "record_on_block": "stop"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["effective_profile"]["block_score"] == 0.2
    assert client.get("/api/settings").json()["settings"]["record_on_block"] == "stop"


def test_relaxing_needs_the_pin(client: TestClient) -> None:
    token = csrf(client)
    looser = {"profile": "adult"}
    refused = post_settings(client, token, looser)
    assert refused.status_code == 403 and refused.json()["error"] == "pin_required"
    assert refused.json()["relaxations"] and refused.json()["has_pin"] is False
    assert post_settings(client, token, looser, pin="2468").status_code == 403  # no PIN set yet

    assert (
        client.post(
            "/api/pin", json={"setup_code": SETUP_CODE, "new": "2468"}, headers={"x-csrf-token": token}
        ).status_code
        == 200
    )
    wrong = post_settings(client, token, looser, pin="0000")
    assert wrong.status_code == 401 and wrong.json() == {**wrong.json(), "error": "wrong_pin", "tries_left": 4}
    ok = post_settings(client, token, looser, pin="2468")
    assert ok.status_code == 200 and ok.json()["settings"]["profile"] == "adult"
    assert client.post("/v1/check", content=picture(GREEN), headers=JPEG).json()["profile"] == "adult"
    assert client.get("/v1/health").json()["profile"] == "adult"


def test_wrong_pins_lock_the_settings(client: TestClient) -> None:
    token = csrf(client)
    client.post("/api/pin", json={"setup_code": SETUP_CODE, "new": "2468"}, headers={"x-csrf-token": token})
    codes = [post_settings(client, token, {"profile": "adult"}, pin="1111").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 401, 423]
    locked = post_settings(client, token, {"profile": "adult"}, pin="2468")  # right PIN, still locked
    assert locked.status_code == 423 and locked.json()["retry_after_s"] > 0
    assert int(locked.headers["retry-after"]) >= 1
    assert client.get("/api/settings").json()["pin"]["locked_for_s"] > 0
    assert post_settings(client, token, {"block_score": 0.2, "warn_score": 0.1}).status_code == 200  # tightening


def test_pin_set_and_change(client: TestClient) -> None:
    token = csrf(client)
    h = {"x-csrf-token": token}
    assert (
        client.post("/api/pin", json={"setup_code": SETUP_CODE, "new": "12"}, headers=h).status_code == 422
    )  # too short
    assert (
        client.post("/api/pin", json={"setup_code": SETUP_CODE, "new": "2468"}, headers=h).json()["pin"]["has_pin"]
        is True
    )
    assert (
        client.post("/api/pin", json={"setup_code": SETUP_CODE, "new": "1357"}, headers=h).status_code == 403
    )  # current needed
    assert client.post("/api/pin", json={"current": "0000", "new": "1357"}, headers=h).status_code == 401
    assert client.post("/api/pin", json={"current": "2468", "new": "1357"}, headers=h).status_code == 200
    assert post_settings(client, token, {"profile": "teen"}, pin="1357").status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"settings": {"profile": "nope", "block_score": 2}}, {"settings": "child"}, {"nothing": 1}],
    ids=["bad-values", "not-an-object", "no-settings"],
)
def test_invalid_settings_are_422(client: TestClient, body: dict[str, Any]) -> None:
    answer = client.post("/api/settings", json=body, headers={"x-csrf-token": csrf(client)})
    assert answer.status_code == 422 and answer.json()["error"] == "invalid"


def test_settings_survive_a_restart(tmp_path: Path) -> None:
    with running(make_app(tmp_path)) as c:
        post_settings(c, csrf(c), {"profile": "child", "block_score": 0.25, "warn_score": 0.2})
    with running(make_app(tmp_path)) as c:
        assert c.get("/api/settings").json()["settings"]["block_score"] == 0.25


# -- gallery and events -------------------------------------------------------------------------


def test_gallery_download_and_delete(client: TestClient, tmp_path: Path) -> None:
    token = csrf(client)
    name = post_photo(client, picture(GREEN), token).json()["name"]
    download = client.get(f"/api/gallery/photos/{name}?download=1")
    assert download.status_code == 200 and download.headers["content-disposition"].startswith("attachment")
    gone = client.delete(f"/api/gallery/photos/{name}", headers={"x-csrf-token": token})
    assert gone.json() == {"deleted": name}
    assert files_under(tmp_path / "data" / "gallery") == []
    assert client.get(f"/api/gallery/photos/{name}").status_code == 404
    assert client.delete(f"/api/gallery/photos/{name}", headers={"x-csrf-token": token}).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/gallery/photos/..%2F..%2Fadmin.json",
        "/api/gallery/photos/%2e%2e",
        "/api/gallery/photos/.hidden.jpg",
        "/api/gallery/photos/..%5C..%5Csettings.json",
        "/api/gallery/photos/photo.jpg%00.txt",
        "/api/gallery/etc/passwd",
        "/api/gallery/videos/missing.mp4",
        "/api/gallery/videos/.video-x.partial.mp4",
    ],
)
def test_gallery_traversal_is_404(client: TestClient, tmp_path: Path, path: str) -> None:
    token = csrf(client)
    client.post(
        "/api/pin", json={"setup_code": SETUP_CODE, "new": "2468"}, headers={"x-csrf-token": token}
    )  # admin.json exists
    (tmp_path / "data" / "gallery" / "photos" / ".hidden.jpg").write_bytes(picture(GREEN))
    (tmp_path / "data" / "gallery" / "videos" / ".video-x.partial.mp4").write_bytes(b"partial")
    assert client.get(path).status_code == 404
    assert client.delete(path, headers={"x-csrf-token": token}).status_code in (404, 405)
    assert (tmp_path / "data" / "admin.json").exists()


def test_events_list_filters_and_csv(client: TestClient) -> None:
    token = csrf(client)
    saved = post_photo(client, picture(GREEN), token).json()["name"]
    post_photo(client, picture(RED), token)
    client.post("/v1/check", content=picture(RED), headers=JPEG)
    listing = client.get("/api/events").json()
    assert listing["total"] == 3 and [e["source"] for e in listing["events"]] == ["api", "photo", "photo"]
    assert client.get("/api/events?decision=block&source=photo").json()["total"] == 1
    assert client.get("/api/events?limit=1&offset=1").json()["events"][0]["source"] == "photo"
    assert client.get("/api/events?source=camera").status_code == 422

    exported = client.get("/api/events.csv")
    assert exported.headers["content-disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:4] == ["id", "time_utc", "source", "decision"] and len(rows) == 4
    assert all(len(cell) < 300 for row in rows for cell in row)  # codes and scores, never pixels
    blocked = [r for r in rows[1:] if r[3] == "block"]
    assert blocked and all("photo-" not in cell for r in blocked for cell in r)
    assert any(saved in cell for r in rows for cell in r)


# -- the real models ----------------------------------------------------------------------------


@pytest.mark.models
def test_real_models_check_a_nude_painting_and_a_portrait(tmp_path: Path) -> None:
    app = create_app(ServerConfig(data_dir=tmp_path / "data", photo_deadline_s=30.0))  # loads the models
    with running(app) as c:
        nude = (DEMO / "prani_godward_nude_on_the_beach.jpg").read_bytes()
        safe = (DEMO / "matplotlib_grace_hopper.jpg").read_bytes()
        blocked = c.post("/v1/check", content=nude, headers=JPEG).json()
        allowed = c.post("/v1/check", content=safe, headers=JPEG).json()
        health = c.get("/v1/health").json()
    assert blocked["decision"] == "block" and not any(r["code"] in ("error", "timeout") for r in blocked["reasons"])
    assert allowed["decision"] == "allow"
    assert health["models"]["photo"] == ["nudenet", "nsfw_probe", "nsfwjs"]
    assert health["models"]["photo_also"] == ["nudenet", "nsfw_probe"]  # v2.9: the live set, NudeNet shared

"""The viewfinder WebSocket: hello, one answer per frame in order, placeholders, limits, recording, events."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from tests.support.webutil import (
    BASE,
    BLUE,
    GREEN,
    MAGENTA,
    RED,
    WS_URL,
    ColourDetector,
    TestClient,
    csrf,
    hello,
    is_reddish,
    make_app,
    mean_bgr,
    next_answer,
    picture,
    running,
    viewfinder,
)


@pytest.fixture
def client(tmp_path: Path) -> Any:
    with running(make_app(tmp_path)) as c:
        yield c


def send(
    ws: Any, colour: tuple[int, int, int], statuses: list[dict[str, Any]] | None = None
) -> tuple[dict[str, Any], bytes | None]:
    ws.send_bytes(picture(colour))
    return next_answer(ws, statuses)


def record(ws: Any, on: bool, statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """Switch recording and return the status that answers it."""
    ws.send_text(json.dumps({"type": "record", "on": on}))
    while True:
        message = ws.receive_json()
        if message["type"] == "recording":
            return dict(message)
        statuses.append(message)


def video_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def wait_for(predicate: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def closed_with(ws: Any) -> int:
    """Read until the server closes; the close code."""
    for _ in range(10):
        message = ws.receive()
        if message["type"] == "websocket.close":
            return int(message.get("code", 1000))
    raise AssertionError("the server did not close the socket")


# -- hello and access ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [b"\xff\xd8\xff", "not json", json.dumps({"type": "hello", "csrf": "0" * 64}), json.dumps({"type": "record"})],
    ids=["frame-first", "not-json", "wrong-token", "not-hello"],
)
def test_hello_with_the_csrf_token_comes_first(client: TestClient, first: bytes | str) -> None:
    csrf(client)
    with client.websocket_connect(WS_URL) as ws:
        if isinstance(first, bytes):
            ws.send_bytes(first)
        else:
            ws.send_text(first)
        assert closed_with(ws) == 1008


def test_hello_without_a_session_cookie_is_refused(client: TestClient) -> None:
    token = csrf(client)
    client.cookies.clear()
    with client.websocket_connect(WS_URL) as ws:
        hello(ws, token)
        assert closed_with(ws) == 1008


def test_foreign_origin_cannot_open_the_viewfinder(client: TestClient) -> None:
    csrf(client)
    with (
        pytest.raises(WebSocketDisconnect) as caught,
        client.websocket_connect(WS_URL, headers={"origin": "http://evil.example"}),
    ):
        pass
    assert caught.value.code == 1008
    with viewfinder(client, headers={"origin": BASE}) as ws:  # the page's own origin
        assert send(ws, GREEN)[0]["release"] == "checked"


def test_third_viewer_is_busy(client: TestClient) -> None:
    token = csrf(client)
    with client.websocket_connect(WS_URL) as one, client.websocket_connect(WS_URL) as two:
        hello(one, token)
        hello(two, token)
        assert send(one, GREEN)[0]["index"] == 0 and send(two, GREEN)[0]["index"] == 0
        assert client.get("/v1/health").json()["viewers"] == 2
        with client.websocket_connect(WS_URL) as three:
            with pytest.raises(WebSocketDisconnect) as caught:
                three.receive_text()
            assert caught.value.code == 1013 and caught.value.reason == "busy"
    assert wait_for(lambda: client.get("/v1/health").json()["viewers"] == 0)


# -- answers ------------------------------------------------------------------------------------


def test_one_answer_per_frame_in_order_and_blocked_frames_are_placeholders(client: TestClient) -> None:
    colours = [GREEN, GREEN, RED, RED, GREEN, BLUE, GREEN]
    with viewfinder(client) as ws:
        answers = []
        for start in range(0, len(colours), 3):  # up to 3 frames in flight, as the page sends them
            batch = colours[start : start + 3]
            for colour in batch:
                ws.send_bytes(picture(colour))
            answers += [next_answer(ws) for _ in batch]
    assert [h["index"] for h, _ in answers] == list(range(len(colours)))
    for colour, (header, jpeg) in zip(colours, answers, strict=True):
        assert header["type"] == "frame" and jpeg is not None and header["latency_ms"] >= 0
        if colour == GREEN and not header["blocked"]:
            assert header["release"] == "checked" and header["notice"] is None
            _b, g, r = mean_bgr(jpeg)
            assert g > 150 and r < 80  # the checked frame itself
    first_red = answers[2][0]
    assert first_red["blocked"] is True and first_red["release"] == "placeholder"
    assert first_red["notice"]["title"] == "View paused" and first_red["notice"]["help"]
    for i in (2, 3, 5):  # nudity, and a detector failure: never the camera's pixels
        assert answers[i][0]["blocked"] is True
        assert not is_reddish(mean_bgr(answers[i][1] or b"")) and max(mean_bgr(answers[i][1] or b"")) < 60
    assert [h["blocked"] for h, _ in answers[:2]] == [False, False]


def test_hung_check_times_out_into_a_placeholder(tmp_path: Path) -> None:
    det = ColourDetector()
    with running(make_app(tmp_path, det, live_deadline_s=0.2)) as c, viewfinder(c) as ws:
        t0 = time.monotonic()
        header, jpeg = send(ws, MAGENTA)
        waited = time.monotonic() - t0
        det.release.set()
        assert header["blocked"] is True and header["release"] == "placeholder"
        assert 0.15 < waited < 3.0
        assert max(mean_bgr(jpeg or b"")) < 60
        events = c.get("/api/events?source=viewfinder").json()["events"]
        assert [e["reasons"] for e in events] == [["timeout"]]


def test_overload_answers_dropped_in_order(tmp_path: Path) -> None:
    det = ColourDetector()
    with running(make_app(tmp_path, det, live_deadline_s=3.0)) as c, viewfinder(c) as ws:
        ws.send_bytes(picture(MAGENTA))  # hangs the guard...
        started = time.monotonic()
        while det.calls < 1 and time.monotonic() - started < 5.0:  # once it holds that frame, the queue is empty
            time.sleep(0.01)
        assert det.calls == 1
        for _ in range(9):  # ...while a misbehaving client keeps sending
            ws.send_bytes(picture(GREEN))
        time.sleep(0.2)
        det.release.set()
        answers = [next_answer(ws) for _ in range(10)]
    assert [h["index"] for h, _ in answers] == list(range(10))
    dropped = [h["index"] for h, jpeg in answers if h["type"] == "dropped" and jpeg is None]
    assert dropped and dropped == list(range(10 - len(dropped), 10))  # the newest ones, beyond the queue


def test_oversize_message_closes_1009(tmp_path: Path) -> None:
    with running(make_app(tmp_path, max_ws_frame_bytes=5000)) as c, viewfinder(c) as ws:
        ws.send_bytes(b"\xff\xd8\xff" + b"\0" * 6000)
        with pytest.raises(WebSocketDisconnect) as caught:
            ws.receive_text()
        assert caught.value.code == 1009 and "5000 bytes" in caught.value.reason


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (picture(GREEN, width=200, height=50), "at most 100 px"),
        (picture(GREEN, suffix=".png"), "not a JPEG"),
        (b"\xff\xd8\xff\xe0" + b"junk" * 20, "cannot load image"),
    ],
    ids=["too-wide", "png", "corrupt"],
)
def test_bad_frames_get_an_error_then_1003(tmp_path: Path, data: bytes, words: str) -> None:
    with running(make_app(tmp_path, max_frame_side=100)) as c, viewfinder(c) as ws:
        assert send(ws, GREEN)[0]["index"] == 0
        ws.send_bytes(data)
        error = ws.receive_json()
        assert error["type"] == "error" and words in error["detail"]
        assert closed_with(ws) == 1003


# -- settings, events ---------------------------------------------------------------------------


def test_new_settings_apply_to_an_open_viewfinder(client: TestClient) -> None:
    token = csrf(client)
    with client.websocket_connect(WS_URL) as ws:
        hello(ws, token)
        assert send(ws, GREEN)[0]["blocked"] is False
        strict = {"settings": {"block_score": 0.0, "warn_score": 0.0}}
        assert client.post("/api/settings", json=strict, headers={"x-csrf-token": token}).status_code == 200
        assert send(ws, GREEN)[0]["blocked"] is True  # everything blocks now


def test_one_event_per_block_episode(client: TestClient) -> None:
    with viewfinder(client) as ws:
        for colour in (GREEN, RED, RED, RED, GREEN):
            send(ws, colour)
        assert client.get("/api/events?source=viewfinder").json()["total"] == 1
        released = False
        for _ in range(20):  # safe frames over more than the 0.5 s reopen time end the episode
            time.sleep(0.1)
            released = send(ws, GREEN)[0]["release"] == "checked"
            if released:
                break
        assert released
        send(ws, RED)
        send(ws, RED)
    events = client.get("/api/events?source=viewfinder").json()["events"]
    assert len(events) == 2 and all(e["decision"] == "block" for e in events)
    assert events[1]["detail"].startswith("frame 1 at") and "IMAGE_NSFW" in events[1]["reasons"]


# -- recording ----------------------------------------------------------------------------------


def videos(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "data" / "gallery" / "videos").iterdir())


@pytest.fixture
def unheld(tmp_path: Path) -> Any:
    """Recordings not held back (``record_hold_s=0``): they get exactly what the viewfinder shows."""
    with running(make_app(tmp_path, record_hold_s=0.0)) as c:
        yield c


@pytest.mark.parametrize("mode", ["placeholder", "pause"])
def test_recording_never_holds_a_blocked_frame(unheld: TestClient, tmp_path: Path, mode: str) -> None:
    client = unheld
    token = csrf(client)
    if mode == "pause":
        tighter = {"settings": {"record_on_block": "pause"}}
        assert client.post("/api/settings", json=tighter, headers={"x-csrf-token": token}).status_code == 200
    colours = [GREEN, GREEN, RED, RED, GREEN, GREEN]
    statuses: list[dict[str, Any]] = []
    with client.websocket_connect(WS_URL) as ws:
        hello(ws, token)
        started = record(ws, True, statuses)
        assert started["on"] is True and started["name"].startswith("video-")
        answers = [send(ws, colour, statuses)[0] for colour in colours]
        stopped = record(ws, False, statuses)
    assert stopped == {"type": "recording", "on": False, "name": started["name"], "reason": "stopped"}
    assert [p.name for p in videos(tmp_path)] == [started["name"]]  # finalised, no partial file left
    frames = video_frames(videos(tmp_path)[0])
    expected = len(colours) if mode == "placeholder" else sum(not a["blocked"] for a in answers)
    assert len(frames) == expected
    assert not any(is_reddish(tuple(float(v) for v in f.reshape(-1, 3).mean(axis=0))) for f in frames)  # type: ignore[arg-type]
    assert any(i["name"] == started["name"] for i in client.get("/api/gallery").json()["items"])


def test_record_on_block_stop_ends_the_recording(unheld: TestClient, tmp_path: Path) -> None:
    client = unheld
    token = csrf(client)
    stop = {"settings": {"record_on_block": "stop"}}
    assert client.post("/api/settings", json=stop, headers={"x-csrf-token": token}).status_code == 200
    statuses: list[dict[str, Any]] = []
    with client.websocket_connect(WS_URL) as ws:
        hello(ws, token)
        name = record(ws, True, statuses)["name"]
        for colour in (GREEN, GREEN, RED, GREEN):
            send(ws, colour, statuses)
        wait_for(lambda: bool(statuses), 2.0)
    assert statuses == [{"type": "recording", "on": False, "name": name, "reason": "blocked"}]
    frames = video_frames(videos(tmp_path)[0])
    means = [f.reshape(-1, 3).mean(axis=0) for f in frames]
    assert len(frames) == 2 and not any(is_reddish((float(m[0]), float(m[1]), float(m[2]))) for m in means)


def send_paced(ws: Any, colours: list[tuple[int, int, int]], statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send frames 0.1 s apart (capture times are receive times), each after the last one's answer."""
    answers = []
    for colour in colours:
        t = time.monotonic()
        answers.append(send(ws, colour, statuses)[0])
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t)))
    return answers


def test_a_held_recording_leaves_out_what_the_viewfinder_showed_just_before_a_block(
    client: TestClient, tmp_path: Path
) -> None:
    # record_hold_s 0.5 (the default): 12 green frames 0.1 s apart, then red. The viewfinder shows
    # every green frame at once; the recording takes back those captured within 0.5 s before the
    # red one (placeholders), keeps the earlier ones, and never a red pixel.
    statuses: list[dict[str, Any]] = []
    with viewfinder(client) as ws:
        started = record(ws, True, statuses)
        answers = send_paced(ws, [GREEN] * 12 + [RED] * 2, statuses)
        stopped = record(ws, False, statuses)
    assert [a["blocked"] for a in answers] == [False] * 12 + [True] * 2
    assert stopped["name"] == started["name"] and stopped["reason"] == "stopped"
    frames = video_frames(videos(tmp_path)[0])
    means = [tuple(float(v) for v in f.reshape(-1, 3).mean(axis=0)) for f in frames]
    assert len(frames) == 14  # placeholder mode: every frame has its place
    assert not any(is_reddish(m) for m in means)  # type: ignore[arg-type]
    shown = [max(m) > 60 for m in means]  # green, not a dark placeholder
    assert all(shown[:5]) and not any(shown[9:])  # >= 0.7 s before red kept; <= 0.3 s before it taken back


def test_a_held_recording_stops_with_the_frames_captured_before_the_click(client: TestClient, tmp_path: Path) -> None:
    # The stop waits for the frames still held (their hold needs the checks of the frames after
    # them): the viewfinder keeps sending, so the file ends with the last frame captured before
    # the click, not 0.5 s earlier, and holds nothing captured after it.
    grey = (200, 200, 200)  # safe, and told apart from green by its blue channel
    statuses: list[dict[str, Any]] = []
    with viewfinder(client) as ws:
        record(ws, True, statuses)
        send_paced(ws, [GREEN] * 10, statuses)
        ws.send_text(json.dumps({"type": "record", "on": False}))
        send_paced(ws, [grey] * 10, statuses)
        while not any(s["type"] == "recording" for s in statuses):
            statuses.append(ws.receive_json())
    assert [(s["on"], s["reason"]) for s in statuses if s["type"] == "recording"] == [(False, "stopped")]
    frames = video_frames(videos(tmp_path)[0])
    assert len(frames) == 10 and all(f.reshape(-1, 3).mean(axis=0)[0] < 100 for f in frames)


def test_a_recording_can_start_while_the_last_one_waits_for_its_held_frames(client: TestClient, tmp_path: Path) -> None:
    # Stop and start at once (the page never does; a client may): the first file gets the frames
    # captured before the stop, the second those captured after the start, each once.
    grey = (200, 200, 200)
    statuses: list[dict[str, Any]] = []
    with viewfinder(client) as ws:
        first = record(ws, True, statuses)["name"]
        send_paced(ws, [GREEN] * 6, statuses)
        ws.send_text(json.dumps({"type": "record", "on": False}))
        second = record(ws, True, statuses)["name"]
        send_paced(ws, [grey] * 8, statuses)
        ws.send_text(json.dumps({"type": "record", "on": False}))
        send_paced(ws, [GREEN] * 8, statuses)  # frames after the stop let it finish
        while sum(s["type"] == "recording" for s in statuses) < 2:
            statuses.append(ws.receive_json())
    assert second != first
    ended = sorted((s["name"], s["reason"]) for s in statuses if s["type"] == "recording")
    assert ended == sorted([(first, "stopped"), (second, "stopped")])
    by_name = {p.name: video_frames(p) for p in videos(tmp_path)}
    blue = {name: [float(f.reshape(-1, 3).mean(axis=0)[0]) for f in frames] for name, frames in by_name.items()}
    assert len(blue[first]) == 6 and all(b < 100 for b in blue[first])  # green only
    assert len(blue[second]) == 8 and all(b > 150 for b in blue[second])  # grey only


def test_recording_is_finalised_when_the_client_leaves(client: TestClient, tmp_path: Path) -> None:
    statuses: list[dict[str, Any]] = []
    with viewfinder(client) as ws:
        name = record(ws, True, statuses)["name"]
        for colour in (GREEN, GREEN, GREEN):
            send(ws, colour, statuses)
    assert wait_for(lambda: [p.name for p in videos(tmp_path)] == [name])
    assert len(video_frames(videos(tmp_path)[0])) == 3

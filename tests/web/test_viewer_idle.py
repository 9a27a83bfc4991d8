"""Idle viewfinder sockets (hello, then nothing) are closed, so they cannot hold the viewer slots."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.support.webutil import GREEN, WS_URL, csrf, hello, make_app, next_answer, picture, running


def wait_for(condition: object, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_idle_viewers_are_closed_and_free_their_slots(tmp_path: Path) -> None:
    with running(make_app(tmp_path, viewer_idle_timeout_s=0.5, max_viewers=2)) as client:
        token = csrf(client)
        t0 = time.monotonic()
        with client.websocket_connect(WS_URL) as one, client.websocket_connect(WS_URL) as two:
            hello(one, token)
            hello(two, token)
            for ws in (one, two):
                error = ws.receive_json()
                assert error["type"] == "error" and "idle" in error["detail"]
                with pytest.raises(WebSocketDisconnect) as caught:
                    ws.receive_text()
                assert caught.value.code == 1001 and "idle" in str(caught.value.reason)
        assert time.monotonic() - t0 < 5.0
        assert wait_for(lambda: client.get("/v1/health").json()["viewers"] == 0)
        with client.websocket_connect(WS_URL) as three:  # the slots are free again
            hello(three, token)
            three.send_bytes(picture(GREEN))
            assert next_answer(three, [])[0]["blocked"] is False


def test_a_viewer_that_sends_frames_stays_open(tmp_path: Path) -> None:
    with running(make_app(tmp_path, viewer_idle_timeout_s=0.6)) as client:
        token = csrf(client)
        with client.websocket_connect(WS_URL) as ws:
            hello(ws, token)
            for _ in range(8):  # 8 x 0.2 s: well past the idle timeout in total, never idle
                ws.send_bytes(picture(GREEN))
                header, _ = next_answer(ws, [])
                assert header["type"] == "frame"
                time.sleep(0.2)


def test_the_idle_timeout_is_in_the_page_limits(tmp_path: Path) -> None:
    with running(make_app(tmp_path, viewer_idle_timeout_s=7.5)) as client:
        assert client.get("/api/session").json()["limits"]["viewer_idle_timeout_s"] == 7.5

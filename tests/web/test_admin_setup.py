"""First run and a broken PIN file: the setup code, and the camera under locked, strictest settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.webutil import (
    GREEN,
    RED,
    SETUP_CODE,
    TestClient,
    csrf,
    make_app,
    next_answer,
    picture,
    running,
    viewfinder,
)

JPEG = {"content-type": "image/jpeg"}


def set_first_pin(client: TestClient, token: str, **body: str) -> tuple[int, dict[str, object]]:
    answer = client.post("/api/pin", json={"new": "2468", **body}, headers={"x-csrf-token": token})
    return answer.status_code, answer.json()


@pytest.mark.parametrize(
    "body",
    [{}, {"setup_code": ""}, {"setup_code": "wrong-code"}, {"setup_code": SETUP_CODE + "x"}],
    ids=["none", "empty", "wrong", "longer"],
)
def test_the_first_pin_needs_the_setup_code(tmp_path: Path, body: dict[str, str]) -> None:
    with running(make_app(tmp_path)) as client:
        token = csrf(client)
        status, answer = set_first_pin(client, token, **body)
        assert status == 403 and answer["error"] == "setup_code_required"
        assert "console" in str(answer["detail"]) and "--set-pin" in str(answer["detail"])
        assert not (tmp_path / "data" / "admin.json").exists()
        assert client.get("/api/settings").json()["pin"]["needs_setup_code"] is True


def test_the_setup_code_sets_one_pin_only(tmp_path: Path) -> None:
    with running(make_app(tmp_path)) as client:
        token = csrf(client)
        status, answer = set_first_pin(client, token, setup_code=f"  {SETUP_CODE} ")
        assert status == 200 and answer["pin"] == {**answer["pin"], "has_pin": True}  # type: ignore[dict-item]
        assert client.get("/api/settings").json()["pin"]["needs_setup_code"] is False
        (tmp_path / "data" / "admin.json").unlink()  # the admin resets the PIN by deleting the file...
        status, answer = set_first_pin(client, token, setup_code=SETUP_CODE)  # ...but the code is spent
        assert status == 403 and answer["error"] == "setup_code_required"


@pytest.fixture
def broken_pin_file(tmp_path: Path) -> Path:
    """A data folder whose saved settings are loose (adult, blur, placeholder) and whose PIN file is corrupt."""
    data = tmp_path / "data"
    data.mkdir()
    loose = {"profile": "adult", "placeholder": "blur", "record_on_block": "placeholder"}
    (data / "settings.json").write_text(json.dumps(loose), "utf-8")
    (data / "admin.json").write_text('{"hash": "truncated', "utf-8")
    return data


def test_a_corrupt_pin_file_locks_settings_but_the_camera_works(tmp_path: Path, broken_pin_file: Path) -> None:
    with running(make_app(tmp_path)) as client:
        assert client.get("/").status_code == 200
        session = client.get("/api/session")
        assert session.status_code == 200, session.text  # was HTTP 500: the camera page could not start
        view = session.json()
        assert "admin.json" in view["settings_locked"] and "locked" in view["settings_locked"]
        assert view["has_pin"] is True  # nobody can make themselves the admin meanwhile
        # The strictest settings apply, not the loose ones saved before the file broke.
        assert view["settings"] == {**view["settings"], "profile": "child", "placeholder": "black"}
        assert view["settings"]["record_on_block"] == "stop"
        assert client.post("/v1/check", content=picture(GREEN), headers=JPEG).json()["profile"] == "child"

        token = view["csrf_token"]
        with viewfinder(client) as ws:  # the viewfinder still checks and hides frames
            ws.send_bytes(picture(GREEN))
            assert next_answer(ws, [])[0]["blocked"] is False
            ws.send_bytes(picture(RED))
            assert next_answer(ws, [])[0]["blocked"] is True

        settings = client.get("/api/settings")
        assert settings.status_code == 200 and settings.json()["settings_locked"]
        h = {"x-csrf-token": token}
        tighter = client.post("/api/settings", json={"settings": {"profile": "child"}}, headers=h)
        assert tighter.status_code == 423 and tighter.json()["error"] == "settings_locked"
        assert "admin.json" in tighter.json()["detail"]
        new_pin = client.post("/api/pin", json={"new": "2468", "setup_code": SETUP_CODE}, headers=h)
        assert new_pin.status_code == 423 and new_pin.json()["error"] == "settings_locked"
    saved = json.loads((broken_pin_file / "settings.json").read_text("utf-8"))
    assert saved["profile"] == "adult"  # the saved choice is kept for when the file is restored


def test_deleting_the_broken_pin_file_unlocks_the_saved_settings(tmp_path: Path, broken_pin_file: Path) -> None:
    with running(make_app(tmp_path)) as client:
        assert client.get("/api/session").json()["settings"]["profile"] == "child"
        (broken_pin_file / "admin.json").unlink()
        view = client.get("/api/session").json()
        assert view["settings_locked"] is None and view["settings"]["profile"] == "adult"
        assert view["has_pin"] is False

"""The pixel budget: uploads are weighed by their header's megapixels; over budget is 503, never OOM."""

from __future__ import annotations

from pathlib import Path

import pytest

from captureguard.web.budget import PixelBudget
from captureguard.web.security import ApiError
from tests.support.webutil import GREEN, csrf, make_app, picture, running

JPEG = {"content-type": "image/jpeg"}


def test_budget_holds_and_gives_back() -> None:
    budget = PixelBudget(10.0)
    with budget.hold(6.0):
        assert budget.held == 6.0
        with pytest.raises(ApiError) as caught, budget.hold(5.0):
            pass
        assert caught.value.status == 503 and caught.value.headers == {"Retry-After": "2"}
        with budget.hold(4.0):
            assert budget.held == 10.0
    assert budget.held == 0.0
    with budget.hold(50.0):  # one upload larger than the whole budget still fits alone
        assert budget.held == 10.0
    assert budget.held == 0.0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_budget_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        PixelBudget(bad)


def test_uploads_over_the_budget_get_503_and_nothing_is_kept(tmp_path: Path) -> None:
    with running(make_app(tmp_path, decode_budget_megapixels=100.0)) as client:
        state = client.app.state.captureguard  # type: ignore[attr-defined]
        token = csrf(client)
        big = picture(GREEN, width=2000, height=1000)  # 2 MP in its header
        with state.pixels.hold(99.0):  # other uploads hold 99 of the 100 MP
            busy = client.post("/v1/check", content=big, headers=JPEG)
            assert busy.status_code == 503 and busy.json()["error"] == "busy"
            assert int(busy.headers["retry-after"]) >= 1 and "MP" in busy.json()["detail"]
            photo = client.post("/api/photo", content=big, headers={**JPEG, "x-csrf-token": token})
            assert photo.status_code == 503
            small = client.post("/v1/check", content=picture(GREEN, width=100, height=100), headers=JPEG)
            assert small.status_code == 200  # 0.01 MP still fits
        assert state.pixels.held == 0.0
        assert client.post("/v1/check", content=big, headers=JPEG).status_code == 200
        assert not list((tmp_path / "data" / "gallery" / "photos").iterdir())

"""``/v1/check`` accepts exactly the types the README lists (HEIC/HEIF only with pillow-heif)."""

from __future__ import annotations

import re
from pathlib import Path

from captureguard.sources.image import HEIF_SUPPORTED
from captureguard.web.uploads import CHECK_TYPES
from tests.support.webutil import make_app, running

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_the_accepted_types() -> None:
    text = " ".join(README.read_text("utf-8").split())
    listed = re.search(r"`POST /v1/check` \(image bytes; `Content-Type` ([^)]*)\)", text)
    assert listed, "the README's API bullet moved"
    names = set(re.findall(r"\b(jpeg|png|webp|bmp|gif|tiff|heic|heif)\b", listed[1]))
    assert {t.removeprefix("image/") for t in CHECK_TYPES} <= names
    assert "pillow-heif" in listed[1]  # HEIC/HEIF are listed with their condition


def test_heic_is_415_without_pillow_heif(tmp_path: Path) -> None:
    with running(make_app(tmp_path)) as client:
        answer = client.post("/v1/check", content=b"\x00\x00\x00\x18ftypheic", headers={"content-type": "image/heic"})
    assert answer.status_code == (400 if HEIF_SUPPORTED else 415)

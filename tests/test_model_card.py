"""MODEL_CARD.md records the checksum of every fitted file the checks load, as shipped."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "captureguard" / "data"
FITTED = sorted([*DATA.glob("probe_*.json"), *DATA.glob("fusion*.json"), *DATA.glob("locator_*.json")])


def test_there_are_fitted_files() -> None:
    assert {f.name for f in FITTED} >= {
        "probe_open_nsfw.json",
        "probe_open_nsfw_photo.json",
        "fusion_photo.json",
        "locator_open_nsfw.json",
    }


@pytest.mark.parametrize("path", FITTED, ids=lambda p: p.name)
def test_model_card_records_the_shipped_checksum(path: Path) -> None:
    card = (ROOT / "MODEL_CARD.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"`src/captureguard/data/{path.name}`" in card
    assert digest in card, f"MODEL_CARD.md lacks {path.name}'s sha256 {digest}: re-record it after refitting"

"""Scene copies for training (build time: tools/detect_v2/scenes.py): placement and fold hygiene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tools.calibrate_fusion import Item
from tools.detect_v2 import evaluate, scenes


def _items() -> list[Item]:
    out = []
    for g in range(3):  # three nude groups -> three folds
        out.append(Item(Path(f"n{g}.jpg"), 1, "art_painting", f"nude{g}", f"nude {g}", f"{g:064x}"))
    kinds = ["portrait", "clothing_flatlay", "object", "people_street", "art_painting", "clothing_flatlay"]
    for k in range(30):
        kind = kinds[k % len(kinds)]
        out.append(Item(Path(f"s{k}.jpg"), 0, kind, f"safe{k}", f"safe {k}", f"{1000 + k:064x}"))
    return out


def test_plan_keeps_every_scene_inside_its_fold() -> None:
    items = _items()
    d = evaluate.Data.of(items)
    plan = scenes.plan(items, d)
    nude = [s for s in plan if items[s.item].label]
    assert len(nude) == 3 * len(scenes.POSITIVE_AREAS)  # one per area for every positive
    assert len(plan) - len(nude) <= 30  # at most one per safe still
    for s in plan:
        bg = items[s.background]
        assert bg.label == 0 and s.background != s.item
        assert d.folds[s.background] == d.folds[s.item]  # no held-out pixels in a training scene
        assert bg.kind != "clothing_flatlay"
        assert s.area in scenes.POSITIVE_AREAS
    assert scenes.plan(items, d) == plan  # seeded by the files' hashes: reproducible


@pytest.mark.parametrize("area", scenes.POSITIVE_AREAS)
@pytest.mark.parametrize("art_hw", [(300, 200), (200, 600), (2000, 150)])
def test_render_pastes_the_whole_still_at_its_share(area: float, art_hw: tuple[int, int]) -> None:
    art = np.full((*art_hw, 3), 255, np.uint8)  # white still
    bg = np.zeros((480, 640, 3), np.uint8)  # black background
    frame = scenes.render(art, bg, area, seed=7)
    assert frame.shape == (720, 1280, 3)
    white = frame.mean(axis=2) > 128
    share = white.mean()
    h, w = art_hw
    # a still too tall for the frame is shrunk to fit: its share is then what fits
    fit = min(area, (720 * (720 * w / h)) / (1280 * 720))
    assert share == pytest.approx(fit, rel=0.08)
    rows, cols = np.flatnonzero(white.any(axis=1)), np.flatnonzero(white.any(axis=0))
    assert rows[0] >= 0 and rows[-1] <= 719 and cols[0] >= 0 and cols[-1] <= 1279
    assert white[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].mean() > 0.95  # one solid rectangle
    # placement() names the same rectangle (the crop study's "perfect locator" box)
    x0, y0, x1, y1 = scenes.placement(art_hw, area, seed=7)[3]
    assert abs(x0 - cols[0]) <= 2 and abs(x1 - 1 - cols[-1]) <= 2
    assert abs(y0 - rows[0]) <= 2 and abs(y1 - 1 - rows[-1]) <= 2

"""The measured-not-shipped studies' building blocks (tools/detect_v2/videos.py, not_shipped.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tools.calibrate_fusion import Item
from tools.detect_v2 import evaluate, not_shipped, videos


def _manifest(tmp_path: Path) -> Path:
    rows = ["path,label,kind,group,sha256"]
    rows += [f"nude/n{g}.jpg,nudity,art_painting,nude{g},{g:064x}" for g in range(4)]
    rows += [f"negative/s{k}.jpg,safe,portrait,safe{k},{100 + k:064x}" for k in range(8)]
    for k, name in enumerate(["intel_bottle-detection.mp4", "intel_preview_bottle-detection.gif", "a.mkv", "b.mpg"]):
        rows.append(f"negative/video/{name},safe,video_people,{Path(name).stem},{900 + k:064x}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "manifest.csv"


def _data() -> evaluate.Data:
    items = [Item(Path(f"n{g}.jpg"), 1, "art_painting", f"nude{g}", "", f"{g:064x}") for g in range(4)]
    items += [Item(Path(f"s{k}.jpg"), 0, "portrait", f"safe{k}", "", f"{100 + k:064x}") for k in range(8)]
    return evaluate.Data.of(items)


def test_a_preview_gif_shares_its_clips_group_and_fold(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    folds = videos.video_folds(_data(), manifest)
    assert set(folds) == {r["path"] for r in videos.safe_videos(manifest)}  # every safe video, no stills
    assert videos.group_of("negative/video/intel_preview_bottle-detection.gif") == "intel_bottle-detection"
    assert (
        folds["negative/video/intel_bottle-detection.mp4"] == folds["negative/video/intel_preview_bottle-detection.gif"]
    )
    assert set(folds.values()) <= set(np.unique(_data().folds).tolist())
    assert videos.video_folds(_data(), manifest) == folds  # dealt by a hash of the group: reproducible


@pytest.mark.parametrize("hw", [(720, 1280), (1280, 720), (500, 500), (224, 300), (3000, 4000)])
def test_tiles_are_squares_inside_the_frame_that_cover_it(hw: tuple[int, int]) -> None:
    h, w = hw
    boxes = not_shipped.tile_boxes(h, w)
    covered = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert x1 - x0 == y1 - y0 == round(2 / 3 * min(h, w))
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert len(boxes) == {(720, 1280): 6, (1280, 720): 6, (500, 500): 4}.get(hw, len(boxes)) <= 6

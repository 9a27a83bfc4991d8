"""The measured-not-shipped studies' building blocks (tools/detect_v2/videos.py, not_shipped.py, cells.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tools.calibrate_fusion import Item, auc
from tools.detect_v2 import cells, evaluate, not_shipped, videos


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


def test_lse_pooling_runs_from_the_mean_to_the_max() -> None:
    z = np.random.default_rng(0).normal(size=(5, 49))
    mean, share = cells.lse_pool(z, None)
    np.testing.assert_allclose(mean, z.mean(1))
    np.testing.assert_allclose(share.sum(1), 1.0)
    soft, share = cells.lse_pool(z, 1.0)
    np.testing.assert_allclose(soft, np.log(np.exp(z).mean(1)), rtol=1e-6)
    np.testing.assert_allclose(share.sum(1), 1.0)
    assert (soft > mean).all()
    sharp, _ = cells.lse_pool(z, 200.0)
    np.testing.assert_allclose(sharp, z.max(1) - np.log(49) / 200.0, atol=1e-3)  # ~ the max


def test_a_sharp_cell_read_out_finds_one_hot_cell_that_the_mean_dilutes() -> None:
    # 400 bags of 49 cells, 6 features; a positive bag has ONE cell shifted along feature 0 (a small
    # artwork in a frame); every cell also carries bag-level noise along feature 0
    rng = np.random.default_rng(1)
    y = np.repeat([0.0, 1.0], 200)
    x = rng.normal(size=(400, 49, 6)) + rng.normal(scale=0.6, size=(400, 1, 1)) * np.eye(6)[0]
    x[y == 1, 7, 0] += 5.0
    train, test = np.arange(400) % 2 == 0, np.arange(400) % 2 == 1
    aucs = {}
    for r in (None, 10.0):
        w, b = cells.fit_mil(x[train], y[train], r, lam=1e-3)
        aucs[r] = auc(cells.score(x[test], w, b, r), y[test])
    assert aucs[10.0] > 0.9 and aucs[None] < 0.7, aucs


@pytest.mark.parametrize("hw", [(720, 1280), (1280, 720), (224, 224)])
@pytest.mark.parametrize("cell", [0, 24, 48, 6])
def test_the_zoom_is_centred_on_the_most_nude_looking_cell_and_stays_in_the_frame(
    hw: tuple[int, int], cell: int
) -> None:
    cam = np.zeros(1024, np.float32)
    cam[3] = 1.0
    cell_map = np.zeros((49, 1024), np.float16)
    cell_map[cell, 3] = 5.0  # this cell alone adds to the nsfw logit
    h, w = hw
    i, j = divmod(cell, 7)
    cy, cx = (16 + 32 * (i + 0.5)) / 256 * h, (16 + 32 * (j + 0.5)) / 256 * w
    for (x0, y0, x1, y1), frac in zip(cells.zoom_boxes(cell_map, hw, cam), cells.ZOOM_SIDES, strict=True):
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert x1 - x0 == y1 - y0 == int(frac * min(h, w))
        # centred on the cell unless the frame's edge pushes it in; the cell stays inside
        assert x0 <= cx <= x1 and y0 <= cy <= y1
        if x0 > 0 and x1 < w:
            assert abs((x0 + x1) / 2 - cx) <= 1


def test_a_report_of_some_studies_keeps_the_other_studies_tables() -> None:
    head = "# Report\n\nCommand: `not_shipped.py --out`\n"
    old = head + "\n## tiles\n\n| old tiles |\n\n## art\n\n| old art |\n\n## crops\n\n| old crops |\n\n"
    new = head + "\n## crops\n\n| new crops |\n\n## cells\n\n| new cells |\n\n"
    out = not_shipped.merged(old, new)
    assert out == (
        head
        + "\n## tiles\n\n| old tiles |\n\n## art\n\n| old art |\n\n## cells\n\n| new cells |\n"
        + "\n## crops\n\n| new crops |\n\n"
    )
    assert not_shipped.merged(out, out) == out
    in_order = head + "\n## cells\n\n| new cells |\n\n## crops\n\n| new crops |\n\n"
    assert not_shipped.merged("", new) == in_order  # sections in STUDIES order


def test_either_blocks_what_either_head_blocks_at_the_offset() -> None:
    """At one threshold t the either score blocks a row when the photo head reaches t or the live
    head reaches t shifted up by the offset (in logit); a very large offset leaves the photo head."""
    photo = np.array([0.9, 0.2, 0.2, 0.6])
    live = np.array([0.1, 0.9, 0.6, 0.2])
    s = not_shipped.either_scores(photo, live, 1.0)
    t = 0.5
    z_live = np.log(live / (1 - live))
    want = (photo >= t) | (z_live - 1.0 >= 0.0)
    assert ((s >= t) == want).all()
    assert want.tolist() == [True, True, False, True]  # live 0.6 is logit 0.41: under the offset
    assert np.allclose(not_shipped.either_scores(photo, live, 50.0), photo)
    assert (not_shipped.either_scores(photo, live, -1.0) >= not_shipped.either_scores(photo, live, 1.0)).all()


def test_either_pick_takes_the_most_found_within_the_safe_scene_budget() -> None:
    points = {0.0: (70, 200, 45), 1.0: (71, 190, 40), 2.0: (71, 170, 25), 3.0: (72, 150, 23)}
    assert not_shipped.either_pick(points, 41) == 1.0  # 0.0 finds more but blocks 45 safe scenes
    assert not_shipped.either_pick(points, 30) == 2.0
    assert not_shipped.either_pick({1.0: (70, 100, 5), 2.0: (70, 100, 5)}, 10) == 2.0  # tie: the larger offset
    assert not_shipped.either_pick(points, 10) is None

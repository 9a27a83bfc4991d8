"""Letterbox geometry, tensor layout and tiling (pure numpy, table-driven)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from captureguard.models.letterbox import Letterbox, plan_letterbox, plan_tiles, to_nchw

LETTERBOX_CASES = [
    # (height, width, size, keep_aspect) -> Letterbox(scale, resized_hw, input_hw)
    pytest.param((720, 1280, 320, True), Letterbox(0.25, (180, 320), (192, 320)), id="16:9-320x192"),
    pytest.param((1080, 1920, 640, True), Letterbox(1 / 3, (360, 640), (384, 640)), id="1080p-640"),
    pytest.param((1280, 720, 320, True), Letterbox(0.25, (320, 180), (320, 192)), id="portrait"),
    pytest.param((720, 1280, 320, False), Letterbox(0.25, (180, 320), (320, 320)), id="square-mode"),
    pytest.param((500, 500, 320, True), Letterbox(0.64, (320, 320), (320, 320)), id="square-frame"),
    pytest.param((10, 20, 320, True), Letterbox(16.0, (160, 320), (160, 320)), id="tiny-upscaled"),
    pytest.param((1, 1, 320, True), Letterbox(320.0, (320, 320), (320, 320)), id="one-pixel"),
    pytest.param((1, 2000, 320, True), Letterbox(0.16, (1, 320), (32, 320)), id="sliver-min-stride"),
    pytest.param((2000, 1, 320, False), Letterbox(0.16, (320, 1), (320, 320)), id="sliver-square"),
]


@pytest.mark.parametrize(("args", "expected"), LETTERBOX_CASES)
def test_plan_letterbox(args: tuple[int, int, int, bool], expected: Letterbox) -> None:
    h, w, size, keep = args
    box = plan_letterbox(h, w, size=size, keep_aspect=keep)
    assert box.scale == pytest.approx(expected.scale)
    assert (box.resized_hw, box.input_hw) == (expected.resized_hw, expected.input_hw)
    assert all(r <= i for r, i in zip(box.resized_hw, box.input_hw, strict=True))


@pytest.mark.parametrize(
    ("channels", "first_plane"),
    [pytest.param("bgr", 0, id="bgr-keeps-order"), pytest.param("rgb", 2, id="rgb-reverses")],
)
def test_to_nchw_channel_order(channels: str, first_plane: int) -> None:
    canvas = np.zeros((4, 6, 3), np.uint8)
    canvas[..., 0], canvas[..., 1], canvas[..., 2] = 10, 20, 255  # B, G, R
    out = to_nchw(canvas, channels=channels)  # type: ignore[arg-type]
    assert out.shape == (1, 3, 4, 6) and out.dtype == np.float32 and out.flags.c_contiguous
    planes = canvas[..., [first_plane, 1, 2 - first_plane]].transpose(2, 0, 1) / np.float32(255)
    np.testing.assert_allclose(out[0], planes, rtol=1e-6)
    assert out.max() <= 1.0


TILE_CASES = [
    pytest.param(720, 1280, 1, 0.2, id="grid1-whole"),
    pytest.param(720, 1280, 2, 0.2, id="grid2"),
    pytest.param(1000, 700, 3, 0.25, id="grid3-portrait"),
    pytest.param(2000, 3000, 4, 0.1, id="grid4"),
    pytest.param(50, 40, 2, 0.0, id="small-no-overlap"),
]


@pytest.mark.parametrize(("h", "w", "grid", "overlap"), TILE_CASES)
def test_plan_tiles_cover_overlap_and_equal_sizes(h: int, w: int, grid: int, overlap: float) -> None:
    tiles = plan_tiles(h, w, grid=grid, overlap=overlap)
    assert len(tiles) == grid * grid
    sizes = {(t.y1 - t.y0, t.x1 - t.x0) for t in tiles}
    assert len(sizes) == 1, f"tiles differ in size: {sizes}"
    covered = np.zeros((h, w), bool)
    for t in tiles:
        assert 0 <= t.y0 < t.y1 <= h and 0 <= t.x0 < t.x1 <= w
        covered[t.y0 : t.y1, t.x0 : t.x1] = True
    assert covered.all()
    if grid > 1:
        th, tw = sizes.pop()
        ys = sorted({t.y0 for t in tiles})
        xs = sorted({t.x0 for t in tiles})
        # Neighbours share at least about ``overlap`` of a tile (rounding may take a pixel).
        assert all(th - (b - a) >= overlap * th - 1 for a, b in itertools.pairwise(ys))
        assert all(tw - (b - a) >= overlap * tw - 1 for a, b in itertools.pairwise(xs))


def test_plan_tiles_grid1_is_the_frame() -> None:
    (tile,) = plan_tiles(480, 640, grid=1)
    assert (tile.y0, tile.x0, tile.y1, tile.x1) == (0, 0, 480, 640)

"""The contact sheet is a sink: it shows only guard-made frames, labelled by release kind."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.core.verdict import Decision, Verdict
from captureguard.guard.allowed import Release, mint_frame
from captureguard.sinks.contact_sheet import ContactSheetSink
from tests.conftest import synthetic_bgr


def test_grid_of_every_nth_frame(tmp_path: Path) -> None:
    sheet = ContactSheetSink(tmp_path / "sheet.png", every=3, tile_width=100, columns=4)
    ok, blocked = Verdict(Decision.ALLOW, 0.0), Verdict(Decision.BLOCK, 1.0)
    for i in range(20):
        f = Frame.from_bgr(synthetic_bgr(90, 160, seed=i), index=i, timestamp_s=i / 10)
        kind = Release.BLOCKED if i == 9 else Release.CHECKED
        sheet.write(mint_frame(f, kind, blocked if i == 9 else ok))
    sheet.close()
    sheet.close()  # idempotent
    img = cv2.imread(str(tmp_path / "sheet.png"))
    # 7 kept frames (0, 3, ..., 18) -> 2 rows of 4 tiles of 100 x 56
    assert img.shape == (2 * 56, 4 * 100, 3)
    assert not np.array_equal(img[:56, :100], img[:56, 100:200])


def test_refuses_unchecked_frames(tmp_path: Path) -> None:
    sheet = ContactSheetSink(tmp_path / "sheet.png")
    with pytest.raises(TypeError, match="accepts only AllowedFrame"):
        sheet.write(Frame.from_bgr(synthetic_bgr(10, 10)))  # type: ignore[arg-type]
    sheet.close()
    assert not (tmp_path / "sheet.png").exists()

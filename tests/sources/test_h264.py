"""In-memory H.264 round trip: every frame comes back, in order, close to what went in."""

from __future__ import annotations

import numpy as np
import pytest

from captureguard.errors import BadInputError
from captureguard.sources.h264 import H264Bytes, encode_h264
from tests.conftest import synthetic_bgr


def test_round_trip_keeps_every_frame_in_order() -> None:
    frames = [np.roll(synthetic_bgr(72, 128, seed=3), 4 * i, axis=1) for i in range(20)]
    data = encode_h264(frames, fps=30.0)
    out = list(H264Bytes(data, fps=30.0, name="clip"))
    assert [f.index for f in out] == list(range(20))
    assert out[-1].timestamp_s == pytest.approx(19 / 30)
    assert {f.source for f in out} == {"clip"}
    for a, b in zip(frames, out, strict=True):
        assert b.bgr.shape == a.shape
        assert np.abs(b.bgr.astype(int) - a).mean() < 8  # lossy, but the same picture


def test_garbage_bytes_raise_bad_input() -> None:
    with pytest.raises(BadInputError, match="cannot decode"):
        list(H264Bytes(b"not a video", fps=30.0))

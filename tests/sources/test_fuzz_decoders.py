"""Fuzzing the image loader and the video source: mutated seeds and random bytes.

Seeds are small re-encodings of a bundled public-domain still (JPEG, PNG, WebP, GIF, BMP, TIFF)
and tiny generated videos (MP4, MKV, animated GIF). Whatever the bytes, the decoders return a
valid frame or raise a ``CaptureGuardError`` (``BadInputError``); never another exception, never a
hang. ``make fuzz`` runs many more examples.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from captureguard.core.frame import Frame
from captureguard.errors import BadInputError
from captureguard.sources.image import decode_image, load_image
from captureguard.sources.video import open_source
from tests.support.fuzzing import fuzz_inputs, must_end

pytestmark = pytest.mark.fuzz

DEMO_DIR = Path(__file__).resolve().parents[2] / "src" / "captureguard" / "data" / "demo"
SEED_PICTURE = "skimage_chelsea.png"


def _image_seeds() -> list[bytes]:
    still = Image.open(DEMO_DIR / SEED_PICTURE).convert("RGB").resize((48, 32))
    out = []
    for fmt, kwargs in [("JPEG", {"quality": 80}), ("PNG", {}), ("WEBP", {}), ("GIF", {}), ("BMP", {}), ("TIFF", {})]:
        buf = io.BytesIO()
        still.save(buf, fmt, **kwargs)
        out.append(buf.getvalue())
    buf = io.BytesIO()  # progressive JPEG with EXIF orientation: the rotate path
    exif = Image.Exif()
    exif[0x0112] = 6
    still.save(buf, "JPEG", progressive=True, exif=exif)
    out.append(buf.getvalue())
    return out


IMAGE_SEEDS = _image_seeds()


def _check_frame(frame: Frame) -> None:
    assert frame.bgr.dtype == np.uint8 and frame.bgr.ndim == 3 and frame.bgr.shape[2] == 3
    assert not frame.bgr.flags.writeable


def test_image_seeds_decode() -> None:
    for data in IMAGE_SEEDS:
        _check_frame(decode_image(data))


@given(data=fuzz_inputs(IMAGE_SEEDS))
def test_decode_image_never_raises_anything_but_bad_input(data: bytes) -> None:
    result = must_end(lambda: decode_image(data, name="fuzz.jpg", max_megapixels=4))
    if isinstance(result, Frame):
        _check_frame(result)
    else:
        assert isinstance(result, BadInputError), repr(result)
        assert "fuzz.jpg" in str(result)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=fuzz_inputs(IMAGE_SEEDS), suffix=st.sampled_from([".jpg", ".png", ".webp", ".gif", ".tif", ".heic"]))
def test_load_image_never_raises_anything_but_bad_input(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    result = must_end(lambda: load_image(path, max_megapixels=4, allow_animated=True))
    if isinstance(result, Frame):
        _check_frame(result)
    else:
        assert isinstance(result, BadInputError), repr(result)


def _write_video(path: Path, codec: str, *, frames: int = 6, pix_fmt: str = "yuv420p", **options: str) -> bytes:
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options=options) as container:
        stream: Any = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, pix_fmt
        for _ in range(frames):
            bgr = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(bgr, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path.read_bytes()


def _video_seeds() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        return {
            ".mp4": _write_video(Path(tmp) / "a.mp4", "libx264", movflags="faststart"),
            ".mkv": _write_video(Path(tmp) / "a.mkv", "libx264"),
            ".gif": _write_video(Path(tmp) / "a.gif", "gif", pix_fmt="rgb8"),
        }


VIDEO_SEEDS = _video_seeds()


def _read_all(path: Path) -> int:
    source = open_source(path)
    try:
        count = 0
        for frame in source:
            _check_frame(frame)
            count += 1
            if count >= 200:
                break
        return count
    finally:
        source.close()


def test_video_seeds_decode(tmp_path: Path) -> None:
    for suffix, data in VIDEO_SEEDS.items():
        (tmp_path / f"seed{suffix}").write_bytes(data)
        assert _read_all(tmp_path / f"seed{suffix}") == 6


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(blob=fuzz_inputs(list(VIDEO_SEEDS.values()), max_random=2048), suffix=st.sampled_from([".mp4", ".mkv", ".gif"]))
def test_video_source_never_raises_anything_but_bad_input(tmp_path: Path, blob: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(blob)
    result = must_end(lambda: _read_all(path), timeout_s=20.0)
    assert isinstance(result, int | BadInputError), repr(result)


# -- regressions: inputs the fuzzers found ---------------------------------------------------------

#: A two-page TIFF whose second page has no ImageWidth tag: Pillow raised TypeError("Missing
#: dimensions") while counting pages, which escaped the loader as a traceback (now BadInputError).
TIFF_SECOND_PAGE_WITHOUT_WIDTH = bytes.fromhex(
    "49492a00080000000a0000010400010000000400000001010400010000000300000002010300030000008600000003010300"
    "010000000100000006010300010000000200000011010400010000008c00000015010300010000000300000016010400010000"
    "00030000001701040001000000240000001c0103000100000001000000b80000000800080008000ac81e0ac81e0ac81e0ac81e"
    "0ac81e0ac81e0ac81e0ac81e0ac81e0ac81e0ac81e0ac81e49492a00080000000a00000f040001000000040000000101040001"
    "0000000300000002010300030000003601000003010300010000000100000006010300010000000200000011010400010000003c"
    "0100001501030001000000030000001601040001000000030000001701040001000000240000001c0103000100000001000000"
    "00000000080008000800c80a1ec80a1ec80a1ec80a1ec80a1ec80a1ec80a1ec80a1ec80a1ec80a1ec80a1ec80a1e"
)


@pytest.mark.parametrize("allow_animated", [False, True])
def test_regression_tiff_page_without_width_is_bad_input(allow_animated: bool) -> None:
    with pytest.raises(BadInputError, match="corrupt or truncated image data"):
        decode_image(TIFF_SECOND_PAGE_WITHOUT_WIDTH, allow_animated=allow_animated)


def test_regression_video_with_non_utf8_title_is_checked(tmp_path: Path) -> None:
    # Found by fuzzing: a byte flip in an MKV's tags made PyAV raise UnicodeDecodeError from
    # open_source (a traceback). A title in another encoding is not damage: the frames decode.
    path = tmp_path / "titled.mkv"
    with av.open(str(path), "w") as container:
        container.metadata["title"] = "TITLEXYZ"
        stream: Any = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((24, 32, 3), np.uint8), format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    path.write_bytes(path.read_bytes().replace(b"TITLEXYZ", bytes(range(0x80, 0x88))))
    assert _read_all(path) == 3

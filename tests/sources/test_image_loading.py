"""Image loading: every pixel mode, EXIF orientation, and a clear error for every kind of bad input.

All odd files are generated here from synthetic pixels (gradients, flat colours, noise).
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from captureguard.errors import BadInputError, ImageTooLargeError
from captureguard.samples import Sample
from captureguard.sources import image as image_mod
from captureguard.sources.image import MAX_SIDE_PX, SUPPORTED_SUFFIXES, decode_image, iter_image_paths, load_image
from tests.conftest import synthetic_bgr

RED_BGR = (0, 0, 255)


# --- file builders -----------------------------------------------------------------------------


def pil_bytes(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def cv2_bytes(pixels: np.ndarray, suffix: str) -> bytes:
    ok, buf = cv2.imencode(suffix, pixels)
    assert ok
    return buf.tobytes()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bilevel_png(width: int, height: int, *, with_pixels: bool = True) -> bytes:
    """A valid all-black 1-bit PNG of any size: a 20000x20000 one is ~50 KB (a decompression bomb).

    Without pixels only the header is real, which is all a size check should read.
    """
    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(height if with_pixels else 0)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def tiff_12bit_gray(values: list[int]) -> bytes:
    """A one-row uncompressed TIFF with 12-bit samples (what some scanners write)."""
    bits = "".join(f"{v:012b}" for v in values)
    bits += "0" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big")
    tags = [(256, len(values)), (257, 1), (258, 12), (259, 1), (262, 1), (273, 0), (277, 1), (278, 1)]
    tags.append((279, len(data)))
    data_offset = 8 + 2 + 12 * len(tags) + 4
    out = b"II*\x00" + struct.pack("<IH", 8, len(tags))
    for tag, value in tags:
        out += struct.pack("<HHII", tag, 4, 1, data_offset if tag == 273 else value)
    return out + struct.pack("<I", 0) + data


def opencv_read(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return bgr


def make_fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pipe.jpg")
    return folder / "pipe.jpg"


def palette_image(transparency: object = None) -> Image.Image:
    im = Image.new("P", (3, 1))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    im.putdata([0, 1, 2])
    if transparency is not None:
        im.info["transparency"] = transparency
    return im


def gray16(values: list[int]) -> Image.Image:
    return Image.fromarray(np.array([values], dtype=np.uint16))


def gray16_big_endian(values: list[int]) -> Image.Image:
    # Image.convert("I;16B") clips to 255, so build the big-endian samples directly.
    return Image.frombytes("I;16B", (len(values), 1), np.array(values, dtype=">u2").tobytes())


def rgba_red_and_hidden_green() -> Image.Image:
    # The second pixel is fully transparent but still holds green: the checker must see it.
    return Image.fromarray(np.array([[[255, 0, 0, 255], [0, 255, 0, 0]]], dtype=np.uint8), "RGBA")


def rgb16() -> np.ndarray:
    bgr = np.zeros((1, 3, 3), dtype=np.uint16)
    bgr[0, 0] = (0, 0, 65535)
    bgr[0, 1] = (256, 32768, 65535)
    bgr[0, 2] = (255, 511, 1000)
    return bgr


def grays(*levels: int) -> np.ndarray:
    return np.repeat(np.array([levels], dtype=np.uint8)[:, :, None], 3, axis=2)


def bgr_row(*pixels: tuple[int, int, int]) -> np.ndarray:
    return np.array([pixels], dtype=np.uint8)


# --- every pixel mode becomes (H, W, 3) uint8 BGR with its colours intact -------------------------


def flat(mode: str, colour: float | tuple[int, ...], fmt: str = "PNG") -> Callable[[], bytes]:
    return lambda: pil_bytes(Image.new(mode, (2, 1), colour), fmt)


def from_array(values: list[list[float]], dtype: type, fmt: str = "TIFF") -> Callable[[], bytes]:
    return lambda: pil_bytes(Image.fromarray(np.array(values, dtype=dtype)), fmt)


def lab_red_and_grey() -> bytes:
    channels = [Image.frombytes("L", (2, 1), bytes(c)) for c in ((138, 128), (208, 128), (195, 128))]
    return pil_bytes(Image.merge("LAB", channels), "TIFF")


RGB16_AS_8 = bgr_row((0, 0, 255), (1, 128, 255), (0, 1, 3))  # 16-bit samples keep their top byte
PALETTE = bgr_row(RED_BGR, (0, 255, 0), (255, 0, 0))
GRAY16 = [65535, 32768, 0, 256]

MODE_CASES = [
    pytest.param(flat("RGB", (255, 0, 0)), ".png", bgr_row(RED_BGR, RED_BGR), 0, id="RGB-png"),
    pytest.param(flat("RGB", (255, 0, 0), "BMP"), ".bmp", bgr_row(RED_BGR, RED_BGR), 0, id="RGB-bmp"),
    pytest.param(
        lambda: pil_bytes(rgba_red_and_hidden_green(), "PNG"),
        ".png",
        bgr_row(RED_BGR, (0, 255, 0)),
        0,
        id="RGBA-keeps-colour-under-alpha-0",
    ),
    pytest.param(
        lambda: pil_bytes(rgba_red_and_hidden_green(), "WEBP", lossless=True, exact=True),
        ".webp",
        bgr_row(RED_BGR, (0, 255, 0)),
        0,
        id="RGBA-webp-keeps-colour-under-alpha-0",
    ),
    pytest.param(flat("L", 200), ".png", grays(200, 200), 0, id="L"),
    pytest.param(flat("LA", (200, 0)), ".png", grays(200, 200), 0, id="LA-keeps-grey-under-alpha-0"),
    pytest.param(
        lambda: pil_bytes(Image.fromarray(np.array([[True, False]])), "PNG"),
        ".png",
        grays(255, 0),
        0,
        id="1-bit",
    ),
    pytest.param(lambda: pil_bytes(palette_image(), "PNG"), ".png", PALETTE, 0, id="P"),
    pytest.param(lambda: pil_bytes(palette_image(0), "PNG"), ".png", PALETTE, 0, id="P-transparent-index"),
    pytest.param(lambda: pil_bytes(palette_image(b"\x00\x80"), "PNG"), ".png", PALETTE, 0, id="P-alpha-table"),
    pytest.param(lambda: pil_bytes(palette_image(), "GIF"), ".gif", PALETTE, 0, id="P-gif"),
    pytest.param(lambda: pil_bytes(gray16(GRAY16), "PNG"), ".png", grays(255, 128, 0, 1), 0, id="I;16-png"),
    pytest.param(
        lambda: pil_bytes(gray16_big_endian(GRAY16), "TIFF"),
        ".tif",
        grays(255, 128, 0, 1),
        0,
        id="I;16B-tiff",
    ),
    pytest.param(
        lambda: tiff_12bit_gray([4095, 2048, 0]),
        ".tif",
        grays(255, 128, 0),
        0,
        id="12-bit-tiff-scaled-by-its-depth",
    ),
    pytest.param(
        from_array([[0, 2**31 - 1, 2**30, -5]], np.int32),
        ".tif",
        grays(0, 255, 128, 0),
        0,
        id="I-32-bit-signed-tiff",
    ),
    pytest.param(from_array([[0.0, 0.5, 1.0]], np.float32), ".tif", grays(0, 128, 255), 0, id="F-unit-range"),
    pytest.param(from_array([[-10.0, 990.0]], np.float32), ".tif", grays(0, 255), 0, id="F-any-range-stretched"),
    pytest.param(flat("CMYK", (0, 255, 255, 0), "TIFF"), ".tif", bgr_row(RED_BGR, RED_BGR), 0, id="CMYK-tiff"),
    pytest.param(flat("YCbCr", (76, 85, 255), "TIFF"), ".tif", bgr_row(RED_BGR, RED_BGR), 2, id="YCbCr-tiff"),
    pytest.param(lab_red_and_grey, ".tif", bgr_row((11, 9, 251), (119, 119, 119)), 3, id="LAB-tiff"),
    pytest.param(lambda: cv2_bytes(rgb16(), ".png"), ".png", RGB16_AS_8, 0, id="RGB-48-bit-png"),
    pytest.param(
        lambda: cv2_bytes(np.dstack([rgb16(), np.zeros((1, 3), np.uint16)]), ".png"),
        ".png",
        RGB16_AS_8,
        0,
        id="RGBA-64-bit-png-keeps-colour-under-alpha-0",
    ),
    pytest.param(lambda: cv2_bytes(rgb16(), ".tiff"), ".tif", RGB16_AS_8, 0, id="RGB-48-bit-tiff"),
]


@pytest.mark.parametrize(("build", "suffix", "expected", "tolerance"), MODE_CASES)
def test_every_mode_becomes_bgr_with_colours_kept(
    tmp_path: Path, build: Callable[[], bytes], suffix: str, expected: np.ndarray, tolerance: int
) -> None:
    path = tmp_path / f"case{suffix}"
    path.write_bytes(build())
    frame = load_image(path)
    assert frame.bgr.dtype == np.uint8
    assert frame.bgr.shape == expected.shape
    assert np.abs(frame.bgr.astype(int) - expected.astype(int)).max() <= tolerance, frame.bgr.tolist()


def test_48_bit_png_matches_opencv_conversion(tmp_path: Path) -> None:
    pixels = (synthetic_bgr(32, 48, seed=3).astype(np.uint16) * 257) + np.uint16(77)
    path = tmp_path / "deep.png"
    path.write_bytes(cv2_bytes(pixels, ".png"))
    assert np.array_equal(load_image(path).bgr, opencv_read(path))


# --- EXIF orientation ------------------------------------------------------------------------------


def oriented_jpeg(orientation: int) -> bytes:
    """A 60x40 (W x H) grey picture with a red block in its stored top-left corner."""
    bgr = np.full((40, 60, 3), 128, dtype=np.uint8)
    bgr[:10, :10] = RED_BGR
    exif = Image.Exif()
    exif[0x0112] = orientation
    rgb = Image.fromarray(bgr[:, :, ::-1])
    return pil_bytes(rgb, "JPEG", quality=95, subsampling=0, exif=exif.tobytes())


@pytest.mark.parametrize(
    ("orientation", "shape", "red_corner"),
    [
        (1, (40, 60, 3), (0, 0)),
        (3, (40, 60, 3), (-1, -1)),  # rotated 180
        (6, (60, 40, 3), (0, -1)),  # viewer turns it 90° clockwise: stored top-left shows top-right
        (8, (60, 40, 3), (-1, 0)),  # 90° anticlockwise: stored top-left shows bottom-left
    ],
    ids=["1-upright", "3-upside-down", "6-rotate-cw", "8-rotate-ccw"],
)
def test_exif_orientation_is_applied(
    tmp_path: Path, orientation: int, shape: tuple[int, int, int], red_corner: tuple[int, int]
) -> None:
    path = tmp_path / f"o{orientation}.jpg"
    path.write_bytes(oriented_jpeg(orientation))
    frame = load_image(path)
    assert frame.bgr.shape == shape
    row = slice(0, 5) if red_corner[0] == 0 else slice(-5, None)
    col = slice(0, 5) if red_corner[1] == 0 else slice(-5, None)
    assert np.abs(frame.bgr[row, col].astype(int) - RED_BGR).max() <= 8
    assert np.abs(frame.bgr.astype(int) - opencv_read(path)).max() <= 1  # OpenCV applies EXIF too


# --- bad input: one clear, one-line error naming the file ---------------------------------------


def animated(fmt: str, frames: int = 3) -> bytes:
    pictures = [Image.fromarray(synthetic_bgr(16, 16, seed=i)[:, :, ::-1]) for i in range(frames)]
    lossless = {"lossless": True} if fmt == "WEBP" else {}
    return pil_bytes(pictures[0], fmt, save_all=True, append_images=pictures[1:], duration=100, **lossless)


def jpeg(height: int = 64, width: int = 96) -> bytes:
    return cv2_bytes(synthetic_bgr(height, width, seed=1), ".jpg")


def png(height: int = 64, width: int = 96) -> bytes:
    return cv2_bytes(np.random.default_rng(2).integers(0, 256, (height, width, 3), dtype=np.uint8), ".png")


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect/></svg>'
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)

BAD_FILES = [
    pytest.param("empty.jpg", lambda: b"", BadInputError, "file is empty (0 bytes)", id="zero-bytes"),
    pytest.param(
        "cut.jpg",
        lambda: jpeg()[: len(jpeg()) // 2],
        BadInputError,
        "corrupt or truncated",
        id="truncated-jpeg",
    ),
    pytest.param(
        "cut.png", lambda: png()[: len(png()) // 2], BadInputError, "corrupt or truncated", id="truncated-png"
    ),
    pytest.param("head.png", lambda: png()[:20], BadInputError, "corrupt or truncated", id="png-cut-in-header"),
    pytest.param(
        "noise.jpg",
        lambda: np.random.default_rng(0).bytes(4096),
        BadInputError,
        "not a recognised image",
        id="random-bytes",
    ),
    pytest.param(
        "notes.jpg",
        lambda: b"hello, this is not a picture\n" * 20,
        BadInputError,
        "not a recognised image",
        id="text-named-jpg",
    ),
    pytest.param("drawing.svg", lambda: SVG, BadInputError, "SVG is not a supported image format", id="svg"),
    pytest.param("doc.pdf", lambda: PDF, BadInputError, "PDF is not a supported image format", id="pdf"),
    pytest.param(
        "phone.heic",
        lambda: HEIC,
        BadInputError,
        "pip install pillow-heif",
        id="heic-without-plugin",
        marks=pytest.mark.skipif(image_mod._HEIF, reason="pillow-heif is installed"),
    ),
    pytest.param("anim.gif", lambda: animated("GIF"), BadInputError, "has 3 frames", id="animated-gif"),
    pytest.param("anim.png", lambda: animated("PNG"), BadInputError, "has 3 frames", id="animated-png"),
    pytest.param("anim.webp", lambda: animated("WEBP"), BadInputError, "has 3 frames", id="animated-webp"),
    pytest.param("pages.tif", lambda: animated("TIFF", frames=2), BadInputError, "has 2 frames", id="multi-page-tiff"),
    pytest.param(
        "bomb.png",
        lambda: bilevel_png(50_000, 50_000, with_pixels=False),
        ImageTooLargeError,
        "too many pixels",
        id="bomb-50000x50000-header",
    ),
    pytest.param(
        "bomb2.png",
        lambda: bilevel_png(20_000, 20_000),
        ImageTooLargeError,
        "too many pixels",
        id="bomb-20000x20000-real",
    ),
    pytest.param(
        "big.png",
        lambda: bilevel_png(11_000, 10_000, with_pixels=False),
        ImageTooLargeError,
        "(110.0 MP) is over the 100 MP limit",
        id="110-MP-over-default-cap",
    ),
    pytest.param(
        "strip.png",
        lambda: bilevel_png(MAX_SIDE_PX + 1, 2),
        ImageTooLargeError,
        f"side over the {MAX_SIDE_PX} px limit",
        id="side-over-cap",
    ),
]


def assert_clear_error(exc: BaseException, name: str, fragment: str) -> None:
    message = str(exc)
    assert "\n" not in message
    assert message.startswith(f"cannot load image {name!r}: "), message
    assert fragment in message, message
    assert "; " in message, "a hint follows the problem"


@pytest.mark.parametrize(("filename", "build", "error", "fragment"), BAD_FILES)
def test_bad_file_raises_clear_error(
    tmp_path: Path, filename: str, build: Callable[[], bytes], error: type[BadInputError], fragment: str
) -> None:
    path = tmp_path / filename
    path.write_bytes(build())
    with pytest.raises(error) as info:
        load_image(path)
    assert_clear_error(info.value, str(path), fragment)


@pytest.mark.parametrize(("filename", "build", "error", "fragment"), BAD_FILES)
def test_bad_bytes_raise_the_same_errors(
    filename: str, build: Callable[[], bytes], error: type[BadInputError], fragment: str
) -> None:
    with pytest.raises(error) as info:
        decode_image(build(), name=filename)
    assert_clear_error(info.value, filename, fragment)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: p / "missing.jpg", "file not found"),
        (lambda p: p, "is a directory"),
        (make_fifo, "is not a file"),
    ],
    ids=["nonexistent", "directory", "fifo"],
)
def test_unusable_path_raises_clear_error(tmp_path: Path, make: Callable[[Path], Path], fragment: str) -> None:
    path = make(tmp_path)
    with pytest.raises(BadInputError) as info:
        load_image(str(path))
    assert_clear_error(info.value, str(path), fragment)


def test_unreadable_file_raises_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.jpg"
    path.write_bytes(jpeg())
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read mode-000 files (root)")
        with pytest.raises(BadInputError) as info:
            load_image(path)
        assert_clear_error(info.value, str(path), "permission denied")
    finally:
        path.chmod(0o600)


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (PermissionError(13, "Permission denied"), "permission denied"),
        (FileNotFoundError(2, "No such file or directory"), "file not found"),
        (OSError(5, "Input/output error"), "cannot open the file (Input/output error)"),
    ],
    ids=["permission", "not-found", "io-error"],
)
def test_open_failures_are_explained(error: OSError, fragment: str) -> None:
    # Runs as root too, where chmod 000 cannot make a file unreadable.
    assert_clear_error(image_mod._open_failure("/photos/a.jpg", error), "/photos/a.jpg", fragment)


def test_decode_errors_keep_their_cause(tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as info:
        decode_image(jpeg()[:300], name="cut.jpg")
    assert isinstance(info.value.__cause__, OSError | SyntaxError | ValueError)
    with pytest.raises(BadInputError) as info:
        load_image(tmp_path / "missing.png")
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_truncated_images_are_not_loaded_silently() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = jpeg()
    for cut in (len(data) - 200, len(data) // 3):
        with pytest.raises(BadInputError, match="corrupt or truncated"):
            decode_image(data[:cut], name="cut.jpg")


# --- size limits ------------------------------------------------------------------------------------


def test_max_megapixels_is_checked_from_the_header() -> None:
    with pytest.raises(ImageTooLargeError, match=r"64x48 pixels \(0.0 MP\) is over the 0.001 MP limit"):
        decode_image(jpeg(48, 64), name="small.jpg", max_megapixels=0.001)
    assert decode_image(jpeg(48, 64), name="small.jpg", max_megapixels=0.004).bgr.shape == (48, 64, 3)


def test_pillow_bomb_guard_does_not_decide_our_cap_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow warns past MAX_IMAGE_PIXELS and refuses past twice that (~179 MP by default), so a
    # --max-megapixels above that had no effect. Now max_megapixels is the one limit, whatever the
    # warning filters (pytest turns warnings into errors here), and Pillow's setting is restored.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    filters_before = list(warnings.filters)
    assert decode_image(png(40, 40), name="warned.png").bgr.shape == (40, 40, 3)  # 1600 px: warned
    assert decode_image(png(50, 50), name="over.png").bgr.shape == (50, 50, 3)  # 2500 px: Pillow would refuse
    with pytest.raises(ImageTooLargeError, match=r"over the 0.002 MP limit.*--max-megapixels"):
        decode_image(png(50, 50), name="refused.png", max_megapixels=0.002)
    assert warnings.filters == filters_before
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_a_12_megapixel_photo_loads(tmp_path: Path) -> None:
    path = tmp_path / "phone.jpg"
    path.write_bytes(cv2_bytes(synthetic_bgr(3000, 4000, seed=5), ".jpg"))
    assert load_image(path).bgr.shape == (3000, 4000, 3)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")], ids=["zero", "negative", "nan"])
def test_max_megapixels_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="max_megapixels"):
        decode_image(png(4, 4), max_megapixels=bad)


# --- animation, bytes, frozen frames ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_image_gives_first_frame_when_allowed(fmt: str) -> None:
    frame = decode_image(animated(fmt), name=f"anim.{fmt.lower()}", allow_animated=True)
    first = synthetic_bgr(16, 16, seed=0)
    assert frame.bgr.shape == (16, 16, 3)
    # GIF quantises to a palette, lossy WebP approximates: compare loosely, but against frame 0 only.
    assert np.abs(frame.bgr.astype(int) - first).mean() < 8
    assert np.abs(frame.bgr.astype(int) - synthetic_bgr(16, 16, seed=1)).mean() > 8


def test_phone_multi_picture_jpeg_is_a_still() -> None:
    # Phones write MPO: a JPEG whose extra pictures are previews or depth maps; viewers show the first.
    first, extra = (Image.fromarray(synthetic_bgr(24, 32, seed=s)[:, :, ::-1]) for s in (0, 1))
    data = pil_bytes(first, "MPO", save_all=True, append_images=[extra], quality=95)
    with Image.open(io.BytesIO(data)) as opened:
        assert (opened.format, getattr(opened, "n_frames", 1)) == ("MPO", 2)
    frame = decode_image(data, name="phone.jpg")
    assert np.abs(frame.bgr.astype(int) - synthetic_bgr(24, 32, seed=0)).mean() < 3


def test_concurrent_decodes_leave_warning_filters_alone() -> None:
    filters_before = list(warnings.filters)
    data = png(64, 64)
    with ThreadPoolExecutor(max_workers=4) as pool:
        frames = list(pool.map(lambda i: decode_image(data, name=f"t{i}.png"), range(16)))
    assert all(np.array_equal(f.bgr, frames[0].bgr) for f in frames)
    assert warnings.filters == filters_before


def test_decode_image_matches_load_image(tmp_path: Path) -> None:
    data = png(30, 20)
    path = tmp_path / "same.png"
    path.write_bytes(data)
    from_bytes = decode_image(data, name="upload.png")
    from_file = load_image(path)
    assert np.array_equal(from_bytes.bgr, from_file.bgr)
    assert (from_bytes.source, from_file.source) == ("upload.png", str(path))


def test_frame_pixels_are_read_only() -> None:
    frame = decode_image(png(8, 8), name="frozen.png")
    assert not frame.bgr.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        frame.bgr[0, 0, 0] = 1


# --- directory scanning ------------------------------------------------------------------------------


def test_iter_image_paths_is_sorted_and_skips_hidden_and_other_files(tmp_path: Path) -> None:
    for rel in [
        "b.jpg",
        "a.PNG",
        "notes.txt",
        "noext",
        ".hidden.jpg",
        ".cache/x.png",
        "sub/d.webp",
        "sub/deeper/e.TIFF",
        "z.gif",
        "sub/readme.md",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    expected = ["a.PNG", "b.jpg", "sub/d.webp", "sub/deeper/e.TIFF", "z.gif"]
    assert [p.relative_to(tmp_path).as_posix() for p in iter_image_paths(tmp_path)] == expected
    top_only = [p.name for p in iter_image_paths(str(tmp_path), recursive=False)]
    assert top_only == ["a.PNG", "b.jpg", "z.gif"]


def test_iter_image_paths_yields_a_file_root_and_rejects_a_missing_one(tmp_path: Path) -> None:
    photo = tmp_path / "one.jpg"
    photo.write_bytes(jpeg())
    assert list(iter_image_paths(photo)) == [photo]
    with pytest.raises(BadInputError, match="no such file or folder"):
        list(iter_image_paths(tmp_path / "nowhere"))


def test_supported_suffixes_are_lower_case_and_dotted() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"} <= set(SUPPORTED_SUFFIXES)
    assert all(s.startswith(".") and s == s.lower() for s in SUPPORTED_SUFFIXES)


# --- the bundled real images ---------------------------------------------------------------------------

# Pillow 13 and OpenCV 5 both decode the bundled JPEGs bit-identically (max difference 0, measured);
# a couple of levels are allowed for JPEG since their libjpeg builds may differ in other releases.
TOLERANCE = {".jpg": 2, ".jpeg": 2, ".png": 0, ".webp": 0}


def test_bundled_images_load_like_opencv(samples: list[Sample]) -> None:
    assert samples
    for sample in samples:
        frame = load_image(sample.path)
        reference = opencv_read(sample.path)
        assert frame.bgr.shape == reference.shape, sample.path.name
        diff = np.abs(frame.bgr.astype(int) - reference.astype(int))
        assert diff.max() <= TOLERANCE[sample.path.suffix.lower()], sample.path.name


def test_scanner_lists_heic_so_it_is_reported_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "IMG_0001.HEIC").write_bytes(HEIC)
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in iter_image_paths(tmp_path)] == ["IMG_0001.HEIC"]

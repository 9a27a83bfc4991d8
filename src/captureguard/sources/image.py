"""Still images from files or bytes, decoded to exactly what a viewer shows.

Every failure is a :class:`~captureguard.errors.BadInputError` with a one-line message that
names the image, says what is wrong and how to fix it. The decoder is Pillow, restricted to
the formats listed in :data:`SUPPORTED_SUFFIXES` (HEIC/HEIF too when ``pillow-heif`` is
installed), so rarely used plugins (EPS runs Ghostscript) are never reached from an upload.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import io
import logging
import os
import stat
import struct
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from captureguard._memory import release_free_memory
from captureguard.core.frame import Frame
from captureguard.errors import BadInputError, ImageTooLargeError

logger = logging.getLogger(__name__)

#: Default pixel cap (decompression-bomb guard); a 12 MP phone photo or a 50 MP camera pass.
DEFAULT_MAX_MEGAPIXELS = 100.0
#: Longest side allowed in pixels, whatever the pixel count.
MAX_SIDE_PX = 30_000
#: Longest side a *check-only* decode keeps (``reduced=True``). The detectors never look at more:
#: each letterboxes the frame to its own input (NudeNet 640 px; open_nsfw 256 px; a plugged-in
#: YOLO model at most 2048 px, the largest ``input_size`` accepted), so an image is reduced only by
#: whole factors that keep its longest side at or above this. A 100 MP PNG then holds one
#: full-size decode for a moment, not three full-size copies for the whole check.
CHECK_SIDE_PX = 2048


_HEIF = importlib.util.find_spec("pillow_heif") is not None
if _HEIF:  # optional: lets Pillow open HEIC/HEIF phone photos
    importlib.import_module("pillow_heif").register_heif_opener()
_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF") + (("HEIF",) if _HEIF else ())
#: True when ``pillow-heif`` is installed, so HEIC/HEIF photos can be decoded.
HEIF_SUPPORTED = _HEIF
#: File suffixes :func:`iter_image_paths` yields (lower case; matched case-insensitively).
#: HEIC/HEIF are listed even without pillow-heif, so a scan reports them ("install
#: pillow-heif") instead of silently skipping a phone's photos.
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    *(".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"),
    *(".heic", ".heif"),
)

# What Pillow raises on damaged data (the list its own fuzz tests accept, plus struct errors, plus
# TypeError/KeyError: found by fuzzing, a TIFF whose second page lacks its width tag raises
# TypeError("Missing dimensions") from a KeyError while counting frames).
_BAD_DATA = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    OverflowError,
    NotImplementedError,
    struct.error,
    TypeError,
    KeyError,
)
_WARNINGS_LOCK = threading.Lock()


def load_image(
    path: str | os.PathLike[str],
    *,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    allow_animated: bool = False,
    reduced: bool = False,
) -> Frame:
    """Decode an image file into a frozen frame, upright as a viewer shows it.

    Args:
        path: the image file (JPEG, PNG, WebP, BMP, TIFF, GIF; HEIC with ``pillow-heif``).
        max_megapixels: refuse images with more pixels than this, read from the header
            before any pixel is decoded.
        allow_animated: an image with several frames (animated GIF/WebP/APNG, multi-page
            TIFF) is refused by default because only one frame would be checked; ``True``
            decodes the first frame only.
        reduced: decode for a check only, at a reduced size that still holds everything the
            detectors look at (longest side kept >= :data:`CHECK_SIDE_PX`; JPEG is decoded
            reduced by libjpeg's DCT scaling (``draft``), other formats are box-reduced right
            after decoding). Use it only where the frame is checked and then thrown away
            (``check``, ``scan``, ``/v1/check``): a photo that is *saved* must be decoded at
            full size, so that the stored pixels are the checked pixels.

    Returns:
        A :class:`Frame` whose ``bgr`` is ``(H, W, 3) uint8`` in BGR order, read-only, with
        EXIF orientation applied and ``source`` set to the path.

    Raises:
        BadInputError: missing, unreadable, empty, corrupt, unsupported or animated input.
        ImageTooLargeError: more than ``max_megapixels`` or a side over ``MAX_SIDE_PX``.
    """
    name = os.fspath(path)
    with _open_file(name) as fp:
        bgr = _decode(fp, name, max_megapixels=max_megapixels, allow_animated=allow_animated, reduced=reduced)
    return Frame.from_bgr(bgr, source=name, copy=False)


def decode_image(
    data: bytes,
    *,
    name: str = "<bytes>",
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    allow_animated: bool = False,
    reduced: bool = False,
) -> Frame:
    """Decode encoded image bytes (an upload, say) like :func:`load_image` decodes a file.

    Args:
        data: the whole encoded file.
        name: how messages and ``Frame.source`` name the image (e.g. the upload's filename).
        max_megapixels: see :func:`load_image`.
        allow_animated: see :func:`load_image`.
        reduced: see :func:`load_image` (check-only decodes).

    Returns:
        A frame with read-only ``(H, W, 3) uint8`` BGR pixels.

    Raises:
        BadInputError: empty, corrupt, unsupported or animated input.
        ImageTooLargeError: more pixels than allowed.
    """
    _check_not_empty(name, len(data))
    bgr = _decode(io.BytesIO(data), name, max_megapixels=max_megapixels, allow_animated=allow_animated, reduced=reduced)
    return Frame.from_bgr(bgr, source=name, copy=False)


def header_megapixels(data: bytes) -> float:
    """Megapixels that encoded image bytes declare in their header, reading no pixel data.

    Returns 0 when the header cannot be read (the decoder then refuses the bytes with its own
    message) and ``inf`` when even the longest-side cap is exceeded.
    """
    size = header_size(data)
    if size is None:
        return 0.0
    return size[0] * size[1] / 1e6


def header_size(data: bytes | str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(width, height)`` as a viewer shows the image (EXIF rotation applied), from the header
    of encoded bytes or a file only; None when the header cannot be read."""
    source = io.BytesIO(data) if isinstance(data, bytes) else os.fspath(data)
    with _pillow_warnings("<header>"), _pillow_pixel_limit(MAX_SIDE_PX**2 / 1e6):
        try:
            with Image.open(source, formats=_FORMATS) as im:
                width, height = im.size
                turned = im.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)
        except Image.DecompressionBombError:
            return (MAX_SIDE_PX + 1, MAX_SIDE_PX + 1)
        except (UnidentifiedImageError, *_BAD_DATA):
            return None
    return (height, width) if turned else (width, height)


def iter_image_paths(root: str | os.PathLike[str], *, recursive: bool = True) -> Iterator[Path]:
    """Image files under ``root`` with a suffix in :data:`SUPPORTED_SUFFIXES`, sorted by path.

    Hidden files and folders (names starting with ``.``) are skipped. Symlinked folders are not
    entered, so a link loop cannot recur; symlinked files are yielded. A file ``root`` is
    yielded as is, whatever its suffix, so that :func:`load_image` can say what is wrong.

    Raises:
        BadInputError: ``root`` does not exist.
    """
    top = Path(root)
    if top.is_file():
        yield top
        return
    if not top.is_dir():
        raise _error(str(top), "no such file or folder", "check the path and the working directory")
    found: list[Path] = []
    for folder, dirs, files in os.walk(top, onerror=_log_walk_error):
        dirs[:] = [d for d in dirs if not d.startswith(".")] if recursive else []
        found += [Path(folder, f) for f in files if _is_image_name(f)]
    yield from sorted(found)


def _is_image_name(filename: str) -> bool:
    return not filename.startswith(".") and os.path.splitext(filename)[1].lower() in SUPPORTED_SUFFIXES


def _log_walk_error(exc: OSError) -> None:
    logger.warning("skipping %s while scanning for images: %s", exc.filename, exc.strerror or exc)


def _decode(fp: IO[bytes], name: str, *, max_megapixels: float, allow_animated: bool, reduced: bool) -> np.ndarray:
    if not max_megapixels > 0:
        raise ValueError(f"max_megapixels must be positive, got {max_megapixels!r}")
    with _pillow_warnings(name), _pillow_pixel_limit(max_megapixels):
        with _decode_errors(fp, name):
            im = Image.open(fp, formats=_FORMATS)
        with im:
            with _decode_errors(fp, name):
                _check_header(im, name, max_megapixels=max_megapixels, allow_animated=allow_animated)
                factor = _reduction(im.size) if reduced else 1
                if factor > 1 and im.format == "JPEG":
                    im.draft(None, (im.width // factor, im.height // factor))  # libjpeg decodes it smaller
                im.load()  # the whole decode happens here: LOAD_TRUNCATED_IMAGES stays False
                bits = _tiff_bits(im)
                orientation = im.getexif().get(_ORIENTATION, 1)
                small = _reduce(im, _reduction(im.size) if reduced else 1)
                upright = _upright(small, orientation)
            rgb = _to_rgb(upright, name, bits=bits)
            del small, upright
    logger.debug("decoded %s: %s %s %dx%d", name, im.format, im.mode, rgb.shape[1], rgb.shape[0])
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    del rgb
    if im.width * im.height >= _TRIM_PIXELS:
        release_free_memory()
    return bgr


#: After decoding an image this large, freed heap memory is handed back to the OS.
_TRIM_PIXELS = 16_000_000


_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def _reduction(size: tuple[int, int]) -> int:
    """The whole factor that keeps the longest side at or above :data:`CHECK_SIDE_PX`."""
    return max(1, max(size) // CHECK_SIDE_PX)


def _reduce(im: Image.Image, factor: int) -> Image.Image:
    """Box-reduce by ``factor`` (modes ``reduce`` does not take, such as palettes, stay as they are)."""
    if factor < 2:
        return im
    try:
        return im.reduce(factor)
    except ValueError:
        return im


def _upright(im: Image.Image, orientation: object) -> Image.Image:
    """Apply the EXIF orientation read from the original (a reduced copy has no EXIF)."""
    steps = _TRANSPOSE.get(orientation, ()) if isinstance(orientation, int) else ()
    for step in steps:
        im = im.transpose(step)
    return im


@contextlib.contextmanager
def _pillow_pixel_limit(max_megapixels: float) -> Iterator[None]:
    """Let Pillow open what ``max_megapixels`` allows (its own guard stops at ~179 MP).

    Pillow refuses any image over twice ``Image.MAX_IMAGE_PIXELS`` in ``Image.open``, before our
    own check can run. The limit is raised only while one of our decodes holds the lock (our
    decodes are serialised by it; it is never lowered), so ``--max-megapixels`` is the one limit.
    """
    previous = Image.MAX_IMAGE_PIXELS
    wanted = int(max_megapixels * 1e6) + 1
    if previous is not None and previous < wanted:
        Image.MAX_IMAGE_PIXELS = wanted
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


@contextlib.contextmanager
def _pillow_warnings(name: str) -> Iterator[None]:
    """Silence Pillow's own bomb warning (our ``max_megapixels`` is the limit) and log the rest.

    ``catch_warnings`` swaps process-wide state, restored on exit; the lock stops two of our
    decodes from restoring each other's filters. Other warnings (corrupt EXIF...) are logged,
    so the outcome does not depend on the application's warning filters.
    """
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            yield
        finally:
            for item in caught:
                logger.warning("%s: %s", name, item.message)


@contextlib.contextmanager
def _decode_errors(fp: IO[bytes], name: str) -> Iterator[None]:
    """Turn what Pillow raises on bad data into one-line :class:`BadInputError` s."""
    try:
        yield
    except UnidentifiedImageError as exc:
        raise _unsupported(fp, name) from exc
    except Image.DecompressionBombError as exc:
        hint = "downscale the image if it is genuine"
        raise _error(name, f"too many pixels to decode safely ({exc})", hint, ImageTooLargeError) from exc
    except _BAD_DATA as exc:
        problem = f"corrupt or truncated image data ({type(exc).__name__}: {exc})"
        raise _error(name, problem, "re-export or download the file again") from exc


def _check_header(im: Image.Image, name: str, *, max_megapixels: float, allow_animated: bool) -> None:
    width, height = im.size
    size = f"{width}x{height} pixels"
    if width * height > max_megapixels * 1e6:
        problem = f"{size} ({width * height / 1e6:.1f} MP) is over the {max_megapixels:g} MP limit"
        hint = "downscale it, or raise the limit (--max-megapixels) if it is trusted"
        raise _error(name, problem, hint, ImageTooLargeError)
    if max(width, height) > MAX_SIDE_PX:
        problem = f"{size} has a side over the {MAX_SIDE_PX} px limit"
        raise _error(name, problem, "crop or downscale it", ImageTooLargeError)
    frames = int(getattr(im, "n_frames", 1))
    # A phone's multi-picture JPEG (MPO) shows its first picture; the others are previews/depth.
    if frames > 1 and im.format != "MPO" and not allow_animated:
        problem = f"has {frames} frames (animated or multi-page) but only one would be checked"
        raise _error(name, problem, "split the frames, or check only the first one (allow_animated=True in Python)")


def _to_rgb(im: Image.Image, name: str, *, bits: int | None) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB from any Pillow mode.

    Alpha is dropped, never composited: pixels under alpha=0 are still in the file and show
    up on another background or in a tool that ignores alpha, so the checker must see them.
    """
    mode = im.mode
    if mode in ("RGB", "RGBA", "RGBX", "RGBa"):  # 16-bit colour arrives as its top byte, as in OpenCV
        return np.asarray(im)[:, :, :3]
    if mode in ("P", "PA"):  # palette colours, transparent entries included
        return np.asarray(im.convert("RGBA"))[:, :, :3]
    if mode == "LAB":
        return np.asarray(ImageCms.applyTransform(im, _lab_to_srgb()))
    if mode in ("1", "L", "LA", "La", "I", "F") or mode.startswith("I;16"):
        return np.repeat(_gray8(im, bits=bits)[:, :, None], 3, axis=2)
    try:  # CMYK, YCbCr, HSV
        return np.asarray(im.convert("RGB"))
    except ValueError as exc:
        raise _error(name, f"unsupported pixel mode {mode}", "convert it to 8-bit RGB") from exc


def _gray8(im: Image.Image, *, bits: int | None) -> np.ndarray:
    """``(H, W) uint8`` grey levels; 16/32-bit and float samples are scaled, not clipped."""
    arr = np.asarray(im)
    if arr.ndim == 3:  # LA: grey plus alpha
        arr = arr[:, :, 0]
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint8:
        return arr
    if im.mode == "F":
        return _float_to_u8(arr)
    values = np.clip(arr.astype(np.int64), 0, None)  # negative (signed) samples show as black
    if bits is None:
        bits = 16 if values.max(initial=0) <= 0xFFFF else 32
    top = (1 << bits) - 1
    return ((np.minimum(values, top) * 255 + top // 2) // top).astype(np.uint8)


def _float_to_u8(arr: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] or [0, 255] keep their level; any other range is stretched to fit."""
    values = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 255:
        values = (values - lo) * (255.0 / max(hi - lo, 1e-12))
    elif hi <= 1:
        values = values * 255.0
    return np.rint(values).astype(np.uint8)


def _tiff_bits(im: Image.Image) -> int | None:
    """Real magnitude bits of a TIFF's samples (a 12-bit scan opens as 16-bit samples <= 4095)."""
    tags = getattr(im, "tag_v2", {})
    bits = tags.get(258)  # BitsPerSample, e.g. (12,)
    if bits is None:
        return None
    depth = int(bits) if isinstance(bits, int) else int(max(bits))
    return depth - 1 if tags.get(339) in (2, (2,)) else depth  # SampleFormat 2: signed


@functools.cache
def _lab_to_srgb() -> ImageCms.ImageCmsTransform:
    lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
    return ImageCms.buildTransform(lab, srgb, "LAB", "RGB")


def _open_file(name: str) -> IO[bytes]:
    """Open a regular, non-empty file for reading, or say plainly why not."""
    try:
        info = os.stat(name)
        if not stat.S_ISREG(info.st_mode):
            problem = "is a directory, not an image file" if stat.S_ISDIR(info.st_mode) else "is not a file"
            raise _error(name, problem, "pass an image file, or check a whole folder with `captureguard scan DIR`")
        _check_not_empty(name, info.st_size)
        return open(name, "rb")
    except OSError as exc:
        raise _open_failure(name, exc) from exc


def _check_not_empty(name: str, size: int) -> None:
    if size == 0:
        raise _error(name, "file is empty (0 bytes)", "the copy or upload may not have finished")


def _unsupported(fp: IO[bytes], name: str) -> BadInputError:
    fp.seek(0)
    head = fp.read(64)
    kind = _sniff(head)
    hint = f"convert it to JPEG or PNG (supported: {', '.join(_FORMATS)})"
    if kind == "HEIC" and not _HEIF:
        return _error(name, "HEIC/HEIF image but pillow-heif is not installed", "pip install pillow-heif")
    if kind is not None:
        return _error(name, f"{kind} is not a supported image format", hint)
    problem = "not a recognised image (unknown format or damaged header)"  # no bytes: they may be pixels
    return _error(name, problem, hint)


def _sniff(head: bytes) -> str | None:
    """Name a common format Pillow is not asked to read, from the file's first bytes."""
    text = head.lstrip().lower()
    if text.startswith(b"%pdf"):
        return "PDF"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "SVG"
    if head[4:8] == b"ftyp":  # ISO media: the brand says HEIC photo, AVIF or a video
        return {b"avif": "AVIF", b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIC"}.get(head[8:12], "Video")
    return None


def _open_failure(name: str, exc: OSError) -> BadInputError:
    if isinstance(exc, FileNotFoundError):
        return _error(name, "file not found", "check the path and the working directory")
    if isinstance(exc, PermissionError):
        return _error(name, "permission denied", "make the file readable by this user")
    return _error(name, f"cannot open the file ({exc.strerror or exc})", "check the path and the disk")


def _error(name: str, problem: str, hint: str, kind: type[BadInputError] = BadInputError) -> BadInputError:
    """``cannot load image 'NAME': PROBLEM; HINT`` on one line."""
    return kind(f"cannot load image {name!r}: {' '.join(problem.split())}; {hint}")

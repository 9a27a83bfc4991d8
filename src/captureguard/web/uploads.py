"""Uploads: content types, bodies read under a byte limit, the check queue, decoding."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Collection, Iterator
from typing import Any

import anyio
from starlette.requests import Request

from captureguard._memory import release_free_memory
from captureguard.core.frame import Frame
from captureguard.errors import BadInputError, ImageTooLargeError
from captureguard.sources.image import HEIF_SUPPORTED, decode_image, header_megapixels
from captureguard.web.security import ApiError
from captureguard.web.state import AppState

#: What the shutter sends (canvas.toBlob can make these three).
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
#: What ``/v1/check`` takes: every still format the decoder reads (HEIC/HEIF only with
#: ``pillow-heif`` installed: without it they are 415, not a 400 after reading the upload).
CHECK_TYPES = (
    PHOTO_TYPES | {"image/bmp", "image/gif", "image/tiff"} | ({"image/heic", "image/heif"} if HEIF_SUPPORTED else set())
)
MAX_JSON_BYTES = 64 * 1024


def require_type(request: Request, allowed: Collection[str]) -> str:
    """The request's media type, if it is one of ``allowed``.

    Raises:
        ApiError: 415 for any other (or no) ``Content-Type``.
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in allowed:
        detail = f"Content-Type {media or 'none'} is not accepted; send {', '.join(sorted(allowed))}"
        raise ApiError(415, "unsupported_type", detail)
    return media


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, stopping as soon as it passes ``limit`` bytes (Content-Length is not trusted).

    Raises:
        ApiError: 413 when the declared or actual size is over ``limit``.
    """
    too_large = ApiError(413, "too_large", f"the upload is larger than {limit / 2**20:g} MB")
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise too_large
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request) -> dict[str, Any]:
    """A JSON object body (at most 64 KB).

    Raises:
        ApiError: 415 not JSON, 413 too large, 422 not a JSON object.
    """
    require_type(request, {"application/json"})
    raw = await read_body(request, MAX_JSON_BYTES)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ApiError(422, "invalid", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ApiError(422, "invalid", f"the body must be a JSON object, got {type(value).__name__}")
    return value


@contextlib.contextmanager
def check_slot(state: AppState) -> Iterator[None]:
    """Hold one of the ``max_pending_checks`` places; none free means 503 (nothing is kept).

    Raises:
        ApiError: 503 with ``Retry-After`` when the queue is full.
    """
    if state.pending_checks >= state.config.max_pending_checks:
        raise ApiError(503, "busy", "too many checks are running; try again in a moment", headers={"Retry-After": "1"})
    state.pending_checks += 1
    try:
        yield
    finally:
        state.pending_checks -= 1


#: Uploads at least this large hand their freed memory back to the OS when done.
TRIM_MEGAPIXELS = 16.0


@contextlib.asynccontextmanager
async def pixel_slot(state: AppState, data: bytes) -> AsyncIterator[None]:
    """Hold the upload's header megapixels of the server's pixel budget while it is decoded and
    checked (read from the header: no pixel is decoded to weigh it). After a large upload the
    freed memory is returned to the OS, so the server's RSS comes back down (bench/memory.py).

    Raises:
        ApiError: 503 with ``Retry-After`` when they do not fit in the budget now.
    """
    megapixels = min(header_megapixels(data), state.config.max_upload_megapixels)
    with state.pixels.hold(megapixels):
        yield
    if megapixels >= TRIM_MEGAPIXELS:
        await anyio.to_thread.run_sync(release_free_memory)


def decode_upload(data: bytes, *, name: str, max_megapixels: float, reduced: bool = False) -> Frame:
    """Decode an upload exactly as a viewer shows it (blocking: run in a thread).

    Args:
        data: the encoded upload.
        name: how messages name it.
        max_megapixels: the pixel cap (413 beyond).
        reduced: check-only decode (``/v1/check``), see :func:`~captureguard.sources.image.load_image`.
            A shutter photo is decoded at full size: what is saved must be what was checked.

    Raises:
        ApiError: 413 for too many pixels, 400 for anything undecodable (the decoder's one line).
    """
    try:
        return decode_image(data, name=name, max_megapixels=max_megapixels, reduced=reduced)
    except ImageTooLargeError as exc:
        raise ApiError(413, "too_large", str(exc)) from exc
    except BadInputError as exc:
        raise ApiError(400, "bad_image", str(exc)) from exc

"""The integrator API: ``POST /v1/check`` and ``GET /v1/health``."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request

from captureguard.core.frame import Frame
from captureguard.sources.image import header_size
from captureguard.web.events import Event
from captureguard.web.routes.api import image_body
from captureguard.web.state import AppState, app_state
from captureguard.web.uploads import CHECK_TYPES, check_slot, decode_upload, pixel_slot, read_body, require_type

State = Annotated[AppState, Depends(app_state)]
router = APIRouter()


@router.post("/v1/check", openapi_extra=image_body(CHECK_TYPES))
async def check(request: Request, state: State) -> dict[str, object]:
    """Check one image (raw bytes, ``Content-Type: image/*``) with the photo checker.

    The verdict is ``allow``, ``warn`` or ``block``; a failed or slow check is a ``block`` with
    reason ``error``/``timeout`` (fail closed). Nothing is stored but an ``api`` event. A large
    image is checked at a reduced size (longest side >= 2048 px, all the detectors look at);
    ``image`` reports the original size. 503 ``busy`` with ``Retry-After`` when the server's
    pixel budget is in use.
    """
    require_type(request, CHECK_TYPES)
    with check_slot(state):
        data = await read_body(request, state.config.max_upload_bytes)
        limit = state.config.max_upload_megapixels
        # Nothing is kept here, so the image is decoded only as large as the detectors look
        # (reduced); the pixel budget bounds how many megapixels are in memory at once.
        async with pixel_slot(state, data):
            decode = partial(decode_upload, data, name="upload", max_megapixels=limit, reduced=True)
            frame = await anyio.to_thread.run_sync(decode)
            verdict = await anyio.to_thread.run_sync(state.photo().check, frame)
    state.log_event(Event.from_verdict(verdict, source="api"))
    return {**verdict.to_dict(), "image": _size(data, frame)}


def _size(data: bytes, frame: Frame) -> dict[str, int]:
    """The upload's own size (upright), not the reduced size it was checked at."""
    width, height = header_size(data) or (frame.width, frame.height)
    return {"width": width, "height": height}


@router.get("/v1/health")
async def health(state: State) -> dict[str, object]:
    """Liveness, the models loaded, the current profile, uptime and open viewfinders."""
    return {
        "status": "ok",
        "models": {
            "photo": [d.name for d in state.photo().detectors],
            # since v2.9 the photo head also reads the live head, on the live set run beside it
            "photo_also": [d.name for d in state.photo().either],
            "live": [d.name for d in state.live().detectors],
            # the live cascade's cheap first stage (the full live set runs when it is unsure)
            "live_first": [d.name for d in first.detectors] if (first := state.live().first) else [],
        },
        "profile": state.settings.profile,
        "uptime_s": round(state.uptime_s(), 1),
        "viewers": state.viewers,
    }

"""The page API: session, shutter, gallery and event log (settings and PIN: ``routes.settings``)."""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse

from captureguard.core.verdict import Decision
from captureguard.guard.photo import PhotoGuard, PhotoResult
from captureguard.web.events import Event
from captureguard.web.gallery import GalleryNotFoundError
from captureguard.web.security import CSRF_HEADER, SESSION_COOKIE, ApiError
from captureguard.web.state import AppState, app_state
from captureguard.web.uploads import PHOTO_TYPES, check_slot, decode_upload, pixel_slot, read_body, require_type

State = Annotated[AppState, Depends(app_state)]
DecisionName = Literal["allow", "warn", "block"]
SourceName = Literal["viewfinder", "photo", "recording", "api"]
_MEDIA = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".mp4": "video/mp4"}


def require_csrf(request: Request) -> None:
    """Dependency of every state-changing route: the ``cg_session`` cookie and its token.

    Raises:
        ApiError: 403 ``csrf`` when either is missing or they do not match.
    """
    state = app_state(request)
    if not state.csrf.verify(request.cookies.get(SESSION_COOKIE), request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "csrf", "missing or wrong X-CSRF-Token for this session; reload the page")


Csrf = Depends(require_csrf)


def image_body(types: frozenset[str]) -> dict[str, object]:
    """OpenAPI description of a raw image request body."""
    schema = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "content": dict.fromkeys(sorted(types), schema)}}


router = APIRouter()


@router.get("/api/session")
async def session(request: Request, response: Response, state: State) -> dict[str, object]:
    """Set the ``cg_session`` cookie; the CSRF token, settings, texts and limits for the page."""
    sid = request.cookies.get(SESSION_COOKIE)
    if sid is None or not state.csrf.valid_session(sid):
        sid = state.csrf.new_session()
    secure = request.url.scheme == "https"  # over HTTPS the cookie never travels in clear text
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", path="/", secure=secure)
    lang = state.language(request.headers.get("accept-language"))
    locked = state.check_pin_file()  # first: a broken PIN file changes the settings shown below
    return {
        "csrf_token": state.csrf.token_for(sid),
        "settings": state.settings.to_dict(),
        "profiles": sorted(state.profiles),
        "has_pin": state.has_pin(),
        "settings_locked": locked,
        "messages": messages_view(state, lang),
        "limits": state.config.limits(),
    }


def messages_view(state: AppState, lang: str) -> dict[str, object]:
    """Every notice the page shows, in ``lang``, with the admin's help text."""
    kinds = ("blocked", "viewfinder", "warn", "error")
    return {
        "lang": lang,
        "languages": {code: m.name for code, m in state.messages.items()},
        "warn_confirm": state.messages[lang].warn_confirm,
        **{kind: state.notice(kind, lang) for kind in kinds},
    }


@router.post("/api/photo", dependencies=[Csrf], openapi_extra=image_body(PHOTO_TYPES))
async def photo(request: Request, state: State, confirm: Annotated[int, Query(ge=0, le=1)] = 0) -> dict[str, object]:
    """Check the shutter's full-resolution photo; save it to the gallery only if allowed.

    A warned photo is saved only with ``confirm=1``. A blocked photo never touches disk, and
    its event names no file.
    """
    require_type(request, PHOTO_TYPES)
    with check_slot(state):
        data = await read_body(request, state.config.max_upload_bytes)
        # Decoded at full size (never reduced): the photo that is saved is the frame that was checked.
        async with pixel_slot(state, data):
            decode = partial(decode_upload, data, name="photo", max_megapixels=state.config.max_upload_megapixels)
            frame = await anyio.to_thread.run_sync(decode)
            guard = PhotoGuard(state.photo(), state.gallery.photo_store())
            result = await anyio.to_thread.run_sync(partial(guard.check, frame, confirm_warning=bool(confirm)))
            name = await _keep(state, guard, result)
    verdict = result.verdict
    if name is not None:
        detail = name
    elif verdict.decision is Decision.WARN:
        detail = "not saved: warning not confirmed"
    else:
        detail = "not saved"
    state.log_event(Event.from_verdict(verdict, source="photo", detail=detail))
    lang = state.language(request.headers.get("accept-language"))
    return {
        "saved": name is not None,
        "name": name,
        "decision": verdict.decision.value,
        "verdict": verdict.to_dict(),
        "image": {"width": frame.width, "height": frame.height},
        "message": None if name is not None else state.notice(_notice_kind(result), lang),
    }


async def _keep(state: AppState, guard: PhotoGuard, result: PhotoResult) -> str | None:
    """Write an allowed photo to the gallery; its name, or None when it may not be kept."""
    if result.photo is None or guard.store is None:
        return None
    name = state.gallery.new_name("photos")
    await anyio.to_thread.run_sync(guard.store.write, result.photo, name)
    return name


def _notice_kind(result: PhotoResult) -> str:
    if result.verdict.decision is Decision.WARN:
        return "warn"
    return "error" if result.verdict.failed else "blocked"


@router.get("/api/gallery")
async def gallery(state: State) -> dict[str, object]:
    """Photos and videos, newest first."""
    items = await anyio.to_thread.run_sync(state.gallery.items)
    return {"items": [item.to_dict() for item in items]}


@router.get("/api/gallery/{kind}/{name}", response_class=FileResponse)
async def gallery_file(
    kind: str, name: str, state: State, download: Annotated[int, Query(ge=0, le=1)] = 0
) -> FileResponse:
    """One gallery file; 404 for anything that is not a listed file."""
    path = _resolve(state, kind, name)
    media = _MEDIA.get(path.suffix.lower(), "application/octet-stream")
    disposition = "attachment" if download else "inline"
    return FileResponse(path, media_type=media, filename=path.name, content_disposition_type=disposition)


@router.delete("/api/gallery/{kind}/{name}", dependencies=[Csrf])
async def gallery_delete(kind: str, name: str, state: State) -> dict[str, object]:
    """Delete one gallery file."""
    try:
        await anyio.to_thread.run_sync(state.gallery.delete, kind, name)
    except GalleryNotFoundError as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    return {"deleted": name}


def _resolve(state: AppState, kind: str, name: str) -> Path:
    try:
        return state.gallery.resolve(kind, name)
    except GalleryNotFoundError as exc:
        raise ApiError(404, "not_found", str(exc)) from exc


@router.get("/api/events")
async def events(
    state: State,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    decision: DecisionName | None = None,
    source: SourceName | None = None,
) -> dict[str, object]:
    """Logged decisions, newest first, with the total count for paging."""
    rows = state.events.list(limit=limit, offset=offset, decision=decision, source=source)
    return {"total": state.events.count(decision=decision, source=source), "events": [e.to_dict() for e in rows]}


@router.get("/api/events.csv", response_class=Response)
async def events_csv(state: State, decision: DecisionName | None = None, source: SourceName | None = None) -> Response:
    """The event log as a CSV download (no pixels, no file names of blocked photos)."""
    out = io.StringIO()
    state.events.write_csv(out, decision=decision, source=source)
    headers = {"Content-Disposition": 'attachment; filename="captureguard-events.csv"'}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)

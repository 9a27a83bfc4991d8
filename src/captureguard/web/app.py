"""The FastAPI app of ``captureguard serve``: pages, page API, viewfinder socket, integrator API.

:func:`create_app` wires the routers (``routes.api``, ``routes.settings``, ``routes.v1``,
``viewfinder.socket``) behind :class:`~captureguard.web.security.GuardMiddleware`. The models are loaded once
in the lifespan (or injected with :class:`Services`); shutdown finalises open recordings and
stops the checkers. FastAPI's ``/docs`` and ``/redoc`` are off: they load assets from a CDN,
and nothing here may reach the network. ``/openapi.json`` stays.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from captureguard import __version__, _logsafe
from captureguard.errors import CaptureGuardError
from captureguard.web.config import ServerConfig, Services
from captureguard.web.routes import api, settings, v1
from captureguard.web.security import ApiError, GuardMiddleware, allowed_hosts
from captureguard.web.state import build_state
from captureguard.web.viewfinder import socket

__all__ = ["STATIC_DIR", "ServerConfig", "Services", "create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGES = {"/": "index.html", "/gallery": "gallery.html", "/events": "events.html", "/settings": "settings.html"}
_ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def create_app(config: ServerConfig, *, services: Services | None = None, static_dir: Path | None = None) -> FastAPI:
    """Build the app. Models load at start-up unless ``services`` brings checkers.

    Args:
        config: the server's configuration.
        services: checkers to use instead of loading the shipped models (tests).
        static_dir: the pages, styles and scripts (default: the package's ``web/static``).
    """

    _logsafe.install()  # Pillow's EXIF dumps and websocket frame dumps never reach a log

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await anyio.to_thread.run_sync(build_state, config, services)
        app.state.captureguard = state
        try:
            yield
        finally:
            await state.shutdown()

    app = FastAPI(
        title="captureguard",
        version=__version__,
        description="On-device guard that keeps nudity out of what a camera shows, saves and records.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(GuardMiddleware, hosts=allowed_hosts(config.host, config.allowed_hosts))
    _add_error_handlers(app)
    for router in (api.router, settings.router, v1.router, socket.router):
        app.include_router(router)
    static = static_dir or STATIC_DIR
    for path, filename in PAGES.items():
        app.add_api_route(path, partial(_page, static / filename), methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=static, check_dir=False), name="static")
    return app


async def _page(file: Path) -> FileResponse:
    if not await anyio.Path(file).is_file():
        raise ApiError(404, "not_found", f"page {file.name} is not installed")
    return FileResponse(file, media_type="text/html; charset=utf-8")


def _add_error_handlers(app: FastAPI) -> None:
    """Every error is JSON: ``{"error": code, "detail": "one line for people"}``."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)  # registered for ApiError only
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = _ERROR_CODES.get(exc.status_code, "error")
        return JSONResponse({"error": code, "detail": str(exc.detail)}, exc.status_code, headers=exc.headers)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()]
        return JSONResponse({"error": "invalid", "detail": "; ".join(problems), "problems": problems}, 422)

    async def failed(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse({"error": "server", "detail": str(exc)}, 500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(CaptureGuardError, failed)

"""Request guards: Host and Origin checks, CSRF tokens, security headers, JSON errors.

The service listens on the loopback interface, but a web page from anywhere can still make the
browser talk to it. So: a request whose ``Host`` is not this service is refused (DNS
rebinding); a state-changing request or a WebSocket whose ``Origin`` is another site is
refused; state-changing routes also need a CSRF token bound to the ``cg_session`` cookie
(SameSite=Strict); and every response carries a strict Content-Security-Policy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "cg_session"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_HOST = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::([0-9]{1,5}))?$")
_SESSION = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
#: Paths whose responses must never be cached (JSON, uploads' verdicts, gallery files).
_NO_STORE = ("/api/", "/v1/", "/openapi.json")


class ApiError(Exception):
    """An error answered as ``{"error": code, "detail": ..., **extra}`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, object]:
        """The JSON body."""
        return {"error": self.code, "detail": self.detail, **self.extra}


def host_name(host_header: str | None) -> str | None:
    """The lower-case host of a ``Host`` header (``[::1]`` keeps its brackets); None if malformed."""
    match = _HOST.match((host_header or "").strip().lower())
    if match is None or (match.group(2) is not None and not 0 < int(match.group(2)) < 65536):
        return None
    return match.group(1)


def allowed_hosts(configured: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """Loopback names, the configured host and ``extra``, as :func:`host_name` spells them."""
    names = set(LOOPBACK_HOSTS)
    for raw in (configured, *extra):
        name = raw.strip().lower()
        names.add(f"[{name}]" if ":" in name and not name.startswith("[") else name)
    return frozenset(names)


def same_origin(origin: str, host_header: str) -> bool:
    """True if ``Origin`` names this service: http(s) on exactly the host (and port) requested."""
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.strip().lower()


class CsrfTokens:
    """Session ids for the ``cg_session`` cookie and the CSRF token bound to each.

    The token is ``HMAC-SHA256(secret, session id)``, so nothing per session is stored; the
    secret is made at start-up, so a restart asks pages to fetch ``/api/session`` again.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    @staticmethod
    def new_session() -> str:
        """A fresh random session id."""
        return secrets.token_urlsafe(32)

    @staticmethod
    def valid_session(session: str | None) -> bool:
        """True for a session id this class could have made."""
        return session is not None and _SESSION.match(session) is not None

    def token_for(self, session: str) -> str:
        """The CSRF token of ``session``."""
        return hmac.new(self._secret, session.encode("ascii"), hashlib.sha256).hexdigest()

    def verify(self, session: str | None, token: str | None) -> bool:
        """True if ``token`` belongs to ``session`` (constant-time compare)."""
        if session is None or token is None or not self.valid_session(session):
            return False
        return hmac.compare_digest(self.token_for(session).encode(), token.encode("utf-8", "replace"))


def content_security_policy(host_header: str) -> str:
    """The CSP: only this service's own scripts, styles, images and sockets; no framing."""
    return (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
        f"connect-src 'self' ws://{host_header} wss://{host_header}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'; object-src 'none'"
    )


def security_headers(path: str, host_header: str) -> list[tuple[bytes, bytes]]:
    """Headers added to every HTTP response (``host_header`` is already validated)."""
    cache = "no-store" if path.startswith(_NO_STORE) else "no-cache"
    pairs = {
        "content-security-policy": content_security_policy(host_header),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
        "permissions-policy": "camera=(self), microphone=(), geolocation=()",
        "cache-control": cache,
    }
    return [(k.encode(), v.encode("latin-1")) for k, v in pairs.items()]


class GuardMiddleware:
    """Pure ASGI middleware: refuses foreign Host/Origin, adds security headers (HTTP and WS)."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if host_name(host) not in self.hosts:
            await _refuse(scope, send, 400, "host", f"this service does not answer to host {host[:80]!r}")
            return
        origin = headers.get("origin")
        unsafe = scope["type"] == "websocket" or scope.get("method", "GET") in UNSAFE_METHODS
        if unsafe and origin is not None and not same_origin(origin, host):
            await _refuse(scope, send, 403, "origin", "requests from other sites are refused")
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope["path"], host)
        names = {k for k, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(scope: Scope, send: Send, status: int, code: str, detail: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return
    body = json.dumps({"error": code, "detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

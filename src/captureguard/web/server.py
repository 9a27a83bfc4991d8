"""Run the app under uvicorn, say where it listens, and shut down gracefully on a signal."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn

from captureguard.web.app import create_app
from captureguard.web.config import ServerConfig, Services

log = logging.getLogger(__name__)


def url_of(host: str, port: int, scheme: str = "http") -> str:
    """``SCHEME://HOST:PORT/`` with IPv6 addresses in brackets."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{scheme}://{shown}:{port}/"


class _Server(uvicorn.Server):
    """uvicorn's server, calling ``on_listening(url)`` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[str], None], scheme: str) -> None:
        super().__init__(config)
        self._on_listening = on_listening
        self._scheme = scheme

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.servers and self.servers[0].sockets:
            port = int(self.servers[0].sockets[0].getsockname()[1])  # the real one for --port 0
            self._on_listening(url_of(self.config.host, port, self._scheme))


def serve(
    config: ServerConfig,
    *,
    services: Services | None = None,
    on_listening: Callable[[str], None] = lambda url: None,
    log_level: str = "warning",
    access_log: bool = False,
) -> bool:
    """Serve until SIGINT/SIGTERM, then shut down gracefully: open viewfinder sockets are
    closed, their recordings finalised, the checkers stopped. Returns whether it started.
    """
    uv_config = uvicorn.Config(
        create_app(config, services=services),
        host=config.host,
        port=config.port,
        ws_max_size=config.max_ws_frame_bytes + 1024,  # over the limit, the app closes with 1009 itself
        timeout_graceful_shutdown=10,
        log_level=log_level,
        access_log=access_log,
        server_header=False,
        ssl_certfile=None if config.tls_cert is None else str(config.tls_cert),
        ssl_keyfile=None if config.tls_key is None else str(config.tls_key),
    )
    server = _Server(uv_config, on_listening, config.scheme)
    with _signals_end_quietly():
        server.run()
    return bool(server.started)


@contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """uvicorn re-raises the signal that stopped it once its graceful shutdown is done; catch it
    here, so the run ends normally (exit 0) instead of dying of SIGTERM or KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(sig: int, frame: FrameType | None) -> None:
        log.info("stopped by %s", signal.Signals(sig).name)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

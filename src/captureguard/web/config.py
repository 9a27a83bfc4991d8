"""What ``captureguard serve`` is configured with, and what tests may inject."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from captureguard.core.ledger import RECORDING_HOLD_S
from captureguard.guard.check import Checker


@dataclass(frozen=True)
class ServerConfig:
    """Settings of one server process (not the admin's guard settings: see ``web/settings.py``).

    Attributes:
        data_dir: where settings, the PIN, the event log and the gallery live (created).
        host: the address served; also accepted in ``Host`` headers besides the loopback names.
        port: the TCP port (0: any free port; ``captureguard serve`` prints the real one).
        max_viewers: viewfinder WebSockets at once; one more is closed with 1013 "busy".
        max_upload_bytes: largest photo or ``/v1/check`` upload (413 beyond).
        max_upload_megapixels: largest decoded upload, read from the image header (413 beyond).
        max_ws_frame_bytes: largest viewfinder frame message (the socket is closed with 1009).
        max_frame_side: longest side of a viewfinder frame in pixels (error, then close 1003).
        messages_path: a messages TOML replacing the shipped ``data/messages.toml``.
        profiles_path: a profiles TOML replacing the shipped ``data/profiles.toml``.
        default_profile: the profile used until the admin saves settings.
        photo_deadline_s: a photo or ``/v1/check`` check slower than this blocks (timeout).
        live_deadline_s: a viewfinder check slower than this blocks its frame (timeout).
        max_pending_checks: photo/API checks running or waiting at once; more get 503.
        threads: ONNX Runtime threads per model (when the server loads the models).
        allowed_hosts: more host names accepted in ``Host`` headers (for a LAN name or address).
        tls_cert: PEM certificate chain; with ``tls_key``, the service speaks HTTPS (browsers
            allow the camera only on ``https://`` or on ``localhost``, so a phone on the LAN
            needs it).
        tls_key: PEM private key of ``tls_cert``.
        detectors_path: a detectors TOML replacing the shipped ``data/detectors.toml`` (when
            the server loads the models; it needs ``[photo]`` and ``[live]`` tables).
        viewer_idle_timeout_s: a viewfinder socket that sends nothing (no hello, no frame) for
            this long is closed with 1001, so idle tabs cannot hold the viewer slots.
        decode_budget_megapixels: pixels of photo/``/v1/check`` uploads decoded or checked at
            once (a semaphore weighted by the header's megapixels); an upload that does not fit
            gets 503 with ``Retry-After``, so parallel large uploads cannot exhaust memory.
        setup_code: the one-time code needed to set the first admin PIN (``None``: a random
            one is made at start-up; ``captureguard serve`` prints it on the console).
        record_hold_s: viewfinder recordings are held back this long (``StreamSettings.record_hold_s``):
            the frames shown just before the stream shuts are left out of the file; the viewfinder
            itself never waits. A recording covers the frames captured between start and stop, so
            a stop waits up to this long (plus 1 s) for the last of them. 0: none.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    max_viewers: int = 2
    max_upload_bytes: int = 25 * 2**20
    max_upload_megapixels: float = 100.0
    max_ws_frame_bytes: int = 4 * 2**20
    max_frame_side: int = 1920
    messages_path: Path | None = None
    profiles_path: Path | None = None
    default_profile: str = "child"
    photo_deadline_s: float = 5.0
    live_deadline_s: float = 0.5
    max_pending_checks: int = 4
    threads: int = 2
    allowed_hosts: tuple[str, ...] = ()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    detectors_path: Path | None = None
    viewer_idle_timeout_s: float = 30.0
    decode_budget_megapixels: float = 200.0
    setup_code: str | None = None
    record_hold_s: float = RECORDING_HOLD_S

    @property
    def scheme(self) -> str:
        """``https`` with a certificate, else ``http``."""
        return "https" if self.tls_cert is not None else "http"

    def limits(self) -> dict[str, float | int]:
        """The limits the page needs to know (``/api/session``)."""
        return {
            "max_upload_bytes": self.max_upload_bytes,
            "max_upload_megapixels": self.max_upload_megapixels,
            "max_ws_frame_bytes": self.max_ws_frame_bytes,
            "max_frame_side": self.max_frame_side,
            "max_viewers": self.max_viewers,
            "viewer_idle_timeout_s": self.viewer_idle_timeout_s,
            "max_unanswered_frames": MAX_UNANSWERED_FRAMES,
        }


#: Frames a viewfinder client may send before the first of them is answered (flow control).
MAX_UNANSWERED_FRAMES = 3


@dataclass
class Services:
    """Checkers made outside the app (tests pass ones built on fake detectors).

    The server replaces their profile with the admin's settings (``dataclasses.replace``) and
    sets the photo checker's deadline from :class:`ServerConfig`; the detectors are shared.

    Attributes:
        photo_checker: checks photos and ``/v1/check`` uploads (thorough).
        live_checker: checks viewfinder frames (fast).
    """

    photo_checker: Checker
    live_checker: Checker

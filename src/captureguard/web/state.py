"""The app's shared state: checkers with the admin's settings applied, stores, logs, sessions."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, cast

from starlette.requests import HTTPConnection

from captureguard.core.policy import Profile, load_profiles
from captureguard.errors import CaptureGuardError, ConfigError
from captureguard.guard.check import Checker, Mode
from captureguard.web.budget import PixelBudget
from captureguard.web.config import ServerConfig, Services
from captureguard.web.events import Event, EventLog
from captureguard.web.gallery import Gallery
from captureguard.web.messages import Messages, choose_language, load_messages
from captureguard.web.pin import PinStore
from captureguard.web.security import CsrfTokens
from captureguard.web.settings import GuardSettings, SettingsStore, strictest_settings

log = logging.getLogger(__name__)


class Session(Protocol):
    """An open viewfinder session, as the app's shutdown sees it (one per connected viewfinder)."""

    async def stop(self, *, timeout_s: float) -> None:
        """End the session and finalise its recording."""
        ...


@dataclass
class AppState:
    """Everything the routes share. Mutated only on the event loop's thread.

    Attributes:
        photo_checker: the photo checker with the current settings' profile (replaced on change).
        live_checker: the viewfinder checker with the current settings' profile.
        sessions: open viewfinder sessions (finalised on shutdown).
        viewers: open viewfinder sockets, counted from accept (for the 1013 "busy" limit).
        pending_checks: photo/API checks running or waiting (for the 503 limit).
        pixels: the megapixels of uploads being decoded and checked (for the 503 pixel budget).
        setup_code: the one-time code that setting the first admin PIN needs (printed on the
            server's console at start, as Jupyter prints its token); spent once a PIN is set.
        settings_locked: why settings cannot be changed right now (a corrupt ``admin.json``), or
            None. While set, the strictest settings apply and nothing can loosen or change them.
    """

    config: ServerConfig
    profiles: Mapping[str, Profile]
    messages: Mapping[str, Messages]
    settings_store: SettingsStore
    pins: PinStore
    events: EventLog
    gallery: Gallery
    base_photo: Checker
    base_live: Checker
    settings: GuardSettings = field(default_factory=GuardSettings)
    photo_checker: Checker | None = None
    live_checker: Checker | None = None
    csrf: CsrfTokens = field(default_factory=CsrfTokens)
    started_s: float = field(default_factory=time.monotonic)
    sessions: set[Session] = field(default_factory=set)
    viewers: int = 0
    pending_checks: int = 0
    settings_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pixels: PixelBudget = field(default_factory=lambda: PixelBudget(200.0))
    setup_code: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    settings_locked: str | None = None

    def check_pin_file(self) -> str | None:
        """Why settings are locked (the admin PIN file is corrupt), or None.

        A corrupt PIN file cannot tell who the admin is, so nothing may be relaxed and the
        strictest settings apply (in memory; ``settings.json`` is left alone) until the file is
        restored or deleted. The camera keeps working; only the settings are locked.
        """
        try:
            _ = self.pins.has_pin
        except ConfigError as exc:
            if self.settings_locked is None:
                log.error("%s; the camera runs with the strictest settings", exc)
                self.apply(strictest_settings(self.profiles, current=self.settings))
            self.settings_locked = str(exc)
            return self.settings_locked
        if self.settings_locked is not None:
            log.warning("the admin PIN file is readable again; the saved settings apply")
            self.settings_locked = None
            self.apply(self.settings_store.load())
        return None

    def has_pin(self) -> bool:
        """True once an admin PIN is set; also True while the PIN file is corrupt (locked)."""
        return self.check_pin_file() is not None or self.pins.has_pin

    def apply(self, settings: GuardSettings) -> None:
        """Make ``settings`` current: new checks use its effective profile (old checkers closed)."""
        profile = settings.profile_for(self.profiles)
        old = (self.photo_checker, self.live_checker)
        self.photo_checker = replace(self.base_photo, profile=profile, deadline_s=self.config.photo_deadline_s)
        # The stream guard runs its checks through its own deadline runner (live_deadline_s).
        self.live_checker = replace(self.base_live, profile=profile, deadline_s=None)
        self.settings = settings
        for checker in old:
            if checker is not None:
                checker.close()  # queued checks still finish: close() only ends the worker after them

    def photo(self) -> Checker:
        """The current photo checker."""
        if self.photo_checker is None:
            raise CaptureGuardError("the photo checker is not ready")
        return self.photo_checker

    def live(self) -> Checker:
        """The current viewfinder checker."""
        if self.live_checker is None:
            raise CaptureGuardError("the viewfinder checker is not ready")
        return self.live_checker

    def language(self, accept_language: str | None) -> str:
        """The language to speak: the setting, or the browser's best match."""
        return choose_language(self.settings.language, accept_language, tuple(self.messages))

    def notice(self, kind: str, lang: str) -> dict[str, str]:
        """A localized notice (``blocked``, ``viewfinder``, ``warn``, ``error``) with the admin's help text."""
        return self.messages[lang].notice(kind, help_override=self.settings.help_text.get(lang))

    def log_event(self, event: Event) -> None:
        """Add an event to the log; a failing log is reported, never fatal to the request."""
        try:
            self.events.add(event)
        except (CaptureGuardError, sqlite3.Error, OSError) as exc:
            log.error("could not log a %s event: %s", event.source, exc)

    def uptime_s(self) -> float:
        """Seconds since start-up."""
        return time.monotonic() - self.started_s

    async def shutdown(self) -> None:
        """Finalise every open recording, stop the checkers, close the event log."""
        await asyncio.gather(*(s.stop(timeout_s=10.0) for s in list(self.sessions)), return_exceptions=True)
        for checker in (self.photo_checker, self.live_checker, self.base_photo, self.base_live):
            if checker is not None:
                checker.close()
        self.events.close()


def build_state(config: ServerConfig, services: Services | None) -> AppState:
    """Load profiles, messages, stores and (unless injected) the models. Blocking: run in a thread.

    Raises:
        ConfigError: an unknown default profile or invalid configuration files.
        ModelMissingError: a model package is not installed.
    """
    profiles = load_profiles(config.profiles_path)
    if config.default_profile not in profiles:
        raise ConfigError(f"unknown profile {config.default_profile!r}; choose one of {', '.join(profiles)}")
    messages = load_messages(config.messages_path)
    data = config.data_dir
    data.mkdir(parents=True, exist_ok=True)
    store = SettingsStore(
        data / "settings.json",
        profiles=profiles,
        languages=tuple(messages),
        default=GuardSettings(profile=config.default_profile),
    )
    settings = store.load()
    if services is None:
        services = load_services(config, profile=config.default_profile)
    gallery = Gallery(data / "gallery")
    for kind in Gallery.KINDS:
        gallery.directory(kind).mkdir(parents=True, exist_ok=True)
    state = AppState(
        config=config,
        profiles=profiles,
        messages=messages,
        settings_store=store,
        pins=PinStore(data / "admin.json"),
        events=EventLog(data / "events.sqlite"),
        gallery=gallery,
        base_photo=services.photo_checker,
        base_live=services.live_checker,
        pixels=PixelBudget(max(config.decode_budget_megapixels, config.max_upload_megapixels)),
    )
    if config.setup_code:
        state.setup_code = config.setup_code
    state.apply(settings)
    state.check_pin_file()
    return state


def load_services(config: ServerConfig, *, profile: str) -> Services:
    """Load the shipped photo and live checkers (the models) once."""
    t0 = time.perf_counter()

    def create(mode: Mode, reuse: Checker | None = None) -> Checker:
        return Checker.create(
            profile=profile,
            mode=mode,
            profiles_path=config.profiles_path,
            detectors_path=config.detectors_path,
            threads=config.threads,
            reuse=reuse,
        )

    live = create("live")
    photo = create("photo", reuse=live)  # the photo check also runs the live set (v2.9): the same objects
    log.info("models loaded in %.1f s", time.perf_counter() - t0)
    return Services(photo, live)


def app_state(conn: HTTPConnection) -> AppState:
    """The state of the app serving ``conn`` (a FastAPI dependency)."""
    return cast(AppState, conn.app.state.captureguard)

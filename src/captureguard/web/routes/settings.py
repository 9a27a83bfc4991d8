"""Settings and the admin PIN: tightening is free, anything looser needs the PIN."""

from __future__ import annotations

import dataclasses
import hmac
import math
import secrets
from functools import partial
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request

from captureguard.core.policy import Profile
from captureguard.errors import ConfigError
from captureguard.web.pin import NoPinError, PinError, PinLockedError, WrongPinError
from captureguard.web.routes.api import Csrf
from captureguard.web.security import ApiError
from captureguard.web.settings import GuardSettings, InvalidSettingsError, relaxations
from captureguard.web.state import AppState, app_state
from captureguard.web.uploads import read_json

State = Annotated[AppState, Depends(app_state)]
router = APIRouter()


def profile_view(profile: Profile) -> dict[str, object]:
    """JSON-ready form of a policy profile."""
    view = dataclasses.asdict(profile)
    view["class_thresholds"] = dict(profile.class_thresholds)
    return view


def settings_view(state: AppState) -> dict[str, object]:
    """What the settings page shows (``settings_locked``: why nothing can be changed, or null)."""
    locked = state.check_pin_file()
    pin = {"has_pin": True, "locked_for_s": 0.0, "tries_left": 0} if locked else state.pins.status()
    return {
        "settings": state.settings.to_dict(),
        "profiles": {name: profile_view(p) for name, p in state.profiles.items()},
        "effective_profile": profile_view(state.settings.profile_for(state.profiles)),
        "pin": {**pin, "needs_setup_code": not pin["has_pin"]},
        "settings_locked": locked,
    }


def _refuse_if_locked(state: AppState) -> None:
    """423 ``settings_locked`` while the admin PIN file is corrupt."""
    locked = state.check_pin_file()
    if locked is not None:
        raise ApiError(423, "settings_locked", f"settings are locked: {locked}")


@router.get("/api/settings")
async def get_settings(state: State) -> dict[str, object]:
    """The current settings, the profiles and the PIN's state."""
    return settings_view(state)


@router.post("/api/settings", dependencies=[Csrf])
async def post_settings(request: Request, state: State) -> dict[str, object]:
    """Save new settings: a pure tightening needs no PIN; anything looser needs the admin PIN.

    Answers 403 ``pin_required`` (with ``relaxations``), 401 ``wrong_pin`` (``tries_left``),
    423 ``locked`` (``retry_after_s``) or 422 ``invalid`` (``problems``).
    """
    body = await read_json(request)
    raw, pin = body.get("settings"), body.get("pin")
    if not isinstance(raw, dict):
        raise ApiError(422, "invalid", 'send {"settings": {...}, "pin": "..."} with settings as an object')
    try:
        new = GuardSettings.from_dict(raw, profiles=state.profiles, languages=tuple(state.messages))
    except InvalidSettingsError as exc:
        raise ApiError(422, "invalid", str(exc), extra={"problems": exc.problems}) from exc
    async with state.settings_lock:
        _refuse_if_locked(state)
        looser = relaxations(state.settings, new, profiles=state.profiles)
        if looser:
            await _verify_pin(state, pin, looser)
        await anyio.to_thread.run_sync(state.settings_store.save, new)
        state.apply(new)
    return settings_view(state)


async def _verify_pin(state: AppState, pin: object, looser: list[str]) -> None:
    """Raise the right ApiError unless ``pin`` is the admin PIN."""
    need = "these changes loosen the guard and need the admin PIN"
    if not isinstance(pin, str) or not pin:
        raise ApiError(403, "pin_required", need, extra={"relaxations": looser, "has_pin": state.pins.has_pin})
    try:
        await anyio.to_thread.run_sync(state.pins.verify, pin)
    except NoPinError as exc:
        raise ApiError(403, "pin_required", str(exc), extra={"relaxations": looser, "has_pin": False}) from exc
    except PinError as exc:
        raise _pin_error(exc) from exc


def _pin_error(exc: PinError) -> ApiError:
    if isinstance(exc, PinLockedError):
        wait = max(1, math.ceil(exc.retry_after_s))
        return ApiError(
            423, "locked", str(exc), headers={"Retry-After": str(wait)}, extra={"retry_after_s": exc.retry_after_s}
        )
    if isinstance(exc, WrongPinError):
        return ApiError(401, "wrong_pin", str(exc), extra={"tries_left": exc.tries_left})
    return ApiError(403, "pin_required", str(exc))


@router.post("/api/pin", dependencies=[Csrf])
async def post_pin(request: Request, state: State) -> dict[str, object]:
    """Set the first admin PIN (``{new, setup_code}``) or change it (``{current, new}``).

    The first PIN needs the one-time setup code that ``captureguard serve`` prints on its
    console (403 ``setup_code_required`` without it, or with a wrong one), so whoever opens the
    settings page first cannot make themselves the admin.
    """
    body = await read_json(request)
    new, current, code = body.get("new"), body.get("current"), body.get("setup_code")
    if not isinstance(new, str) or not (current is None or isinstance(current, str)):
        raise ApiError(422, "invalid", 'send {"new": "PIN"} or {"current": "PIN", "new": "PIN"} with text PINs')
    async with state.settings_lock:
        _refuse_if_locked(state)
        first = not state.pins.has_pin
        if first and not (isinstance(code, str) and hmac.compare_digest(code.strip(), state.setup_code)):
            raise ApiError(
                403,
                "setup_code_required",
                "the first admin PIN needs the setup code printed in the server's console when it started "
                "(or set it there with: captureguard serve --set-pin)",
            )
        if not first and not current:
            raise ApiError(403, "pin_required", "changing the admin PIN needs the current PIN")
        try:
            await anyio.to_thread.run_sync(partial(state.pins.set_pin, new, current=current))
        except PinError as exc:
            raise _pin_error(exc) from exc
        except ConfigError as exc:
            raise ApiError(422, "invalid", str(exc)) from exc
        if first:
            state.setup_code = secrets.token_urlsafe(12)  # spent: the code is good for one PIN only
    return {"pin": state.pins.status()}

"""The admin PIN: a salted scrypt hash, a failed-try counter and a growing lockout.

The PIN itself is never stored: ``DATA/admin.json`` holds ``scrypt(pin, salt, n=2**14, r=8, p=1)``,
the salt and the counters, so a restart does not reset a lockout. After ``max_tries`` wrong tries
in a row the PIN is locked for ``base_lockout_s * 2**k`` seconds (``k`` = lockouts so far, capped
at ``max_lockout_s``). A file that cannot be read fails closed: :class:`ConfigError`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from captureguard.errors import CaptureGuardError, ConfigError
from captureguard.web.settings import write_json_atomic

#: scrypt cost parameters written for new PINs.
SCRYPT_PARAMS: dict[str, int] = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
MIN_PIN_CHARS = 4
MAX_PIN_CHARS = 64


class PinError(CaptureGuardError):
    """Base class of the admin-PIN errors."""


class NoPinError(PinError):
    """No admin PIN has been set yet (nothing can be relaxed until one is)."""


class WrongPinError(PinError):
    """The PIN does not match; ``tries_left`` wrong tries remain before a lockout."""

    def __init__(self, message: str, *, tries_left: int) -> None:
        super().__init__(message)
        self.tries_left = tries_left


class PinLockedError(PinError):
    """Too many wrong tries: try again after ``retry_after_s`` seconds."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class _State:
    hash: str = ""
    salt: str = ""
    n: int = SCRYPT_PARAMS["n"]
    r: int = SCRYPT_PARAMS["r"]
    p: int = SCRYPT_PARAMS["p"]
    dklen: int = SCRYPT_PARAMS["dklen"]
    failures: int = 0
    lockouts: int = 0
    locked_until: float = 0.0


def _hash(pin: str, salt: bytes, state: _State) -> bytes:
    data = unicodedata.normalize("NFC", pin).encode("utf-8")
    maxmem = 256 * state.n * state.r * state.p + 2**20
    return hashlib.scrypt(data, salt=salt, n=state.n, r=state.r, p=state.p, dklen=state.dklen, maxmem=maxmem)


def _check_new_pin(pin: object) -> str:
    if not isinstance(pin, str):
        raise ConfigError(f"the PIN must be text, got {type(pin).__name__}")
    if not MIN_PIN_CHARS <= len(pin) <= MAX_PIN_CHARS:
        raise ConfigError(f"the PIN must have {MIN_PIN_CHARS} to {MAX_PIN_CHARS} characters, got {len(pin)}")
    if not pin.strip():
        raise ConfigError("the PIN must not be only spaces")
    return pin


def _parse_state(raw: Any, origin: Path) -> _State:
    """Validate the file's content; anything odd is a ConfigError (fail closed)."""
    hint = f"admin PIN file {origin} is corrupt; settings stay locked. Restore it, or delete it to set a new PIN"
    if not isinstance(raw, dict) or set(raw) != set(asdict(_State())):
        raise ConfigError(f"{hint} (expected keys {sorted(asdict(_State()))})")
    ints = ("n", "r", "p", "dklen", "failures", "lockouts")
    if any(type(raw[k]) is not int or raw[k] < 0 for k in ints) or not all(
        isinstance(raw[k], str) for k in ("hash", "salt")
    ):
        raise ConfigError(f"{hint} (wrong value types)")
    locked_until = raw["locked_until"]
    if isinstance(locked_until, bool) or not isinstance(locked_until, int | float) or not math.isfinite(locked_until):
        raise ConfigError(f"{hint} (locked_until is not a number)")
    state = _State(**raw)
    try:
        salt, digest = bytes.fromhex(state.salt), bytes.fromhex(state.hash)
    except ValueError:
        raise ConfigError(f"{hint} (hash or salt is not hex)") from None
    sane = 2**10 <= state.n <= 2**16 and state.n & (state.n - 1) == 0 and 1 <= state.r <= 16 and 1 <= state.p <= 4
    if not sane or len(digest) not in (0, state.dklen) or not 16 <= state.dklen <= 64 or bool(salt) != bool(digest):
        raise ConfigError(f"{hint} (unexpected scrypt parameters)")
    return state


class PinStore:
    """The admin PIN, persisted as JSON (mode 0o600) in ``path``; thread-safe.

    Args:
        path: the JSON file (``DATA/admin.json``); missing means no PIN yet.
        clock: seconds now (a fake in tests).
        max_tries: wrong tries in a row before a lockout.
        base_lockout_s: first lockout; each further one doubles.
        max_lockout_s: longest lockout.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        max_tries: int = 5,
        base_lockout_s: float = 30.0,
        max_lockout_s: float = 86_400.0,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._max_tries = max_tries
        self._base_lockout_s = base_lockout_s
        self._max_lockout_s = max_lockout_s
        self._lock = threading.RLock()

    def _load(self) -> _State:
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return _State()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read admin PIN file {self.path}: {exc}; settings stay locked") from exc
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"admin PIN file {self.path} is not valid JSON ({exc}); settings stay locked") from exc
        return _parse_state(raw, self.path)

    def _save(self, state: _State) -> None:
        write_json_atomic(self.path, asdict(state), mode=0o600)

    @property
    def has_pin(self) -> bool:
        """True once a PIN is set.

        Raises:
            ConfigError: the PIN file is corrupt.
        """
        with self._lock:
            return bool(self._load().hash)

    def locked_for_s(self) -> float:
        """Seconds left of the current lockout; 0 when not locked."""
        with self._lock:
            return max(0.0, self._load().locked_until - self._clock())

    def tries_left(self) -> int:
        """Wrong tries left before the next lockout (0 while locked)."""
        with self._lock:
            state = self._load()
            if state.locked_until > self._clock():
                return 0
            return max(0, self._max_tries - state.failures)

    def verify(self, pin: str) -> None:
        """Check ``pin``; success resets the failure and lockout counters.

        Raises:
            NoPinError: no PIN is set yet.
            PinLockedError: locked now, or this wrong try started a lockout.
            WrongPinError: wrong PIN; ``tries_left`` says how many tries remain.
            ConfigError: the PIN file is corrupt or cannot be written.
        """
        with self._lock:
            state, now = self._load(), self._clock()
            if not state.hash:
                raise NoPinError("no admin PIN is set yet; create one on the settings page first")
            if state.locked_until > now:
                raise self._locked(state.locked_until - now)
            given = _hash(pin, bytes.fromhex(state.salt), state) if isinstance(pin, str) else b""
            if hmac.compare_digest(given, bytes.fromhex(state.hash)):
                if state.failures or state.lockouts or state.locked_until:
                    self._save(replace(state, failures=0, lockouts=0, locked_until=0.0))
                return
            self._fail(state, now)

    def _fail(self, state: _State, now: float) -> None:
        failures = state.failures + 1
        if failures < self._max_tries:
            self._save(replace(state, failures=failures))
            left = self._max_tries - failures
            raise WrongPinError(f"wrong PIN; {left} tries left before a lockout", tries_left=left)
        duration = min(self._base_lockout_s * 2.0 ** min(state.lockouts, 64), self._max_lockout_s)
        self._save(replace(state, failures=0, lockouts=state.lockouts + 1, locked_until=now + duration))
        raise self._locked(duration, wrong=True)

    @staticmethod
    def _locked(seconds: float, *, wrong: bool = False) -> PinLockedError:
        why = "wrong PIN; too many wrong tries" if wrong else "too many wrong tries"
        return PinLockedError(f"{why}: settings are locked for {math.ceil(seconds)} s", retry_after_s=seconds)

    def set_pin(self, new: str, *, current: str | None = None) -> None:
        """Set the first PIN (no ``current`` needed) or change it (``current`` verified first).

        Raises:
            ConfigError: ``new`` is not 4 to 64 characters or is only spaces.
            PinLockedError, WrongPinError: as :meth:`verify`, for ``current``.
        """
        new = _check_new_pin(new)
        with self._lock:
            if self._load().hash:
                self.verify(current if current is not None else "")
            salt = secrets.token_bytes(16)
            fresh = _State(salt=salt.hex())
            self._save(replace(fresh, hash=_hash(new, salt, fresh).hex()))

    def status(self) -> dict[str, object]:
        """``{"has_pin": bool, "locked_for_s": float, "tries_left": int}`` for the settings page."""
        with self._lock:
            return {"has_pin": self.has_pin, "locked_for_s": self.locked_for_s(), "tries_left": self.tries_left()}

"""The admin PIN store: hashing, counters, lockout growth, persistence, corrupt files."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from captureguard.errors import CaptureGuardError, ConfigError
from captureguard.web.pin import NoPinError, PinLockedError, PinStore, WrongPinError


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "admin.json"


def make(path: Path, clock: FakeClock, *, max_tries: int = 5, **kwargs: float) -> PinStore:
    return PinStore(path, clock=clock, max_tries=max_tries, **kwargs)


def fail(store: PinStore, times: int) -> None:
    for _ in range(times):
        with pytest.raises((WrongPinError, PinLockedError)):
            store.verify("0000")


def test_no_pin_yet(path: Path, clock: FakeClock) -> None:
    store = make(path, clock)
    assert store.status() == {"has_pin": False, "locked_for_s": 0.0, "tries_left": 5}
    with pytest.raises(NoPinError):
        store.verify("1234")
    assert not path.exists()


def test_errors_are_captureguard_errors() -> None:
    for cls in (NoPinError, WrongPinError, PinLockedError):
        assert issubclass(cls, CaptureGuardError)


def test_set_and_verify(path: Path, clock: FakeClock) -> None:
    store = make(path, clock)
    store.set_pin("1234")
    assert store.has_pin
    store.verify("1234")
    assert store.tries_left() == 5


def test_file_never_holds_pin_in_clear(path: Path, clock: FakeClock) -> None:
    make(path, clock).set_pin("secret-pin-4711")
    text = path.read_text()
    assert "4711" not in text and "secret" not in text
    data = json.loads(text)
    assert len(bytes.fromhex(data["salt"])) == 16
    assert len(bytes.fromhex(data["hash"])) == 32
    assert (data["n"], data["r"], data["p"], data["dklen"]) == (2**14, 8, 1, 32)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["admin.json"]  # no temp files left


def test_same_pin_gets_a_new_salt(path: Path, clock: FakeClock) -> None:
    store = make(path, clock)
    store.set_pin("1234")
    first = json.loads(path.read_text())
    store.set_pin("1234", current="1234")
    second = json.loads(path.read_text())
    assert first["salt"] != second["salt"] and first["hash"] != second["hash"]


def test_wrong_pin_counts_down_and_success_resets(path: Path, clock: FakeClock) -> None:
    store = make(path, clock)
    store.set_pin("1234")
    for left in (4, 3, 2):
        with pytest.raises(WrongPinError) as info:
            store.verify("9999")
        assert info.value.tries_left == left
        assert store.tries_left() == left
    store.verify("1234")
    assert store.tries_left() == 5


@pytest.mark.parametrize("bad", ["", "123", "12345", " 1234", "1234 ", "１２３４"], ids=str)
def test_near_misses_are_wrong(path: Path, clock: FakeClock, bad: str) -> None:
    store = make(path, clock)
    store.set_pin("1234")
    with pytest.raises(WrongPinError):
        store.verify(bad)


def test_lockout_after_max_tries_and_growth(path: Path, clock: FakeClock) -> None:
    store = make(path, clock, max_tries=3, base_lockout_s=30.0)
    store.set_pin("1234")
    fail(store, 2)
    with pytest.raises(PinLockedError) as info:
        store.verify("0000")
    assert info.value.retry_after_s == 30.0
    # Locked: even the right PIN is refused, and counts nothing.
    with pytest.raises(PinLockedError) as info:
        store.verify("1234")
    assert info.value.retry_after_s == 30.0
    assert store.status() == {"has_pin": True, "locked_for_s": 30.0, "tries_left": 0}
    clock.advance(10)
    assert store.locked_for_s() == 20.0
    clock.advance(20)
    assert store.locked_for_s() == 0.0
    assert store.tries_left() == 3  # failures reset after the lock
    fail(store, 3)
    assert store.locked_for_s() == 60.0  # doubled
    clock.advance(60)
    fail(store, 3)
    assert store.locked_for_s() == 120.0


def test_lockout_is_capped(path: Path, clock: FakeClock) -> None:
    store = make(path, clock, max_tries=1, base_lockout_s=30.0, max_lockout_s=100.0)
    store.set_pin("1234")
    durations = []
    for _ in range(5):
        fail(store, 1)
        durations.append(store.locked_for_s())
        clock.advance(durations[-1])
    assert durations == [30.0, 60.0, 100.0, 100.0, 100.0]


def test_success_resets_lockout_growth(path: Path, clock: FakeClock) -> None:
    store = make(path, clock, max_tries=1, base_lockout_s=30.0)
    store.set_pin("1234")
    fail(store, 1)
    clock.advance(30)
    store.verify("1234")
    fail(store, 1)
    assert store.locked_for_s() == 30.0


def test_counters_survive_restart(path: Path, clock: FakeClock) -> None:
    store = make(path, clock, max_tries=3)
    store.set_pin("1234")
    fail(store, 2)
    assert make(path, clock, max_tries=3).tries_left() == 1
    fail(make(path, clock, max_tries=3), 1)
    restarted = make(path, clock, max_tries=3)
    with pytest.raises(PinLockedError):
        restarted.verify("1234")
    assert restarted.locked_for_s() == 30.0


def test_change_pin_needs_current(path: Path, clock: FakeClock) -> None:
    store = make(path, clock)
    store.set_pin("1234")
    with pytest.raises(WrongPinError):
        store.set_pin("5678")
    with pytest.raises(WrongPinError):
        store.set_pin("5678", current="0000")
    assert store.tries_left() == 3
    store.set_pin("5678", current="1234")
    store.verify("5678")
    with pytest.raises(WrongPinError):
        store.verify("1234")


def test_change_pin_respects_lockout(path: Path, clock: FakeClock) -> None:
    store = make(path, clock, max_tries=2)
    store.set_pin("1234")
    fail(store, 2)
    with pytest.raises(PinLockedError):
        store.set_pin("5678", current="1234")
    clock.advance(30)
    store.set_pin("5678", current="1234")
    store.verify("5678")


@pytest.mark.parametrize(
    "new",
    ["", "123", "x" * 65, "    ", "\t\n  "],
    ids=["empty", "three", "sixty-five", "spaces", "whitespace"],
)
def test_new_pin_validated(path: Path, clock: FakeClock, new: str) -> None:
    store = make(path, clock)
    with pytest.raises(ConfigError):
        store.set_pin(new)
    assert not store.has_pin


def test_invalid_new_pin_does_not_burn_a_try(path: Path, clock: FakeClock) -> None:
    store = make(path, clock)
    store.set_pin("1234")
    with pytest.raises(ConfigError):
        store.set_pin("1", current="0000")
    assert store.tries_left() == 5


@pytest.mark.parametrize(
    "pin", ["1234", "x" * 64, "pässwört", "暗証番号です"], ids=["digits", "max", "umlaut", "kanji"]
)
def test_valid_pins(path: Path, clock: FakeClock, pin: str) -> None:
    store = make(path, clock)
    store.set_pin(pin)
    store.verify(pin)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        "{}",
        '{"hash": "zz"}',
        "\xff\xfe",
    ],
    ids=["text", "list", "empty-object", "partial", "binary"],
)
def test_corrupt_file_fails_closed(path: Path, clock: FakeClock, content: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="latin-1")
    store = make(path, clock)
    for call in (lambda: store.has_pin, store.status, lambda: store.verify("1234"), lambda: store.set_pin("5678")):
        with pytest.raises(ConfigError, match="admin PIN file"):
            call()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("failures", -1),
        ("failures", "0"),
        ("locked_until", "soon"),
        ("locked_until", True),
        ("n", 2**30),
        ("n", 3000),
        ("salt", "xyz"),
        ("hash", ""),
        ("dklen", 8),
    ],
    ids=lambda v: str(v)[:12],
)
def test_tampered_fields_fail_closed(path: Path, clock: FakeClock, key: str, value: object) -> None:
    make(path, clock).set_pin("1234")
    data = json.loads(path.read_text())
    data[key] = value
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError):
        make(path, clock).verify("1234")


def test_concurrent_wrong_tries_are_all_counted(path: Path, clock: FakeClock) -> None:
    store = make(path, clock, max_tries=50)
    store.set_pin("1234")
    errors: list[WrongPinError] = []

    def worker() -> None:
        try:
            store.verify("0000")
        except WrongPinError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(errors) == 8
    assert store.tries_left() == 42
    assert sorted(e.tries_left for e in errors) == list(range(42, 50))

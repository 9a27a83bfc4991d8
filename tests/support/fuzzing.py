"""Helpers of the fuzzers: byte mutations of seed files, and a call that must end in time.

The contract every decoder entry point is held to: it returns, or it raises a
:class:`~captureguard.errors.CaptureGuardError`; never another exception, never a hang.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from hypothesis import strategies as st

from captureguard.errors import CaptureGuardError

T = TypeVar("T")

#: Bytes that tend to matter in headers: length fields, markers, signs.
_INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]


def _apply(seed: bytes, ops: list[tuple[str, int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for kind, at, n, blob in ops:
        if not data and kind != "insert":
            continue
        pos = at % (len(data) + 1)
        if kind == "flip" and data:
            pos %= len(data)
            data[pos] ^= 1 << (n % 8)
        elif kind == "set" and data:
            pos %= len(data)
            data[pos] = _INTERESTING[n % len(_INTERESTING)]
        elif kind == "insert":
            data[pos:pos] = blob
        elif kind == "delete":
            del data[pos : pos + 1 + n % 64]
        elif kind == "overwrite":
            data[pos : pos + len(blob)] = blob
        elif kind == "truncate":
            del data[pos:]
        elif kind == "repeat":
            data[pos:pos] = data[pos : pos + 1 + n % 256]
    return bytes(data)


_op = st.tuples(
    st.sampled_from(["flip", "flip", "set", "insert", "delete", "overwrite", "truncate", "repeat"]),
    st.integers(0, 2**31),
    st.integers(0, 2**16),
    st.binary(min_size=1, max_size=32),
)


def mutated(seeds: Sequence[bytes], *, max_ops: int = 8) -> st.SearchStrategy[bytes]:
    """A seed file with a few random byte mutations (bit flips, edits, cuts, repeats)."""
    return st.builds(_apply, st.sampled_from(list(seeds)), st.lists(_op, min_size=1, max_size=max_ops))


def fuzz_inputs(seeds: Sequence[bytes], *, max_random: int = 512) -> st.SearchStrategy[bytes]:
    """Mostly mutated seeds, sometimes pure random bytes, sometimes a seed's prefix + random bytes."""
    prefix = st.builds(
        lambda s, n, tail: s[: n % (len(s) + 1)] + tail,
        st.sampled_from(list(seeds)),
        st.integers(0, 2**20),
        st.binary(max_size=64),
    )
    return st.one_of(mutated(seeds), mutated(seeds), st.binary(max_size=max_random), prefix)


def must_end(fn: Callable[[], T], *, timeout_s: float = 10.0) -> T | CaptureGuardError:
    """Run ``fn`` on a thread: its result, or the :class:`CaptureGuardError` it raised.

    Any other exception is re-raised (the test fails with it); a call still running after
    ``timeout_s`` fails the test as a hang.
    """
    box: list[object] = []

    def body() -> None:
        try:
            box.append(("ok", fn()))
        except BaseException as exc:  # judged below, in the test's thread
            box.append(("err", exc))

    thread = threading.Thread(target=body, daemon=True, name="fuzz-call")
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"hang: still running after {timeout_s} s"
    kind, value = box[0]  # type: ignore[misc]
    if kind == "ok":
        return value  # type: ignore[return-value]
    if isinstance(value, CaptureGuardError):
        assert "Traceback" not in str(value)
        return value
    raise value  # type: ignore[misc]

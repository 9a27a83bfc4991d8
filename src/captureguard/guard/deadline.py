"""The one deadline runner: run a call on a worker thread, wait at most ``deadline_s``, abandon it if late.

Both the :class:`~captureguard.guard.check.Checker` (photo checks) and the
:class:`~captureguard.guard.stream.StreamGuard` (stream checks) run their checks through a
:class:`DeadlineRunner`. A call that overruns raises :class:`DeadlineExceededError` in the caller (who
turns it into a ``timeout`` block); the hung worker thread is abandoned (a daemon, so it can never
hold up process exit) and a fresh worker takes the calls queued behind it, so one hung model call
costs one timeout, not a stream of them. At most ``max_abandoned`` hung workers are tolerated at
once; past that every call fails at once with :class:`DeadlineExceededError` (fail closed) until one of
them returns.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from captureguard.errors import DetectionError

log = logging.getLogger(__name__)

A = TypeVar("A")
R = TypeVar("R")

#: Hung workers tolerated at once (each holds a thread stuck in a model call).
MAX_ABANDONED = 4


class DeadlineExceededError(DetectionError, TimeoutError):
    """A call ran past its deadline (or too many hung calls are still running): treat as a timeout."""


class _Worker(Generic[A, R]):
    """One daemon thread running calls in order from its own queue."""

    def __init__(self, fn: Callable[[A], R], name: str, on_exit: Callable[[_Worker[A, R]], None]) -> None:
        self._fn, self._on_exit = fn, on_exit
        self._items: deque[tuple[A, concurrent.futures.Future[R]]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.abandoned = False
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def submit(self, arg: A, future: concurrent.futures.Future[R]) -> None:
        with self._cond:
            self._items.append((arg, future))
            self._cond.notify()

    def drain(self) -> list[tuple[A, concurrent.futures.Future[R]]]:
        """Take the calls still waiting (the worker is being abandoned or closed)."""
        with self._cond:
            items, self._items = list(self._items), deque()
            return items

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _loop(self) -> None:
        try:
            while (item := self._next()) is not None:
                arg, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(self._fn(arg))
                except BaseException as exc:  # handed to the caller, who turns it into a block
                    future.set_exception(exc)
        finally:
            self._on_exit(self)

    def _next(self) -> tuple[A, concurrent.futures.Future[R]] | None:
        with self._cond:
            while not self._items and not self._closed and not self.abandoned:
                self._cond.wait()
            if self.abandoned or (self._closed and not self._items):
                return None
            return self._items.popleft()


class DeadlineRunner(Generic[A, R]):
    """Runs ``fn(arg)`` with a deadline; thread-safe (concurrent calls run one after another).

    Args:
        fn: the call to run (a check).
        deadline_s: seconds a call may take, counted from :meth:`run`, including any wait behind
            other calls; None runs ``fn`` directly in the caller's thread.
        name: the worker threads' name.
        max_abandoned: hung workers tolerated at once before calls fail fast.
    """

    def __init__(
        self,
        fn: Callable[[A], R],
        *,
        deadline_s: float | None,
        name: str = "captureguard-check",
        max_abandoned: int = MAX_ABANDONED,
    ) -> None:
        if deadline_s is not None and deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive or None, got {deadline_s}")
        self._fn, self.deadline_s, self._name = fn, deadline_s, name
        self._max_abandoned = max_abandoned
        self._lock = threading.Lock()
        self._worker: _Worker[A, R] | None = None
        self._hung: set[_Worker[A, R]] = set()

    @property
    def hung(self) -> int:
        """Abandoned workers still stuck in a call."""
        with self._lock:
            return len(self._hung)

    def run(self, arg: A, *, deadline_s: float | None = None) -> R:
        """``fn(arg)``, or :class:`DeadlineExceededError` if it takes longer than the deadline
        (``deadline_s`` for this call, default the runner's).

        Raises:
            DeadlineExceededError: the call overran (it is abandoned), or too many calls are hung.
            Exception: whatever ``fn`` raised.
        """
        limit = self.deadline_s if deadline_s is None else deadline_s
        if limit is None:
            return self._fn(arg)
        future: concurrent.futures.Future[R] = concurrent.futures.Future()
        with self._lock:
            if len(self._hung) >= self._max_abandoned:
                raise DeadlineExceededError(f"{len(self._hung)} earlier checks are still hung; refusing new work")
            worker = self._worker = self._worker or _Worker(self._fn, self._name, self._exited)
            worker.submit(arg, future)
        try:
            return future.result(timeout=max(0.0, limit))
        except concurrent.futures.TimeoutError:
            future.cancel()  # if it was still waiting behind a hung call, it never runs
            self._abandon(worker, limit)
            raise DeadlineExceededError(f"took longer than {limit:g} s") from None

    def close(self) -> None:
        """Stop the worker after the calls already queued (a hung one is abandoned, not waited for)."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()

    def _abandon(self, worker: _Worker[A, R], limit_s: float) -> None:
        with self._lock:
            if self._worker is not worker:
                return  # another caller already replaced it
            worker.abandoned = True
            self._hung.add(worker)
            self._worker = None
            waiting = worker.drain()
            if waiting:  # calls queued behind the hung one go to a fresh worker
                self._worker = _Worker(self._fn, self._name, self._exited)
                for arg, future in waiting:
                    self._worker.submit(arg, future)
        log.warning("%s overran %.0f ms: its thread is abandoned, a fresh one takes over", self._name, limit_s * 1e3)

    def _exited(self, worker: _Worker[A, R]) -> None:
        with self._lock:
            self._hung.discard(worker)

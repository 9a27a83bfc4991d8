"""The one deadline runner: a late call is abandoned and times out once; the next calls go on."""

from __future__ import annotations

import threading
import time

import pytest

from captureguard.guard.deadline import DeadlineExceededError, DeadlineRunner


class Script:
    """A call that sleeps, hangs until released, raises, or echoes its argument."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started: list[int] = []

    def __call__(self, arg: int) -> int:
        self.started.append(arg)
        if arg < 0:
            self.release.wait(10)
        if arg == 99:
            raise ValueError("model crashed")
        return arg * 2


def test_no_deadline_runs_in_the_callers_thread() -> None:
    seen: list[str] = []
    runner = DeadlineRunner(lambda a: seen.append(threading.current_thread().name) or a, deadline_s=None)
    assert runner.run(3) == 3
    assert seen == [threading.current_thread().name]


def test_results_and_exceptions_reach_the_caller() -> None:
    runner = DeadlineRunner(Script(), deadline_s=2.0)
    assert runner.run(4) == 8
    with pytest.raises(ValueError, match="model crashed"):
        runner.run(99)
    assert runner.run(5) == 10  # the worker survived the exception
    runner.close()


def test_a_hung_call_costs_one_timeout_and_a_fresh_worker_takes_the_next() -> None:
    script = Script()
    runner = DeadlineRunner(script, deadline_s=0.1)
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceededError, match=r"longer than 0\.1 s"):
        runner.run(-1)
    assert time.monotonic() - t0 < 1.0
    assert runner.hung == 1
    assert [runner.run(i) for i in range(3)] == [0, 2, 4]  # not stuck behind the hung call
    script.release.set()
    deadline = time.monotonic() + 2
    while runner.hung and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.hung == 0  # the abandoned thread exited once its call returned
    runner.close()


def test_a_call_may_carry_its_own_deadline() -> None:
    """The second look is held to what is left of its check's deadline: a per-call limit, also on a
    runner without one of its own (then on its worker thread, not the caller's)."""
    script = Script()
    runner = DeadlineRunner(script, deadline_s=None)
    assert runner.run(3, deadline_s=1.0) == 6
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceededError, match=r"longer than 0\.05 s"):
        runner.run(-1, deadline_s=0.05)
    assert time.monotonic() - t0 < 1.0 and runner.hung == 1
    assert runner.run(4) == 8  # no limit: in the caller's thread, as before
    limited = DeadlineRunner(script, deadline_s=5.0)
    with pytest.raises(DeadlineExceededError, match=r"longer than 0\.05 s"):
        limited.run(-2, deadline_s=0.05)  # shorter than the runner's own
    script.release.set()
    runner.close()
    limited.close()


def test_calls_queued_behind_a_hung_call_move_to_the_fresh_worker() -> None:
    script = Script()
    runner = DeadlineRunner(script, deadline_s=0.3)
    results: dict[str, object] = {}

    def call(name: str, arg: int) -> None:
        try:
            results[name] = runner.run(arg)
        except DeadlineExceededError as exc:
            results[name] = exc

    hung = threading.Thread(target=call, args=("hung", -1))
    hung.start()
    time.sleep(0.2)  # the hung call is running; the next one waits behind it
    queued = threading.Thread(target=call, args=("queued", 7))
    queued.start()
    hung.join(2)
    queued.join(2)
    assert isinstance(results["hung"], DeadlineExceededError)
    # The queued call had until 0.5 s; at 0.3 s the hung worker was abandoned and it ran on a fresh one.
    assert results["queued"] == 14
    script.release.set()
    runner.close()


def test_too_many_hung_calls_fail_fast_closed() -> None:
    script = Script()
    runner = DeadlineRunner(script, deadline_s=0.05, max_abandoned=2)
    for _ in range(2):
        with pytest.raises(DeadlineExceededError):
            runner.run(-1)
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceededError, match="still hung"):
        runner.run(1)  # refused at once: no third thread is started
    assert time.monotonic() - t0 < 0.05
    script.release.set()
    deadline = time.monotonic() + 2
    while runner.hung and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.run(1) == 2  # recovered once the hung calls returned
    runner.close()


@pytest.mark.parametrize("deadline_s", [0.0, -1.0], ids=["zero", "negative"])
def test_deadline_must_be_positive(deadline_s: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        DeadlineRunner(Script(), deadline_s=deadline_s)

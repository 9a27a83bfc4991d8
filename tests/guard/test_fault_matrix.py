"""The fault-injection matrix (paths x faults), one table: tests/support/fault_matrix.py.

The model is a real :class:`OnnxModel` + :class:`OpenNsfwDetector` around a scripted session: green
frames get a safe output, red frames a nude output, unless the fault strikes them (raise, hang,
NaN, +inf, wrong shape, slow, a BaseException, MemoryError). Sink faults are a fake file object
(photos) or a sink/encoder whose write raises ``OSError(ENOSPC/EIO)``; a vanishing camera is a
source that raises mid-stream (or a viewfinder client that leaves).
"""

from __future__ import annotations

import errno
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Decision
from captureguard.errors import BadInputError, CaptureGuardError
from captureguard.guard.allowed import AllowedFrame
from captureguard.guard.check import Checker
from captureguard.guard.photo import PhotoGuard
from captureguard.guard.stream import StreamGuard
from captureguard.models.open_nsfw import OpenNsfwDetector
from captureguard.models.runtime import OnnxModel
from captureguard.pipeline import run_guarded
from captureguard.sinks.mp4 import Mp4Sink
from captureguard.sinks.photo_store import PhotoStore
from captureguard.testing import ListSource
from captureguard.web.app import ServerConfig, Services, create_app
from tests.support import fault_matrix
from tests.support.fault_matrix import FAULTS, PATHS, TABLE
from tests.support.webutil import BASE, FUSION, GREEN, PROFILE, RED, WS_URL, TestClient, csrf, hello, mean_bgr, picture

DEADLINE_S = 0.4
HANG_S = 1.2
ROOT = Path(__file__).resolve().parents[2]
SAFE_OUT = np.array([[0.99, 0.01]], np.float32)
NUDE_OUT = np.array([[0.01, 0.99]], np.float32)


class WorkerDeath(BaseException):
    """Escapes every ``except Exception``: the check's thread dies."""


@dataclass
class ScriptedSession:
    """Stands in for an onnxruntime session: green -> safe, red -> nude, or the fault on red."""

    fault: str
    calls: int = 0

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.calls += 1
        x = next(iter(feeds.values()))
        red = float(x[..., 2].mean()) > 40  # BGR minus the open_nsfw mean: red is high in channel 2
        if not red:
            return [SAFE_OUT]
        f = self.fault
        if f == "raise":
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : scripted failure")
        if f == "hang":
            time.sleep(HANG_S)
        if f == "slow":
            time.sleep(DEADLINE_S / 4)
        if f == "nan":
            return [np.full((1, 2), np.nan, np.float32)]
        if f == "inf":
            return [np.full((1, 2), np.inf, np.float32)]
        if f == "wrong_shape":
            return [np.zeros((1, 5), np.float32)]
        if f == "memory_error":
            raise MemoryError("scripted: cannot allocate the output tensor")
        if f == "thread_death":
            raise WorkerDeath("scripted: the check's thread dies")
        return [NUDE_OUT]


def scripted_detector(fault: str) -> OpenNsfwDetector:
    model = object.__new__(OnnxModel)
    model._session = ScriptedSession(fault)  # type: ignore[attr-defined]
    model.path, model.input_name = Path("scripted.onnx"), "input"  # type: ignore[misc]
    model.input_shape, model.output_shape = [1, 224, 224, 3], [1, 2]
    return OpenNsfwDetector(model)


def checker(fault: str) -> Checker:
    return Checker([scripted_detector(fault)], FUSION, PROFILE, deadline_s=DEADLINE_S)


def solid(colour: tuple[int, int, int], index: int = 0, size: tuple[int, int] = (48, 64)) -> Frame:
    bgr = np.empty((*size, 3), np.uint8)
    bgr[:] = colour
    return Frame.from_bgr(bgr, index=index, timestamp_s=index / 10)


def is_red(bgr: np.ndarray) -> bool:
    b, g, r = (float(v) for v in bgr.reshape(-1, 3).mean(axis=0))
    return r > 120 and g < 100 and b < 100


@dataclass
class Observed:
    outcome: str
    unsafe: int = 0  # red pixels that reached a sink, a client, a photo or a recording
    serving: bool = False  # a safe frame/photo afterwards was let through
    notes: list[str] = field(default_factory=list)


# -- photo ------------------------------------------------------------------------------------------


class FullDiskFile:
    """A file object whose writes fail like a full disk."""

    def __init__(self, fd: int, *_: Any, **__: Any) -> None:
        import os

        os.close(fd)

    def __enter__(self) -> FullDiskFile:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def run_photo(fault: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Observed:
    store_dir = tmp / "photos"
    guard = PhotoGuard(checker(fault), PhotoStore(store_dir))
    if fault == "disk_full":
        with monkeypatch.context() as m:
            m.setattr("captureguard._atomic.os.fdopen", FullDiskFile)
            try:
                guard.save(solid(GREEN), "green.jpg")
                outcome = "saved"
            except CaptureGuardError as exc:
                outcome = "not_saved" if "\n" not in str(exc) else "multi-line error"
        leftovers = list(store_dir.rglob("*")) if store_dir.exists() else []
        obs = Observed(outcome, unsafe=len([p for p in leftovers if p.is_file()]))
        obs.notes.append(outcome)
    else:
        result = guard.save(solid(RED), "red.jpg")
        codes = [r.code for r in result.verdict.reasons]
        kind = codes[0] if codes and codes[0] in ("error", "timeout") else "evidence"
        outcome = f"block:{kind}" if result.verdict.decision is Decision.BLOCK else result.verdict.decision.value
        saved = [p for p in store_dir.rglob("*") if p.is_file()] if store_dir.exists() else []
        obs = Observed(outcome, unsafe=len(saved))
    ok = guard.save(solid(GREEN), "after.jpg")
    obs.serving = ok.path is not None and ok.path.is_file()
    guard.checker.close()
    return obs


# -- stream ---------------------------------------------------------------------------------------


class RecordingSink:
    """Keeps what it was given (or fails like a full disk after ``fail_after`` frames)."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.items: list[AllowedFrame] = []
        self.fail_after = fail_after
        self.closed = False

    def write(self, item: AllowedFrame) -> None:
        if self.fail_after is not None and len(self.items) >= self.fail_after:
            raise OSError(errno.EIO, "Input/output error")
        self.items.append(item)

    def close(self) -> None:
        self.closed = True


class PacedSource(ListSource):
    """A live camera: one frame every ``period_s`` (so a live guard's checks keep up)."""

    period_s: float = 0.03

    def __iter__(self):  # type: ignore[no-untyped-def]
        for frame in super().__iter__():
            time.sleep(self.period_s)
            yield frame


@dataclass
class DyingChecker:
    """A checker whose red frames kill the stream guard's worker (a BaseException escapes the check)."""

    inner: Checker

    def check(self, frame: Frame) -> Any:
        if is_red(frame.bgr):
            raise WorkerDeath("scripted: the stream guard's worker dies")
        return self.inner.check(frame)


def stream_frames() -> list[Frame]:
    colours = [GREEN] * 4 + [RED] * 3 + [GREEN] * 8
    return [solid(c, i) for i, c in enumerate(colours)]


def run_stream(fault: str, schedule: str) -> Observed:
    frames = stream_frames()
    live = schedule == "latest"
    kind = PacedSource if live else ListSource
    source = kind(frames, live=live)
    if fault == "camera_vanish":
        source = kind(frames, live=live, fail_after=6, fail_with=BadInputError("camera 0 stopped sending frames"))
    sinks = [RecordingSink(), RecordingSink(fail_after=3 if fault == "disk_full" else None)]
    settings = StreamSettings(max_gap=1, schedule=schedule)  # type: ignore[arg-type]
    chk = checker(fault)
    error = ""
    frame_checker = DyingChecker(chk) if fault == "thread_death" else chk
    with StreamGuard(frame_checker, settings, deadline_s=DEADLINE_S) as guard:
        try:
            report = run_guarded(source, guard, sinks)
            error = report.error
        except (CaptureGuardError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
    items = sinks[0].items
    unsafe = sum(1 for it in items if it.release.released and is_red(it.frame.bgr))
    withheld_red = all(not it.release.released for it, f in zip(items, frames, strict=False) if is_red(f.bgr))
    if error:
        outcome = "run_error"
    elif withheld_red and len(items) == len(frames):
        outcome = "placeholder"
    else:
        outcome = f"unexpected ({len(items)} frames out)"
    # Keeps serving: a fresh guard on the same checker lets a safe stream through.
    with StreamGuard(chk, StreamSettings(max_gap=0), deadline_s=DEADLINE_S) as again:
        out = [*again.process(solid(GREEN, 0)), *again.finish()]
    chk.close()
    obs = Observed(outcome, unsafe=unsafe, serving=bool(out) and out[0].release.released)
    obs.notes.append(error)
    assert all(s.closed for s in sinks), "every sink is closed (files finalised)"
    return obs


# -- web ------------------------------------------------------------------------------------------


def web_app(fault: str, tmp: Path) -> Any:
    det = scripted_detector(fault)
    services = Services(
        Checker([det], FUSION, PROFILE, deadline_s=DEADLINE_S), Checker([det], FUSION, PROFILE, deadline_s=DEADLINE_S)
    )
    config = ServerConfig(data_dir=tmp / "data", photo_deadline_s=DEADLINE_S, live_deadline_s=DEADLINE_S)
    return create_app(config, services=services)


def viewfinder_session(
    client: TestClient, frames: list[bytes], *, record: bool = False, leave_after: int | None = None
) -> tuple[list[tuple[dict[str, Any], bytes | None]], int | None, list[dict[str, Any]]]:
    """Send frames (one at a time, waiting for each answer); returns answers, close code, statuses."""
    token = csrf(client)
    answers: list[tuple[dict[str, Any], bytes | None]] = []
    statuses: list[dict[str, Any]] = []
    with client.websocket_connect(WS_URL) as ws:
        hello(ws, token)
        if record:
            ws.send_text(json.dumps({"type": "record", "on": True}))
            statuses.append(ws.receive_json())
        for i, data in enumerate(frames):
            if leave_after is not None and i == leave_after:
                return answers, None, statuses  # the camera vanishes: the client leaves mid-stream
            ws.send_bytes(data)
            while True:
                message = ws.receive()
                if message["type"] == "websocket.close":
                    return answers, int(message.get("code", 1000)), statuses
                body = json.loads(message["text"])
                if body["type"] == "frame":
                    answers.append((body, ws.receive_bytes()))
                    break
                if body["type"] == "dropped":
                    answers.append((body, None))
                    break
                if body["type"] == "error":
                    closing = ws.receive()
                    return answers, int(closing.get("code", 1000)), statuses
                statuses.append(body)
        if record:
            ws.send_text(json.dumps({"type": "record", "on": False}))
            while (body := ws.receive_json())["type"] != "recording":
                statuses.append(body)
            statuses.append(body)
    return answers, None, statuses


WEB_FRAMES = [GREEN, GREEN, RED, RED, GREEN, GREEN, GREEN, GREEN, GREEN, GREEN]


def web_serving(client: TestClient) -> bool:
    answers, code, _ = viewfinder_session(client, [picture(GREEN)])
    photo = client.post("/v1/check", content=picture(GREEN), headers={"content-type": "image/jpeg"})
    return code is None and not answers[0][0]["blocked"] and photo.status_code == 200


def run_viewfinder(fault: str, tmp: Path, *, record: bool, monkeypatch: pytest.MonkeyPatch) -> Observed:
    app = web_app(fault, tmp)
    frames = [picture(c) for c in WEB_FRAMES]
    with TestClient(app, base_url=BASE) as client:
        with monkeypatch.context() as m:
            if fault == "disk_full":
                real = Mp4Sink._encode
                count = {"n": 0}

                def full_disk(self: Mp4Sink, frame: Frame) -> None:
                    count["n"] += 1
                    if count["n"] > 3:
                        raise OSError(errno.ENOSPC, "No space left on device")
                    real(self, frame)

                m.setattr(Mp4Sink, "_encode", full_disk)
            leave = 5 if fault == "camera_vanish" else None
            answers, code, statuses = viewfinder_session(client, frames, record=record, leave_after=leave)
            ended = _session_ended(app) if leave is not None else False
        unsafe = sum(
            1
            for (head, jpeg), colour in zip(answers, WEB_FRAMES, strict=False)
            if jpeg is not None and not head["blocked"] and (colour == RED or is_red_jpeg(jpeg))
        )
        red_hidden = all(head["blocked"] for (head, _), c in zip(answers, WEB_FRAMES, strict=False) if c == RED)
        serving = web_serving(client)
    videos = _recordings(tmp / "data") if record else []
    recorded_red = sum(count_red_frames(v) for v in videos)
    if record:
        stopped = any(s.get("type") == "recording" and s.get("reason") == "error" for s in statuses)
        if stopped:
            outcome = "recording_stopped"
        elif videos and recorded_red == 0:
            outcome = "finalised"
        else:
            outcome = f"unexpected (videos {len(videos)}, statuses {statuses})"
    elif code == 1011 or ended:
        outcome = "session_closed"
    elif red_hidden and len(answers) == len(frames):
        outcome = "placeholder"
    else:
        outcome = f"unexpected (close {code}, {len(answers)} answers)"
    return Observed(outcome, unsafe=unsafe + recorded_red, serving=serving)


def _recordings(data: Path, timeout_s: float = 5.0) -> list[Path]:
    """The recordings once finalised: a client that leaves mid-recording ends its session at once,
    and the session's thread finalises the file just after (partial -> final), so wait for that."""
    deadline = time.monotonic() + timeout_s
    while True:
        files = sorted(data.rglob("*.mp4"))
        partial = [p for p in files if p.name.endswith(".partial.mp4")]
        if (files and not partial) or time.monotonic() > deadline:
            return files
        time.sleep(0.02)


def _session_ended(app: Any, timeout_s: float = 5.0) -> bool:
    """The server noticed the client left: its viewer slot is free again."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if app.state.captureguard.viewers == 0:
            return True
        time.sleep(0.02)
    return False


def is_red_jpeg(data: bytes) -> bool:
    b, g, r = mean_bgr(data)
    return r > 120 and g < 100 and b < 100


def count_red_frames(path: Path) -> int:
    try:
        with av.open(str(path)) as container:
            return sum(is_red(f.to_ndarray(format="bgr24")) for f in container.decode(video=0))
    except (av.FFmpegError, OSError):
        return 0  # an empty or cut partial file holds nothing to show


def run_v1(fault: str, tmp: Path) -> Observed:
    app = web_app(fault, tmp)
    with TestClient(app, base_url=BASE) as client:
        answer = client.post("/v1/check", content=picture(RED), headers={"content-type": "image/jpeg"})
        if answer.status_code != 200:
            return Observed(f"HTTP {answer.status_code}")
        body = answer.json()
        codes = [r["code"] for r in body["reasons"]]
        kind = codes[0] if codes and codes[0] in ("error", "timeout") else "evidence"
        outcome = f"block:{kind}" if body["decision"] == "block" else body["decision"]
        serving = web_serving(client)
    return Observed(outcome, unsafe=int(body["decision"] != "block"), serving=serving)


# -- the matrix ------------------------------------------------------------------------------------

CELLS = [(p, f) for p in PATHS for f in FAULTS if TABLE[p][f].outcome != "n/a"]


@pytest.mark.parametrize(("path", "fault"), CELLS, ids=[f"{p}-{f}" for p, f in CELLS])
def test_fault_matrix_cell(
    path: str, fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    if path == "photo":
        obs = run_photo(fault, tmp_path, monkeypatch)
    elif path in ("stream_file", "stream_live"):
        obs = run_stream(fault, "lockstep" if path == "stream_file" else "latest")
    elif path == "v1_check":
        obs = run_v1(fault, tmp_path)
    else:
        obs = run_viewfinder(fault, tmp_path, record=path == "recording", monkeypatch=monkeypatch)
    expected = TABLE[path][fault]
    assert obs.outcome == expected.outcome, (obs, expected)
    assert obs.unsafe == 0, f"unsafe pixels reached a sink/client/disk: {obs}"
    assert obs.serving, "the path stopped serving after the fault"
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    if fault == "slow":
        assert not loud, [r.getMessage() for r in loud]
    elif obs.outcome in ("run_error", "not_saved"):
        # Raised to the caller as one line (the CLI prints it, exit 2), not logged twice.
        assert obs.notes and obs.notes[0] and "\n" not in obs.notes[0], obs.notes
    elif fault != "camera_vanish":
        assert loud, "the fault left no log line"
    for record in loud:
        assert "\n" not in record.getMessage(), record.getMessage()


def test_reliability_doc_is_generated_from_the_matrix() -> None:
    doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    regenerate = "regenerate: .venv/bin/python -m tests.support.fault_matrix > docs/reliability.md"
    assert doc == fault_matrix.render(), regenerate


def test_every_cell_is_specified() -> None:
    assert set(TABLE) == set(PATHS)
    for cells in TABLE.values():
        assert set(cells) == set(FAULTS)
        assert all(c.outcome in fault_matrix.OUTCOMES for c in cells.values())

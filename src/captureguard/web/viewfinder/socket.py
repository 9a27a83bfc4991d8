"""The viewfinder WebSocket (``/ws/viewfinder``): one guarded stream per connection.

Protocol (docs/web.md): the client sends ``{"type": "hello", "csrf": TOKEN}`` first, then JPEG
frames as binary messages and ``{"type": "record", "on": bool}`` controls. For every frame, in
order, the server answers exactly once: a ``{"type": "frame", ...}`` text message followed by
one binary JPEG (the released frame or the guard's placeholder), or ``{"type": "dropped"}``.

The socket side (this module) receives and sends on the event loop; the frames go through a
:class:`~captureguard.web.viewfinder.worker.ViewfinderWorker` thread, so inference never blocks the
loop. Only the send task writes to the socket, so a frame's header and JPEG are never split.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Literal

import anyio
from fastapi import APIRouter, WebSocket

from captureguard.core.frame import Frame
from captureguard.core.ledger import StreamSettings
from captureguard.core.verdict import Verdict
from captureguard.guard.stream import StreamGuard
from captureguard.web.config import MAX_UNANSWERED_FRAMES
from captureguard.web.events import Event
from captureguard.web.security import SESSION_COOKIE
from captureguard.web.state import AppState, app_state
from captureguard.web.viewfinder.recorder import Recorder, Status
from captureguard.web.viewfinder.worker import Control, Dropped, Fatal, FrameAnswer, FrameIn, Outgoing, ViewfinderWorker

log = logging.getLogger(__name__)

router = APIRouter()
HELLO_TIMEOUT_S = 10.0
#: A stopped recording waits up to its hold plus this long for the frames captured before the stop
#: (they need the checks of the frames after them); a client that stops sending leaves them out.
RECORD_STOP_SLACK_S = 1.0


@router.websocket("/ws/viewfinder")
async def viewfinder(websocket: WebSocket) -> None:
    """One viewfinder: hello, then frames in and guarded frames out."""
    state = app_state(websocket)
    await websocket.accept()
    if state.viewers >= state.config.max_viewers:
        await websocket.close(1013, "busy")
        return
    state.viewers += 1
    try:
        if await _hello(websocket, state):
            session = LiveSession(websocket, state)
            state.sessions.add(session)
            try:
                await session.run()
            finally:
                state.sessions.discard(session)
    finally:
        state.viewers -= 1


async def _hello(websocket: WebSocket, state: AppState) -> bool:
    """The first message must be the hello with this session's CSRF token; else close 1008."""
    try:
        message = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT_S)
    except TimeoutError:
        message = {"type": "websocket.receive"}
    if message["type"] == "websocket.disconnect":
        return False
    try:
        hello = json.loads(message.get("text") or "")
    except ValueError:
        hello = None
    token = hello.get("csrf") if isinstance(hello, dict) and hello.get("type") == "hello" else None
    if isinstance(token, str) and state.csrf.verify(websocket.cookies.get(SESSION_COOKIE), token):
        return True
    await websocket.close(1008, "the first message must be {type: hello, csrf: TOKEN} from /api/session")
    return False


class _CurrentChecker:
    """Checks with whatever viewfinder checker is current, so new settings apply at once."""

    def __init__(self, state: AppState) -> None:
        self._state = state

    def check(self, frame: Frame) -> Verdict:
        return self._state.live().check(frame)


class LiveSession:
    """One connected viewfinder after its hello."""

    def __init__(self, websocket: WebSocket, state: AppState) -> None:
        self._ws, self._state = websocket, state
        self._loop = asyncio.get_running_loop()
        self._out: asyncio.Queue[Outgoing] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._receiver: asyncio.Task[str] | None = None
        self._stopping: set[asyncio.Task[None]] = set()  # recordings being stopped
        config, settings = state.config, state.settings
        lang = state.language(websocket.headers.get("accept-language"))
        self._t0 = t0 = time.monotonic()
        # A recording is held back (record_hold_s) and covers the frames captured between the clicks.
        self.recorder = Recorder(state.gallery, mode=lambda: state.settings.record_on_block, clock=self._clock)
        guard = StreamGuard(
            _CurrentChecker(state),
            StreamSettings(max_gap=0, schedule="lockstep", record_hold_s=config.record_hold_s),
            deadline_s=config.live_deadline_s,
            placeholder=settings.placeholder,
        )
        self._worker = ViewfinderWorker(
            guard,
            self.recorder,
            post=self._post,
            log_event=self._log_event,
            notice=state.notice("viewfinder", lang),
            max_side=config.max_frame_side,
            t0=t0,
            max_waiting=MAX_UNANSWERED_FRAMES + 1,
        )

    async def run(self) -> None:
        """Serve until the client leaves, an error closes the socket, or :meth:`stop`."""
        self._worker.start()
        self._receiver = receiver = asyncio.create_task(self._receive_loop())
        sender = asyncio.create_task(self._send_loop())
        try:
            await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
            ended = receiver.done() and not receiver.cancelled() and receiver.exception() is None
            if ended and receiver.result() == "fatal":
                await asyncio.wait({sender}, timeout=2.0)  # it sends the error and the close
        finally:
            receiver.cancel()
            self._worker.stop()  # the thread finalises the recording even if this task is cancelled
            try:
                await anyio.to_thread.run_sync(self._worker.done.wait, 30.0)
                if self._stopping:  # the worker finalised the recording: these return at once
                    await asyncio.wait(self._stopping, timeout=5.0)
            finally:
                sender.cancel()
                # asyncio.wait, not gather: gather would re-raise a child's CancelledError here.
                await asyncio.wait({receiver, sender})
                self._closed.set()

    async def stop(self, *, timeout_s: float) -> None:
        """Server shutdown: end the session and make sure its recording is finalised."""
        if self._receiver is not None:
            self._receiver.cancel()
        self._worker.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), timeout_s)
        await anyio.to_thread.run_sync(self.recorder.stop, "shutdown")

    # -- from the worker thread -----------------------------------------------------------------

    def _post(self, message: Outgoing) -> None:
        try:
            self._loop.call_soon_threadsafe(self._out.put_nowait, message)
        except RuntimeError:  # the loop is gone (shutdown): nobody is listening
            log.debug("viewfinder message after the loop closed: %s", type(message).__name__)

    def _log_event(self, event: Event) -> None:
        try:
            self._loop.call_soon_threadsafe(self._state.log_event, event)
        except RuntimeError:
            log.error("viewfinder event lost: the event loop is closed")

    # -- on the event loop ----------------------------------------------------------------------

    async def _receive_loop(self) -> Literal["gone", "fatal"]:
        limit, index = self._state.config.max_ws_frame_bytes, 0
        idle_s = self._state.config.viewer_idle_timeout_s
        while True:
            try:  # an idle socket (a forgotten tab, a client that said hello only) gives its viewer slot back
                message = await asyncio.wait_for(self._ws.receive(), idle_s)
            except TimeoutError:
                log.info("closing an idle viewfinder (nothing received for %g s)", idle_s)
                self._out.put_nowait(Fatal(1001, f"idle: nothing received for {idle_s:g} s; reconnect to go on"))
                return "fatal"
            if message["type"] == "websocket.disconnect":
                return "gone"
            data = message.get("bytes")
            if data is not None:
                if len(data) > limit:
                    self._out.put_nowait(Fatal(1009, f"frame messages may be at most {limit} bytes"))
                    return "fatal"
                item = FrameIn(index, data, time.monotonic())
                index += 1
                if not self._worker.offer(item):
                    self._out.put_nowait(Dropped(item.index))
            elif message.get("text") is not None and not await self._control(message["text"]):
                return "fatal"

    async def _control(self, text: str) -> bool:
        try:
            control = json.loads(text)
        except ValueError:
            control = None
        if not isinstance(control, dict):
            self._out.put_nowait(Fatal(1003, "text messages must be JSON objects such as {type: record, on: true}"))
            return False
        at_s = self._clock()  # frames received before this message were captured before it
        if control.get("type") == "record" and control.get("on") is True:
            start = functools.partial(self.recorder.start, at_s=at_s)
            self._out.put_nowait(Control(await anyio.to_thread.run_sync(start)))
        elif control.get("type") == "record" and control.get("on") is False:
            # Stopped now (a start right after it opens a new recording), finalised once the frames
            # captured before it, which the hold hands over late, are in: frames must keep coming
            # in meanwhile, so that runs beside this loop.
            hold_s = self._state.config.record_hold_s
            finalise = self.recorder.detach(wait_s=hold_s + RECORD_STOP_SLACK_S if hold_s > 0 else 0.0, at_s=at_s)
            task = asyncio.create_task(self._stop_recording(finalise))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        else:
            log.debug("ignoring viewfinder control %.80s", text)
        return True

    async def _stop_recording(self, finalise: Callable[[], Status]) -> None:
        self._out.put_nowait(Control(await anyio.to_thread.run_sync(finalise)))

    def _clock(self) -> float:
        """The session's capture time now (frames' ``timestamp_s``: received time since the start)."""
        return time.monotonic() - self._t0

    async def _send_loop(self) -> None:
        next_index, ready = 0, dict[int, FrameAnswer | Dropped]()
        try:
            while True:
                message = await self._out.get()
                if isinstance(message, FrameAnswer | Dropped):
                    ready[message.index] = message  # the worker answers in order; drops may come early
                    while next_index in ready:
                        await self._send_answer(ready.pop(next_index))
                        next_index += 1
                elif isinstance(message, Control):
                    await self._ws.send_text(json.dumps(message.message))
                else:
                    await self._send_fatal(message)
                    return
        except Exception as exc:  # the client went away mid-send: the receive side ends the session
            log.debug("viewfinder send failed: %r", exc)

    async def _send_answer(self, answer: FrameAnswer | Dropped) -> None:
        if isinstance(answer, Dropped):
            await self._ws.send_text(json.dumps({"type": "dropped", "index": answer.index}))
            return
        await self._ws.send_text(json.dumps(answer.header, ensure_ascii=False))
        await self._ws.send_bytes(answer.jpeg)

    async def _send_fatal(self, fatal: Fatal) -> None:
        if fatal.code != 1009:
            await self._ws.send_text(json.dumps({"type": "error", "detail": fatal.detail}, ensure_ascii=False))
        reason = fatal.detail.encode("utf-8")[:120].decode("utf-8", "ignore")
        await self._ws.close(fatal.code, reason)

"""The frame protocol of ``/run/captureguard/frames.sock``: one message per released frame.

The socket is ``AF_UNIX`` ``SOCK_SEQPACKET`` (message boundaries kept, in order, connection
based). Each message is a fixed 64-byte :class:`FrameHeader` (width, height, format, sequence,
the frame's index and time, its release and the verdict's decision); a ``FRAME`` message carries
its pixels as one sealed ``memfd`` (``SCM_RIGHTS``): ``(H, W, 3) uint8`` BGR, rows packed.

Why a memfd and not the pixels inline: Linux caps one ``AF_UNIX`` datagram/seqpacket message at
the sender's ``SO_SNDBUF`` (``net.core.wmem_max``, 208 KiB on Debian 12 for an unprivileged
daemon; measured: a 300,000-byte message fails with EMSGSIZE), and a 720p frame is 2.7 MB.
The memfd is sealed (no write, grow or shrink) before it is sent, so every reader sees exactly
the bytes the guard released, and it lives in RAM only: no pixel touches a disk.

Only :class:`~captureguard.guard.allowed.AllowedFrame` s are ever encoded (see
``captureguard.chokepoint.camerad.SocketSink``): unchecked frames cannot enter the socket.
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
import enum
import fcntl
import logging
import os
import select
import socket
import stat
import struct
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from captureguard import BadInputError, ConfigError, Decision, Release
from captureguard.chokepoint.peercred import PeerCred, may_view, peer_credentials

log = logging.getLogger(__name__)

DEFAULT_SOCKET = "/run/captureguard/frames.sock"
#: The held socket: the same stream, held back ``record_hold_s`` so that frames shown just before
#: the stream shut are taken back (for recording apps; ``captureguard publish --held``).
DEFAULT_HELD_SOCKET = "/run/captureguard/frames-held.sock"
MAGIC, VERSION = b"CGFS", 1
_HEADER = struct.Struct("<4sBBBB4sIIIQQqQ8x")  # 64 bytes
HEADER_SIZE = _HEADER.size
MAX_SIDE = 16384
_SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK
#: Per-client send buffer: a few messages at most, so a reader that stops reading pins at most a
#: few frames' memfds (the daemon then drops frames for that reader instead of queueing).
CLIENT_SNDBUF = 8192


class ProtocolError(BadInputError):
    """A message on the frame socket is malformed (wrong magic, size, format or pixels)."""


class Kind(enum.IntEnum):
    """Message kinds: a frame (with its memfd) or the clean end of the stream."""

    FRAME = 1
    END = 2


#: Wire codes of the releases, by name (stable across versions of the Release enum).
_RELEASE_CODES = {"checked": 1, "covered": 2, "placeholder": 3, "blocked": 4, "failed": 5, "uncovered": 6}
_RELEASES = {r: _RELEASE_CODES[r.value] for r in Release}
#: Released frames carry the camera's pixels; every other release carries the guard's placeholder.
SHOWN = frozenset(r for r in Release if r.value in ("checked", "covered"))
_WITHHELD = next(r for r in Release if r.value not in ("checked", "covered"))
_DECISIONS = {Decision.ALLOW: 1, Decision.WARN: 2, Decision.BLOCK: 3}
FORMAT_BGR = b"BGR3"


@dataclass(frozen=True)
class FrameHeader:
    """One message's header (no pixels).

    Attributes:
        width: pixels per row.
        height: rows.
        seq: the daemon's message counter (gaps: frames dropped for this reader).
        index: the camera frame's index in its stream.
        timestamp_us: the camera frame's time from the start of the stream, microseconds.
        release: why it may be shown (a placeholder's pixels are the guard's own).
        decision: the verdict behind it.
        kind: ``FRAME`` or ``END``.
        fourcc: pixel format; only ``BGR3`` (``(H, W, 3) uint8`` BGR, packed rows).
    """

    width: int
    height: int
    seq: int
    index: int
    timestamp_us: int
    release: Release
    decision: Decision
    kind: Kind = Kind.FRAME
    fourcc: bytes = FORMAT_BGR

    @property
    def stride(self) -> int:
        """Bytes per row."""
        return self.width * 3

    @property
    def nbytes(self) -> int:
        """Bytes of pixels."""
        return self.stride * self.height

    def to_bytes(self) -> bytes:
        """Encode (pure).

        Raises:
            ProtocolError: the header breaks a rule :meth:`from_bytes` checks.
        """
        _validate(self)
        return _HEADER.pack(
            MAGIC,
            VERSION,
            int(self.kind),
            _RELEASES[self.release],
            _DECISIONS[self.decision],
            self.fourcc,
            self.width,
            self.height,
            self.stride,
            self.seq,
            self.index,
            self.timestamp_us,
            self.nbytes,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> FrameHeader:
        """Decode and validate (pure).

        Raises:
            ProtocolError: wrong length, magic, version, kind, format, size or release rule.
        """
        if len(data) != HEADER_SIZE:
            raise ProtocolError(f"frame header must be {HEADER_SIZE} bytes, got {len(data)}")
        magic, version, kind, rel, dec, fourcc, w, h, stride, seq, index, ts, nbytes = _HEADER.unpack(data)
        if magic != MAGIC or version != VERSION:
            raise ProtocolError(f"not a captureguard frame message (magic {magic!r}, version {version})")
        try:
            header = cls(w, h, seq, index, ts, _release(rel), _decision(dec), Kind(kind), fourcc)
        except ValueError as exc:
            raise ProtocolError(f"unknown message kind {kind}") from exc
        _validate(header)
        if stride != header.stride or nbytes != header.nbytes:
            raise ProtocolError(f"stride/size {stride}/{nbytes} do not match {w}x{h} BGR")
        return header


def _release(code: int) -> Release:
    for key, value in _RELEASES.items():
        if value == code:
            return key
    raise ProtocolError(f"unknown release code {code}")


def _decision(code: int) -> Decision:
    for key, value in _DECISIONS.items():
        if value == code:
            return key
    raise ProtocolError(f"unknown decision code {code}")


def _validate(h: FrameHeader) -> None:
    if h.fourcc != FORMAT_BGR:
        raise ProtocolError(f"unsupported pixel format {h.fourcc!r}; expected {FORMAT_BGR!r}")
    if h.kind is Kind.FRAME and not (0 < h.width <= MAX_SIDE and 0 < h.height <= MAX_SIDE):
        raise ProtocolError(f"frame size {h.width}x{h.height} out of range 1..{MAX_SIDE}")
    if h.release in SHOWN and h.decision is not Decision.ALLOW:
        raise ProtocolError(f"a {h.release.value} frame must have an allow verdict, got {h.decision.value}")
    if min(h.seq, h.index) < 0:
        raise ProtocolError("seq and index must be >= 0")


def end_header(seq: int) -> FrameHeader:
    """The last message of a stream that ended cleanly."""
    return FrameHeader(0, 0, seq, 0, 0, _WITHHELD, Decision.BLOCK, Kind.END)


# -- pixels in a sealed memfd -------------------------------------------------------------------


def seal_pixels(bgr: np.ndarray) -> int:
    """Copy ``(H, W, 3) uint8`` BGR pixels into a new memfd and seal it; returns the fd (caller closes)."""
    fd = os.memfd_create("captureguard-frame", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = np.ascontiguousarray(bgr).data.cast("B")
        while view:
            view = view[os.write(fd, view) :]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS | fcntl.F_SEAL_SEAL)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_pixels(fd: int, header: FrameHeader) -> np.ndarray:
    """Read a frame's pixels from its memfd (checked sealed and of the right size); read-only array.

    Raises:
        ProtocolError: not sealed, or not ``header.nbytes`` long.
    """
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    except OSError as exc:
        raise ProtocolError(f"frame pixels must come in a sealed memfd ({exc})") from exc
    if seals & _SEALS != _SEALS:
        raise ProtocolError("frame memfd is not sealed against writes and resizing")
    if os.fstat(fd).st_size != header.nbytes:
        raise ProtocolError(f"frame memfd holds {os.fstat(fd).st_size} bytes, header says {header.nbytes}")
    buf = bytearray(header.nbytes)
    view, done = memoryview(buf), 0
    while done < header.nbytes:
        n = os.preadv(fd, [view[done:]], done)
        if n <= 0:
            raise ProtocolError("frame memfd ended early")
        done += n
    pixels = np.frombuffer(buf, np.uint8).reshape(header.height, header.width, 3)
    pixels.flags.writeable = False
    return pixels


# -- the daemon's side --------------------------------------------------------------------------


@dataclass
class _Client:
    sock: socket.socket
    peer: PeerCred
    sent: int = 0
    dropped: int = 0


@dataclass
class ServerStats:
    """Counters (no pixels): messages sent, frames dropped for slow readers, refused peers."""

    accepted: int = 0
    refused: int = 0
    sent: int = 0
    dropped: int = 0
    refused_uids: list[int] = field(default_factory=list)


class FrameServer:
    """Listens on the frame socket and hands each released frame to every admitted reader.

    Args:
        path: socket path (``/run/captureguard/frames.sock`` for the system service).
        view_gid: group whose members may read (``cgview``); None: only root and this user.
        mode: file mode of the socket (``0o660``).
        max_clients: readers beyond this are refused.
    """

    def __init__(self, path: str, *, view_gid: int | None = None, mode: int = 0o660, max_clients: int = 16) -> None:
        self.path, self.view_gid, self.mode, self.max_clients = path, view_gid, mode, max_clients
        self.stats = ServerStats()
        self._owner = os.geteuid()
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self._joined = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._seq = 0
        self._sock = self._listen()
        self._thread = threading.Thread(target=self._accept_loop, name="captureguard-framesock", daemon=True)
        self._thread.start()

    def _listen(self) -> socket.socket:
        _remove_stale(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)  # never world-accessible, not even between bind and chmod
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        try:
            if self.view_gid is not None:
                os.chown(self.path, -1, self.view_gid)
            os.chmod(self.path, self.mode)
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot give {self.path} group {self.view_gid} mode {self.mode:o}: {exc}") from exc
        sock.listen(8)
        log.info("frame socket listening at %s (mode %o, view gid %s)", self.path, self.mode, self.view_gid)
        return sock

    @property
    def clients(self) -> int:
        """Readers connected now."""
        with self._lock:
            return len(self._clients)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run (no reader will come)."""
        return self._stop.is_set()

    def wait_for_client(self, timeout_s: float | None = None, stop: threading.Event | None = None) -> bool:
        """Block until a reader is connected (True), the timeout passes or ``stop`` is set (False)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._joined:
            while not self._clients:
                if (stop is not None and stop.is_set()) or self._stop.is_set():
                    return False
                left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if left <= 0:
                    return False
                self._joined.wait(left)
            return True

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._sock], [], [], 0.1)
            if not ready:
                continue
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._admit(conn)

    def _admit(self, conn: socket.socket) -> None:
        try:
            peer = peer_credentials(conn)
        except OSError as exc:  # cannot tell who it is: refuse
            log.warning("refused a frame reader whose credentials could not be read: %s", exc)
            conn.close()
            return
        with self._lock:
            full = len(self._clients) >= self.max_clients
            if full or not may_view(peer, view_gid=self.view_gid, owner_uid=self._owner):
                self.stats.refused += 1
                self.stats.refused_uids.append(peer.uid)
                log.warning(
                    "refused frame reader uid %d pid %d (%s)", peer.uid, peer.pid, "full" if full else "not in group"
                )
                conn.close()
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CLIENT_SNDBUF)
            conn.setblocking(False)
            self._clients.append(_Client(conn, peer))
            self.stats.accepted += 1
            self._joined.notify_all()
        log.info("frame reader uid %d pid %d connected", peer.uid, peer.pid)

    def send(self, header: FrameHeader, bgr: np.ndarray) -> int:
        """Send one frame to every reader (never blocks: a full reader misses it); returns readers reached."""
        with self._lock:
            if not self._clients:
                return 0
            header = dataclasses.replace(header, seq=self._seq)
            self._seq += 1
            data = header.to_bytes()
            fd = seal_pixels(bgr)
            try:
                return sum(self._send_one(c, data, fd) for c in list(self._clients))
            finally:
                os.close(fd)

    def _send_one(self, client: _Client, data: bytes, fd: int | None) -> bool:
        fds = [] if fd is None else [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
        try:
            client.sock.sendmsg([data], fds, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
        except BlockingIOError:
            client.dropped += 1
            self.stats.dropped += 1
            return False
        except OSError as exc:  # the reader went away
            log.info("frame reader uid %d left (%s)", client.peer.uid, exc.strerror)
            self._clients.remove(client)
            client.sock.close()
            return False
        client.sent += 1
        self.stats.sent += 1
        return True

    def close(self) -> None:
        """Tell readers the stream ended, disconnect them and remove the socket (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=1.0)
        with self._lock:
            end = end_header(self._seq).to_bytes()
            for c in list(self._clients):
                self._send_one(c, end, None)
                c.sock.close()
            self._clients.clear()
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _remove_stale(path: str) -> None:
    """Remove a socket left by a dead daemon; refuse if a live one answers or it is not a socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ConfigError(f"{path} exists and is not a socket; remove it or choose another --socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: stale
        return
    finally:
        probe.close()
    raise ConfigError(f"another camerad is already serving {path}")


# -- a reader's side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedFrame:
    """A frame read from the socket: its header and ``(H, W, 3) uint8`` BGR pixels (read-only)."""

    header: FrameHeader
    bgr: np.ndarray


class FrameClient:
    """Reads released frames from the daemon's socket.

    Raises:
        ConnectionError: the daemon is not there (after ``connect_timeout_s``), or refused us.
    """

    def __init__(self, path: str = DEFAULT_SOCKET, *, connect_timeout_s: float = 0.0) -> None:
        self.path = path
        self._sock = _connect(path, connect_timeout_s)

    def receive(self, timeout_s: float | None = None) -> ReceivedFrame | None:
        """The next frame; None when the stream ended (clean end or the daemon went away).

        Raises:
            TimeoutError: nothing came within ``timeout_s``.
            ProtocolError: a malformed message.
        """
        self._sock.settimeout(timeout_s)
        fd_space = socket.CMSG_SPACE(4 * array.array("i").itemsize)
        data, ancdata, flags, _ = self._sock.recvmsg(HEADER_SIZE + 1, fd_space)
        fds = _fds(ancdata)
        try:
            if not data:
                return None  # the daemon closed the connection (it may have died): no more frames
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise ProtocolError("frame message truncated")
            header = FrameHeader.from_bytes(data)
            if header.kind is Kind.END:
                return None
            if len(fds) != 1:
                raise ProtocolError(f"a frame message must carry exactly one memfd, got {len(fds)}")
            return ReceivedFrame(header, read_pixels(fds[0], header))
        finally:
            for fd in fds:
                os.close(fd)

    def fileno(self) -> int:
        """The socket's descriptor (for select)."""
        return self._sock.fileno()

    def close(self) -> None:
        """Disconnect (idempotent)."""
        self._sock.close()

    def __enter__(self) -> FrameClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fds(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    out: list[int] = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(payload[: len(payload) - len(payload) % a.itemsize])
            out.extend(a)
    return out


def _connect(path: str, timeout_s: float) -> socket.socket:
    deadline = time.monotonic() + timeout_s
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            sock.connect(path)
            return sock
        except OSError as exc:
            sock.close()
            if time.monotonic() >= deadline:
                raise ConnectionError(f"cannot connect to the camera daemon at {path}: {exc.strerror or exc}") from exc
            time.sleep(0.1)

"""The frame protocol: header encode/decode (tables), sealed memfds, server/client, SocketSink."""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from captureguard import ConfigError, Decision, Frame, Release, Verdict
from captureguard.chokepoint.camerad import SocketSink
from captureguard.chokepoint.framesock import (
    HEADER_SIZE,
    SHOWN,
    FrameClient,
    FrameHeader,
    FrameServer,
    Kind,
    ProtocolError,
    read_pixels,
    seal_pixels,
)
from captureguard.chokepoint.peercred import PeerCred, may_view, peer_credentials
from captureguard.guard.allowed import mint_frame

H = FrameHeader(
    width=64, height=48, seq=3, index=7, timestamp_us=233_333, release=Release.CHECKED, decision=Decision.ALLOW
)


def test_header_round_trip() -> None:
    data = H.to_bytes()
    assert len(data) == HEADER_SIZE == 64
    assert FrameHeader.from_bytes(data) == H
    assert H.nbytes == 64 * 48 * 3


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (H.to_bytes()[:-1], "64 bytes"),
        (b"XXXX" + H.to_bytes()[4:], "not a captureguard"),
        (H.to_bytes()[:4] + b"\x09" + H.to_bytes()[5:], "not a captureguard"),  # version
        (H.to_bytes()[:5] + b"\x07" + H.to_bytes()[6:], "kind"),
        (H.to_bytes()[:6] + b"\x09" + H.to_bytes()[7:], "release"),
        (H.to_bytes()[:8] + b"RGB3" + H.to_bytes()[12:], "format"),
        (H.to_bytes()[:20] + (65).to_bytes(4, "little") + H.to_bytes()[24:], "stride"),
    ],
    ids=["short", "magic", "version", "kind", "release", "format", "stride"],
)
def test_bad_headers_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        FrameHeader.from_bytes(data)


@pytest.mark.parametrize(
    "change",
    [
        {"release": Release.CHECKED, "decision": Decision.BLOCK},
        {"release": Release.COVERED, "decision": Decision.WARN},
        {"width": 0},
        {"height": 20000},
        {"index": -1},
    ],
    ids=["checked-but-blocked", "covered-but-warned", "zero-width", "too-tall", "negative-index"],
)
def test_headers_breaking_the_rules_cannot_be_encoded(change: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        dataclasses.replace(H, **change).to_bytes()  # type: ignore[arg-type]


def test_placeholder_may_carry_a_block() -> None:
    for release in Release:
        if release not in SHOWN:
            h = dataclasses.replace(H, release=release, decision=Decision.BLOCK)
            assert FrameHeader.from_bytes(h.to_bytes()).release is release


def test_pixels_travel_in_a_sealed_memfd() -> None:
    bgr = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    fd = seal_pixels(bgr)
    try:
        with pytest.raises(PermissionError):
            os.pwrite(fd, b"x", 0)  # sealed: nobody can change the released bytes
        out = read_pixels(fd, H)
        assert np.array_equal(out, bgr) and not out.flags.writeable
        with pytest.raises(ProtocolError, match="header says"):
            read_pixels(fd, dataclasses.replace(H, width=32))
    finally:
        os.close(fd)


def test_unsealed_memfd_is_refused() -> None:
    fd = os.memfd_create("x", os.MFD_ALLOW_SEALING)
    try:
        os.write(fd, bytes(H.nbytes))
        with pytest.raises(ProtocolError, match="not sealed"):
            read_pixels(fd, H)
    finally:
        os.close(fd)


def frame(index: int, value: int = 100) -> Frame:
    return Frame.from_bgr(np.full((48, 64, 3), value, np.uint8), index=index, timestamp_s=index / 30)


SAFE = Verdict(Decision.ALLOW, 0.0)


@pytest.fixture
def server(tmp_path: Path) -> FrameServer:
    s = FrameServer(str(tmp_path / "frames.sock"), view_gid=None)
    yield s
    s.close()


def test_server_to_client_round_trip(server: FrameServer) -> None:
    with FrameClient(server.path, connect_timeout_s=2) as client:
        assert server.wait_for_client(2)
        sink = SocketSink(server)
        sink.write(mint_frame(frame(5, 7), Release.CHECKED, SAFE))
        got = client.receive(timeout_s=2)
        assert got is not None and got.header.index == 5 and got.header.release is Release.CHECKED
        assert np.array_equal(got.bgr, frame(5, 7).bgr)
        server.close()
        assert client.receive(timeout_s=2) is None  # clean end of stream


def test_socket_sink_refuses_unchecked_frames(server: FrameServer) -> None:
    with pytest.raises(TypeError, match="AllowedFrame"):
        SocketSink(server).write(frame(1))  # type: ignore[arg-type]


def test_socket_file_is_not_world_accessible(server: FrameServer) -> None:
    assert os.stat(server.path).st_mode & 0o777 == 0o660


def test_a_second_daemon_on_the_same_socket_is_refused(server: FrameServer) -> None:
    with pytest.raises(ConfigError, match="already serving"):
        FrameServer(server.path)


def test_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    dead.bind(path)
    dead.close()  # a daemon that died left its socket file
    FrameServer(path).close()


def test_slow_reader_misses_frames_instead_of_blocking_the_daemon(server: FrameServer) -> None:
    with FrameClient(server.path, connect_timeout_s=2) as client:
        assert server.wait_for_client(2)
        sink = SocketSink(server)
        done = threading.Event()

        def flood() -> None:
            for i in range(200):
                sink.write(mint_frame(frame(i), Release.CHECKED, SAFE))
            done.set()

        threading.Thread(target=flood, daemon=True).start()
        assert done.wait(10), "the daemon blocked on a reader that does not read"
        assert server.stats.dropped > 0
        got = client.receive(timeout_s=2)
        assert got is not None and got.header.kind is Kind.FRAME


@pytest.mark.parametrize(
    ("peer", "view_gid", "ok"),
    [
        (PeerCred(1, 0, 0), None, True),
        (PeerCred(1, 500, 500), None, True),  # the daemon's own user
        (PeerCred(1, 1000, 1000), None, False),
        (PeerCred(1, 1000, 1000, (27, 990)), 990, True),
        (PeerCred(1, 1000, 990), 990, True),
        (PeerCred(1, 1000, 1000, (27,)), 990, False),
    ],
    ids=["root", "owner", "stranger-no-group", "member-supplementary", "member-primary", "not-member"],
)
def test_may_view(peer: PeerCred, view_gid: int | None, ok: bool) -> None:
    assert may_view(peer, view_gid=view_gid, owner_uid=500) is ok


def test_peer_credentials_of_a_socketpair() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        cred = peer_credentials(a)
    assert (cred.pid, cred.uid, cred.gid) == (os.getpid(), os.geteuid(), os.getegid())
    assert set(os.getgroups()) <= cred.all_gids | {os.getegid()}

"""The user-ID boundary: a root:cgcam 0660 device node opens for the daemon's user only, and the
frame socket refuses a uid outside cgview (file mode first, SO_PEERCRED second).

Needs root to create throwaway users and groups (removed afterwards); skips otherwise.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from captureguard import Decision, Frame, Release, Verdict
from captureguard.chokepoint.camerad import SocketSink
from captureguard.chokepoint.framesock import FrameServer
from captureguard.guard.allowed import mint_frame

PROBE = r"""
import errno, os, socket, sys
what, path = sys.argv[1], sys.argv[2]
if what == "open":
    try:
        os.close(os.open(path, os.O_RDWR))
        print("opened")
    except OSError as e:
        print(errno.errorcode[e.errno])
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.connect(path)
    except OSError as e:
        print(errno.errorcode[e.errno]); sys.exit()
    s.settimeout(5)
    data, anc, flags, _ = s.recvmsg(65, socket.CMSG_SPACE(16))
    print("frame" if data and anc else "eof" if not data else "header-only")
"""


@dataclass
class Accounts:
    cam_group: str
    view_group: str
    daemon: str
    viewer: str
    stranger: str


def run(*cmd: str) -> None:
    subprocess.run(list(cmd), check=True, timeout=60, capture_output=True)


@pytest.fixture(scope="module")
def accounts() -> Iterator[Accounts]:
    if os.geteuid() != 0:
        pytest.skip("creating throwaway users and groups needs root")
    for tool in ("useradd", "groupadd", "setpriv"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    tag = secrets.token_hex(3)
    a = Accounts(f"cgt-cam-{tag}", f"cgt-view-{tag}", f"cgt-d-{tag}", f"cgt-v-{tag}", f"cgt-s-{tag}")
    made_users, made_groups = [], []
    try:
        for g in (a.cam_group, a.view_group):
            run("groupadd", "--system", g)
            made_groups.append(g)
        for user, groups in ((a.daemon, [a.cam_group]), (a.viewer, [a.view_group]), (a.stranger, [])):
            run(
                "useradd",
                "--system",
                "--no-create-home",
                "-s",
                "/usr/sbin/nologin",
                *(["-G", ",".join(groups)] if groups else []),
                user,
            )
            made_users.append(user)
        yield a
    finally:
        for user in made_users:
            subprocess.run(["userdel", user], check=False, timeout=60, capture_output=True)
        for g in made_groups:
            subprocess.run(["groupdel", g], check=False, timeout=60, capture_output=True)


def as_user(user: str, what: str, path: str) -> str:
    setpriv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"]
    probe = [sys.executable, "-I", "-c", PROBE, what, path]
    out = subprocess.run([*setpriv, *probe], capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cg-perm-"))
    path.chmod(0o755)  # reachable by the throwaway users
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_camera_node_opens_for_the_daemon_user_only(accounts: Accounts, shared_dir: Path) -> None:
    node = shared_dir / "video0"
    try:
        os.mknod(node, 0o660 | stat.S_IFCHR, os.makedev(81, 250))  # a video4linux stand-in with no driver
    except PermissionError:
        pytest.skip("mknod is not permitted here (no CAP_MKNOD)")
    os.chown(node, 0, grp.getgrnam(accounts.cam_group).gr_gid)
    os.chmod(node, 0o660)
    # Past the permission check the kernel finds no driver: ENXIO/ENODEV means "allowed to open".
    assert as_user(accounts.daemon, "open", str(node)) in ("opened", "ENXIO", "ENODEV", "EPERM")
    assert as_user(accounts.daemon, "open", str(node)) != "EACCES"
    assert as_user(accounts.viewer, "open", str(node)) == "EACCES"
    assert as_user(accounts.stranger, "open", str(node)) == "EACCES"


def send_until_read(server: FrameServer, user: str, sock: Path) -> tuple[str, int]:
    result: list[str] = []
    t = threading.Thread(target=lambda: result.append(as_user(user, "read", str(sock))))
    t.start()
    sink = SocketSink(server)
    item = mint_frame(Frame.from_bgr(np.zeros((8, 8, 3), np.uint8)), Release.CHECKED, Verdict(Decision.ALLOW, 0.0))
    while t.is_alive():
        sink.write(item)
        t.join(0.05)
    return result[0], server.stats.refused


def test_socket_admits_cgview_and_refuses_others(accounts: Accounts, shared_dir: Path) -> None:
    gid = grp.getgrnam(accounts.view_group).gr_gid
    sock = shared_dir / "frames.sock"
    server = FrameServer(str(sock), view_gid=gid, mode=0o660)
    try:
        assert send_until_read(server, accounts.viewer, sock) == ("frame", 0)
        assert as_user(accounts.stranger, "read", str(sock)) == "EACCES"  # the file mode stops it
    finally:
        server.close()
    # A socket left world-writable by mistake: SO_PEERCRED still refuses the stranger.
    server = FrameServer(str(sock), view_gid=gid, mode=0o666)
    try:
        got, refused = send_until_read(server, accounts.stranger, sock)
        assert (got, refused) == ("eof", 1)
        assert server.stats.refused_uids == [pwd.getpwnam(accounts.stranger).pw_uid]
    finally:
        server.close()

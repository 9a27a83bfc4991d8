"""Who is on the other end of a Unix socket, and may they see the guarded camera.

The socket's file mode (``0660``, group ``cgview``) is the first gate; this is the second:
the daemon asks the kernel for the peer's credentials (``SO_PEERCRED``: pid, uid, primary gid;
``SO_PEERGROUPS``: supplementary groups, Linux >= 4.13) and refuses anyone outside the group,
so a socket left world-writable by mistake, or a descriptor handed on, still gets nothing.
"""

from __future__ import annotations

import array
import grp
import os
import socket
import struct
from dataclasses import dataclass

#: ``SO_PEERGROUPS`` from ``<asm-generic/socket.h>`` (Python's socket module does not name it).
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
_UCRED = struct.Struct("3i")  # struct ucred: pid_t pid, uid_t uid, gid_t gid


@dataclass(frozen=True)
class PeerCred:
    """The kernel's word on a connected peer: pid, uid, primary gid and supplementary gids."""

    pid: int
    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    @property
    def all_gids(self) -> frozenset[int]:
        """Primary and supplementary groups."""
        return frozenset((self.gid, *self.groups))


def peer_credentials(sock: socket.socket) -> PeerCred:
    """Read the peer's credentials of a connected ``AF_UNIX`` socket.

    Raises:
        OSError: the socket is not a connected Unix socket.
    """
    pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return PeerCred(pid, uid, gid, _peer_groups(sock))


def _peer_groups(sock: socket.socket) -> tuple[int, ...]:
    size = 4 * 64
    for _ in range(4):  # the kernel answers ERANGE when the buffer is too small
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, size)
        except OSError as exc:
            if exc.errno == 34 and size < 4 * 65536:  # ERANGE
                size *= 16
                continue
            return ()  # an old kernel: the primary gid and the file mode still apply
        gids = array.array("I")
        gids.frombytes(raw[: len(raw) - len(raw) % 4])
        return tuple(gids)
    return ()


def may_view(peer: PeerCred, *, view_gid: int | None, owner_uid: int) -> bool:
    """True when ``peer`` may receive guarded frames.

    Allowed: root, the daemon's own user, and members of ``view_gid``. With ``view_gid=None``
    (a single user running the daemon without installing it) only root and the owner are.
    """
    if peer.uid in (0, owner_uid):
        return True
    return view_gid is not None and view_gid in peer.all_gids


def group_id(name: str | None) -> int | None:
    """The gid of group ``name`` (None for None).

    Raises:
        KeyError: no such group.
    """
    if name is None:
        return None
    return grp.getgrnam(name).gr_gid


def own_uid() -> int:
    """This process's effective uid."""
    return os.geteuid()

"""``captureguard doctor``: is any real camera reachable outside the guard?

Lists camera-class device nodes (V4L2 video, media controllers, sub-devices, raw USB video-class
and PTP still-image cameras) with their owner, mode and ACL entries; the services' state; and the
PipeWire video sources this user can see. Exit 1 (saying what to fix) when a real camera can be
opened by anyone but root and camerad's group ``cgcam``, or when PipeWire offers a real camera.

The judging functions are pure (tables in the tests); gathering reads ``/dev``, ``/sys``,
``systemctl`` and ``pw-dump``.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import shutil
import stat
import struct
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CAM_GROUP, VIEW_GROUP = "cgcam", "cgview"
NODE_NAME = "captureguard-camera"
_V4L_GLOBS = {"video4linux": "video*", "media": "media*", "v4l-subdev": "v4l-subdev*"}
_USB_CLASSES = {"0e": "usb-video", "06": "usb-ptp"}  # bInterfaceClass: video, still image (PTP)
_ACL_USER, _ACL_GROUP = 0x02, 0x08
FIX_UDEV = "install the udev rule and re-trigger: sudo make install-chokepoint (or udevadm trigger)"


@dataclass(frozen=True)
class DeviceNode:
    """One camera-class device node and who can open it (no pixels, no device data)."""

    path: str
    kind: str
    real: bool
    owner: str
    group: str
    mode: int
    acl: tuple[tuple[str, str, int], ...] = ()  # ("user"|"group", name, perm bits rwx)
    links: tuple[str, ...] = ()  # /dev/v4l/by-id, by-path names pointing at it

    def describe(self) -> str:
        """``/dev/video0 (real video4linux, root:cgcam 0660, ACL user alice rw-)``."""
        acl = "".join(f", ACL {t} {n} {_rwx(p)}" for t, n, p in self.acl)
        where = "real" if self.real else "virtual"
        return f"{self.path} ({where} {self.kind}, {self.owner}:{self.group} {self.mode:04o}{acl})"


@dataclass(frozen=True)
class Finding:
    """``level``: ok, warn or fail; ``fix`` says what to do."""

    level: str
    what: str
    fix: str = ""


def _rwx(perm: int) -> str:
    return "".join(c if perm & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))


def judge_device(node: DeviceNode, *, caller_can_open: bool, caller: str) -> list[Finding]:
    """Who besides root and ``cgcam`` can open a real camera node (pure)."""
    if not node.real:
        return [Finding("ok", f"{node.describe()}: virtual (loopback): carries only guarded frames")]
    need = 0o2 if node.kind.startswith("usb") else 0o6  # usbfs: reading gives descriptors only
    problems = []
    if node.mode & need:
        problems.append("every user can open it (mode)")
    if node.mode & (need << 3) and node.group not in (CAM_GROUP, "root"):
        problems.append(f"members of group {node.group} can open it")
    problems += [f"ACL gives {t} {n} {_rwx(p)}" for t, n, p in node.acl if p & need]
    if caller_can_open:
        problems.append(f"this user ({caller}) can open it now")
    if not problems:
        return [Finding("ok", f"{node.describe()}: only root and {CAM_GROUP} can open it")]
    return [Finding("fail", f"{node.describe()}: {'; '.join(problems)}", FIX_UDEV)]


def judge_sources(sources: list[dict[str, Any]] | None, *, real_device: Any) -> list[Finding]:
    """PipeWire ``Video/Source`` nodes (pw-dump ``info.props``): only the guarded one may be real (pure).

    ``real_device(path) -> bool`` says whether a V4L2 device path is a real camera.
    """
    if sources is None:
        return [Finding("warn", "could not ask PipeWire for video sources (pw-dump missing or no session)")]
    out, ours = [], 0
    for props in sources:
        name = str(props.get("node.name", "?"))
        v4l2 = props.get("api.v4l2.path") or (props.get("device.api") == "v4l2" and props.get("object.path"))
        if name == NODE_NAME or name.startswith(NODE_NAME):
            ours += 1
            out.append(Finding("ok", f"PipeWire source {name}: the guarded camera"))
        elif props.get("device.api") == "libcamera" or props.get("api.libcamera.path"):
            out.append(Finding("fail", f"PipeWire source {name}: a real camera through libcamera", _FIX_WP))
        elif isinstance(v4l2, str) and v4l2.startswith("/dev/") and real_device(v4l2):
            out.append(Finding("fail", f"PipeWire source {name}: the real camera {v4l2}", _FIX_WP))
        elif isinstance(v4l2, str):
            out.append(Finding("ok", f"PipeWire source {name}: {v4l2} (virtual: guarded output)"))
        else:
            out.append(Finding("warn", f"PipeWire source {name}: published by an app, not a camera device"))
    if not ours:
        out.append(
            Finding(
                "warn",
                f"no {NODE_NAME} in PipeWire: apps have no camera",
                "systemctl --user start captureguard-publish",
            )
        )
    return out


_FIX_WP = "install the WirePlumber drop-ins (sudo make install-chokepoint) and restart wireplumber"


# -- gathering ----------------------------------------------------------------------------------


def find_devices(dev: Path = Path("/dev"), sys: Path = Path("/sys")) -> list[DeviceNode]:
    """Camera-class device nodes under ``dev`` (``sys`` says which are virtual)."""
    links = _links(dev)
    nodes = []
    for kind, pattern in _V4L_GLOBS.items():
        for path in sorted(dev.glob(pattern)):
            if kind == "video4linux" and not path.name[5:].isdigit():
                continue
            nodes.append(_node(path, kind, _is_real_v4l(path.name, sys), links))
    for path, kind in _usb_cameras(dev, sys):
        nodes.append(_node(path, kind, True, links))
    return nodes


def _is_real_v4l(name: str, sys: Path) -> bool:
    for cls in ("class/video4linux", "bus/media/devices"):
        entry = sys / cls / name
        if entry.exists():
            return "/devices/virtual/" not in os.path.realpath(entry)
    return True  # unknown to sysfs: assume real (fail safe)


def _usb_cameras(dev: Path, sys: Path) -> list[tuple[Path, str]]:
    out = []
    for iface in sorted((sys / "bus/usb/devices").glob("*:*")):
        kind = _USB_CLASSES.get(_read(iface / "bInterfaceClass"))
        parent = iface.parent if (iface.parent / "busnum").exists() else Path(os.path.realpath(iface)).parent
        bus, num = _read(parent / "busnum"), _read(parent / "devnum")
        if kind and bus.isdigit() and num.isdigit():
            node = dev / "bus/usb" / f"{int(bus):03d}" / f"{int(num):03d}"
            if node.exists() and (node, kind) not in out:
                out.append((node, kind))
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _links(dev: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in ("v4l/by-id", "v4l/by-path"):
        for link in sorted((dev / d).glob("*")):
            out.setdefault(os.path.realpath(link), []).append(str(link))
    return out


def _node(path: Path, kind: str, real: bool, links: dict[str, list[str]]) -> DeviceNode:
    st = path.stat()
    return DeviceNode(
        str(path), kind, real, _user(st.st_uid), _group(st.st_gid), stat.S_IMODE(st.st_mode), read_acl(path),
        tuple(links.get(os.path.realpath(path), ())),
    )  # fmt: skip


def read_acl(path: Path) -> tuple[tuple[str, str, int], ...]:
    """Named user/group entries of the POSIX access ACL (``system.posix_acl_access``)."""
    try:
        raw = os.getxattr(path, "system.posix_acl_access")
    except OSError:
        return ()
    return parse_acl(raw)


def parse_acl(raw: bytes) -> tuple[tuple[str, str, int], ...]:
    """Decode the kernel's ACL xattr (version 2: 4-byte header, 8-byte entries) (pure)."""
    out = []
    for off in range(4, len(raw) - 7, 8):
        tag, perm, ident = struct.unpack_from("<HHI", raw, off)
        if tag == _ACL_USER:
            out.append(("user", _user(ident), perm))
        elif tag == _ACL_GROUP:
            out.append(("group", _group(ident), perm))
    return tuple(out)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def pipewire_sources(timeout_s: float = 5.0) -> list[dict[str, Any]] | None:
    """``info.props`` of every PipeWire node whose media.class is a video source; None if unknown."""
    if shutil.which("pw-dump") is None:
        return None
    try:
        done = subprocess.run(["pw-dump"], capture_output=True, timeout=timeout_s, check=True)
        objects = json.loads(done.stdout or b"[]")
    except (subprocess.SubprocessError, json.JSONDecodeError, OSError):
        return None
    return video_sources(objects)


def video_sources(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Props of the ``Video/Source`` nodes in a ``pw-dump`` document (pure)."""
    out = []
    for o in objects:
        props = (o.get("info") or {}).get("props") or {}
        if str(o.get("type", "")).endswith(":Node") and str(props.get("media.class", "")).startswith("Video/Source"):
            out.append(props)
    return out


def service_state(unit: str, *, user: bool = False) -> str:
    """``systemctl is-active`` of a unit, or ``unknown`` (no systemd here)."""
    if shutil.which("systemctl") is None:
        return "unknown"
    cmd = ["systemctl", *(["--user"] if user else []), "is-active", unit]
    try:
        return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=5).stdout.strip() or "unknown"
    except (subprocess.SubprocessError, OSError):
        return "unknown"


@dataclass
class Report:
    """Everything doctor found."""

    devices: list[DeviceNode] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    services: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Any finding at level fail."""
        return any(f.level == "fail" for f in self.findings)


def examine(
    *, dev: Path, sys: Path, socket_path: str, ask_pipewire: bool, held_socket_path: str | None = None
) -> Report:
    """Gather and judge (``held_socket_path``: camerad's held socket, which may be off)."""
    report = Report(devices=find_devices(dev, sys))
    me, root = _user(os.geteuid()), os.geteuid() == 0
    for node in report.devices:
        can_open = not root and os.access(node.path, os.R_OK | os.W_OK)
        report.findings += judge_device(node, caller_can_open=can_open, caller=me)
    if not any(d.real for d in report.devices):
        report.findings.append(Finding("ok", "no real camera device nodes found"))
    report.services = {
        "captureguard-camerad.service": service_state("captureguard-camerad.service"),
        "captureguard-publish.service (user)": service_state("captureguard-publish.service", user=True),
        "captureguard-publish-held.service (user)": service_state("captureguard-publish-held.service", user=True),
    }
    report.findings += _judge_socket(socket_path)
    if held_socket_path is not None:
        report.findings += _judge_socket(held_socket_path, held=True)
    if ask_pipewire:
        report.findings += judge_sources(pipewire_sources(), real_device=lambda p: _is_real_v4l(Path(p).name, sys))
    return report


def _judge_socket(path: str, *, held: bool = False) -> list[Finding]:
    try:
        st = os.stat(path)
    except OSError:
        if held:  # optional: camerad's held_socket = "none", or camerad is not running
            return [Finding("ok", f"no held socket at {path} (off, or camerad is not running)")]
        return [
            Finding(
                "warn", f"no frame socket at {path}: camerad is not running", "systemctl start captureguard-camerad"
            )
        ]
    if st.st_mode & 0o006:
        return [Finding("fail", f"{path} is open to every user (mode {stat.S_IMODE(st.st_mode):04o})", "chmod 0660 it")]
    return [Finding("ok", f"{path}: {_user(st.st_uid)}:{_group(st.st_gid)} {stat.S_IMODE(st.st_mode):04o}")]


def run_doctor(args: argparse.Namespace) -> int:
    """``captureguard doctor``: print the report; exit 1 when a real camera is reachable outside the guard."""
    report = examine(
        dev=Path(args.dev),
        sys=Path(args.sys),
        socket_path=args.socket,
        ask_pipewire=not args.no_pipewire,
        held_socket_path=getattr(args, "held_socket", None),
    )
    if args.json:
        doc = {
            "ok": not report.failed,
            "devices": [asdict(d) for d in report.devices],
            "services": report.services,
            "findings": [asdict(f) for f in report.findings],
        }
        print(json.dumps(doc, indent=2))
    else:
        for unit, state in report.services.items():
            print(f"service {unit}: {state}")
        for f in report.findings:
            print(f"{f.level.upper():4} {f.what}" + (f"\n     fix: {f.fix}" if f.fix and f.level != "ok" else ""))
        print("doctor: " + ("FAIL: a real camera is reachable outside the guard" if report.failed else "ok"))
    return 1 if report.failed else 0

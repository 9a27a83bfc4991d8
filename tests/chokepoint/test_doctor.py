"""doctor: who can open a camera (tables), ACL decoding, PipeWire sources, and a run on a fake /dev."""

from __future__ import annotations

import argparse
import json
import os
import struct
from pathlib import Path

import pytest

from captureguard.chokepoint.doctor import (
    DeviceNode,
    find_devices,
    judge_device,
    judge_sources,
    parse_acl,
    run_doctor,
    video_sources,
)


def node(**kw: object) -> DeviceNode:
    base: dict[str, object] = {
        "path": "/dev/video0", "kind": "video4linux", "real": True, "owner": "root", "group": "cgcam", "mode": 0o660,
    }  # fmt: skip
    return DeviceNode(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("device", "can_open", "level", "says"),
    [
        (node(), False, "ok", "only root and cgcam"),
        (node(group="video"), False, "fail", "group video"),
        (node(mode=0o666), False, "fail", "every user"),
        (node(acl=(("user", "alice", 6),)), False, "fail", "ACL gives user alice rw-"),
        (node(), True, "fail", "this user"),
        (node(real=False, group="video", mode=0o666), False, "ok", "virtual"),
        (node(kind="usb-video", path="/dev/bus/usb/001/004", group="root", mode=0o664), False, "ok", "only root"),
        (node(kind="usb-ptp", path="/dev/bus/usb/001/005", group="plugdev", mode=0o664), False, "fail", "plugdev"),
    ],
    ids=[
        "guarded",
        "video-group",
        "world",
        "uaccess-acl",
        "caller-can-open",
        "loopback",
        "usbfs-readonly",
        "ptp-plugdev",
    ],
)
def test_judge_device(device: DeviceNode, can_open: bool, level: str, says: str) -> None:
    (finding,) = judge_device(device, caller_can_open=can_open, caller="alice")
    assert finding.level == level and says in finding.what
    assert (finding.fix != "") is (level == "fail")


def test_parse_acl() -> None:
    entries = [(0x01, 6, 0xFFFFFFFF), (0x02, 6, 0), (0x04, 6, 0xFFFFFFFF), (0x08, 4, 0), (0x10, 6, 0xFFFFFFFF)]
    raw = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
    assert parse_acl(raw) == (("user", "root", 6), ("group", "root", 4))


@pytest.mark.parametrize(
    ("sources", "levels"),
    [
        ([{"node.name": "captureguard-camera"}], ["ok"]),
        (
            [{"node.name": "captureguard-camera"}, {"node.name": "v4l2_input.pci", "api.v4l2.path": "/dev/video0"}],
            ["ok", "fail"],
        ),
        ([{"node.name": "v4l2_input.loop", "api.v4l2.path": "/dev/video9"}], ["ok", "warn"]),
        ([{"node.name": "libcamera_input.x", "device.api": "libcamera"}], ["fail", "warn"]),
        ([], ["warn"]),
        (None, ["warn"]),
    ],
    ids=["guarded-only", "raw-v4l2", "loopback-only", "libcamera", "none", "no-pipewire"],
)
def test_judge_sources(sources: list[dict[str, object]] | None, levels: list[str]) -> None:
    found = judge_sources(sources, real_device=lambda p: p != "/dev/video9")
    assert [f.level for f in found] == levels


def test_video_sources_from_pw_dump() -> None:
    dump = [
        {"type": "PipeWire:Interface:Node", "info": {"props": {"media.class": "Video/Source", "node.name": "a"}}},
        {"type": "PipeWire:Interface:Node", "info": {"props": {"media.class": "Audio/Sink", "node.name": "b"}}},
        {"type": "PipeWire:Interface:Client", "info": {"props": {"media.class": "Video/Source"}}},
    ]
    assert [p["node.name"] for p in video_sources(dump)] == ["a"]


def fake_dev(tmp_path: Path, mode: int) -> tuple[Path, Path]:
    dev, sys = tmp_path / "dev", tmp_path / "sys"
    (dev / "v4l/by-id").mkdir(parents=True)
    (sys / "class/video4linux").mkdir(parents=True)
    (sys / "devices/virtual/video4linux/video9").mkdir(parents=True)
    (sys / "class/video4linux/video9").symlink_to(sys / "devices/virtual/video4linux/video9")
    for name in ("video0", "video9", "media0"):
        (dev / name).write_bytes(b"")  # stand-ins: doctor only looks at owner, mode and ACL
        os.chmod(dev / name, mode)
    (dev / "v4l/by-id/usb-Cam-video-index0").symlink_to(dev / "video0")
    return dev, sys


def doctor_args(dev: Path, sys: Path, tmp_path: Path) -> argparse.Namespace:
    return argparse.Namespace(
        json=True, dev=str(dev), sys=str(sys), socket=str(tmp_path / "none.sock"), no_pipewire=True
    )


def test_doctor_fails_when_a_real_camera_is_open_to_everyone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev, sys = fake_dev(tmp_path, 0o666)
    assert run_doctor(doctor_args(dev, sys, tmp_path)) == 1
    doc = json.loads(capsys.readouterr().out)
    by_path = {d["path"]: d for d in doc["devices"]}
    assert by_path[str(dev / "video0")]["real"] and not by_path[str(dev / "video9")]["real"]
    assert by_path[str(dev / "video0")]["links"] == [str(dev / "v4l/by-id/usb-Cam-video-index0")]
    failed = [f["what"] for f in doc["findings"] if f["level"] == "fail"]
    assert len(failed) == 2 and all("every user" in f for f in failed)  # video0 and media0, not the loopback


def test_doctor_passes_when_only_root_and_the_daemon_group_can_open(tmp_path: Path) -> None:
    dev, sys = fake_dev(tmp_path, 0o600)
    assert {n.path.rsplit("/", 1)[1] for n in find_devices(dev, sys)} == {"video0", "video9", "media0"}
    if os.geteuid() != 0:
        pytest.skip("as an ordinary user the stand-ins are ours, so we can open them: run as root")
    assert run_doctor(doctor_args(dev, sys, tmp_path)) == 0


def test_doctor_judges_the_held_socket_like_the_live_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    dev, sys = fake_dev(tmp_path, 0o600)
    args = doctor_args(dev, sys, tmp_path)
    args.held_socket = str(tmp_path / "held.sock")
    run_doctor(args)
    found = {f["what"]: f["level"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert found[f"no held socket at {args.held_socket} (off, or camerad is not running)"] == "ok"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as held:
        held.bind(args.held_socket)
        os.chmod(args.held_socket, 0o666)
        assert run_doctor(args) == 1, "a held socket every user can read is a way around the guard's groups"
        failed = [f["what"] for f in json.loads(capsys.readouterr().out)["findings"] if f["level"] == "fail"]
        assert any(args.held_socket in f and "every user" in f for f in failed), failed

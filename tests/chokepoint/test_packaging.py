"""The system files parse: udev rule (udevadm), units (systemd-analyze verify), install staging,
and the WirePlumber 0.4 drop-in loads (its libcamera monitor then stays off)."""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chokepoint.support import REPO, PipeWireSession, need_pipewire

PKG = REPO / "packaging"
RULE = PKG / "udev" / "71-captureguard.rules"
BINDIR = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"


def need_root_tool(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (apt-get install systemd udev)")


def test_rule_sorts_between_uaccess_and_seat_late() -> None:
    assert "70-uaccess.rules" < RULE.name < "73-seat-late.rules"


@pytest.fixture
def cgcam_group() -> Iterator[None]:
    """udev resolves GROUP= names: make cgcam exist for the test (root), removed afterwards."""
    try:
        grp.getgrnam("cgcam")
        yield
        return
    except KeyError:
        pass
    if os.geteuid() != 0:
        pytest.skip("group cgcam does not exist and this is not root (install-chokepoint creates it)")
    subprocess.run(["groupadd", "--system", "cgcam"], check=True, timeout=30)
    try:
        yield
    finally:
        subprocess.run(["groupdel", "cgcam"], check=False, timeout=30)


def udev_problems(rule_text: str) -> list[str]:
    """Lines udevadm reports about our rule file (it reads /run/udev/rules.d)."""
    if os.geteuid() != 0:
        pytest.skip("udevadm test reads rules from /run/udev/rules.d: needs root to place the rule there")
    target = Path("/run/udev/rules.d") / RULE.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(rule_text)
    try:
        out = subprocess.run(
            ["udevadm", "test", "/sys/class/mem/null"], capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        target.unlink()
    text = out.stdout + out.stderr
    assert f"Reading rules file: {target}" in text, text[-2000:]
    return [line for line in text.splitlines() if f"{target}:" in line]


@pytest.mark.usefixtures("cgcam_group")
def test_udevadm_parses_the_rule() -> None:
    need_root_tool("udevadm")
    assert udev_problems(RULE.read_text()) == []
    if subprocess.run(["udevadm", "verify", "--help"], capture_output=True, timeout=30, check=False).returncode == 0:
        out = subprocess.run(["udevadm", "verify", str(RULE)], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.usefixtures("cgcam_group")
def test_udevadm_check_can_fail() -> None:
    need_root_tool("udevadm")
    assert udev_problems(RULE.read_text() + 'SUBSYSTEM=="video4linux", GRUOP="x"\n')


def render_units(tmp: Path) -> list[Path]:
    out = []
    for unit in sorted((PKG / "systemd").glob("*.service")):
        path = tmp / unit.name
        path.write_text(unit.read_text().replace("@BINDIR@", str(BINDIR)).replace("@MODELDIR@", str(tmp)))
        out.append(path)
    return out


def verify(unit: Path, *, user: bool) -> str:
    runtime = tempfile.mkdtemp(prefix="cg-sa-")
    env = {**os.environ, "XDG_RUNTIME_DIR": runtime}
    cmd = ["systemd-analyze", *(["--user"] if user else []), "verify", str(unit)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    return f"rc={out.returncode} {out.stdout}{out.stderr}".strip()


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    need_root_tool("systemd-analyze")
    camerad, held, publish = render_units(tmp_path)
    assert verify(camerad, user=False) == "rc=0"
    assert verify(publish, user=True) == "rc=0"
    assert verify(held, user=True) == "rc=0"
    assert "captureguard publish --held" in held.read_text()
    text = camerad.read_text()
    hardening = ["User=captureguard", "DevicePolicy=closed", "DeviceAllow=char-video4linux rw", "PrivateNetwork=yes"]
    hardening += ["NoNewPrivileges=yes", "ProtectSystem=strict", "Restart=always"]
    for line in hardening:
        assert line in text


def test_systemd_check_can_fail(tmp_path: Path) -> None:
    need_root_tool("systemd-analyze")
    bad = tmp_path / "bad.service"
    bad.write_text(f"[Service]\nExecStart={BINDIR}/captureguard camerad\nDevicePolicy=clsoed\n")
    assert verify(bad, user=False) != "rc=0"


def test_install_script_stages_and_removes_every_file(tmp_path: Path) -> None:
    nothing_built = tmp_path / "no-models"
    nothing_built.mkdir()
    root = tmp_path / "root"
    env = {**os.environ, "DESTDIR": str(root), "PREFIX": "/opt/cg", "CAPTUREGUARD_MODEL_DIR": str(nothing_built)}
    script = str(PKG / "install-chokepoint.sh")
    out = subprocess.run(["sh", script, "install"], env=env, check=True, timeout=60, capture_output=True, text=True)
    assert "not staged" in out.stdout  # no model built: staging says so and builds nothing
    staged = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert "etc/udev/rules.d/71-captureguard.rules" in staged
    assert "etc/wireplumber/main.lua.d/51-captureguard.lua" in staged
    assert "etc/wireplumber/wireplumber.conf.d/51-captureguard.conf" in staged
    assert "etc/systemd/user/captureguard-publish-held.service" in staged
    unit = (root / "etc/systemd/system/captureguard-camerad.service").read_text()
    assert "ExecStart=/opt/cg/bin/captureguard camerad" in unit and "@BINDIR@" not in unit
    # the daemon's live check reads nsfwjs (v2.10's second look) from the installed models folder
    assert "Environment=CAPTUREGUARD_MODEL_DIR=/opt/cg/models" in unit and "@MODELDIR@" not in unit
    subprocess.run(["sh", script, "uninstall"], env=env, check=True, timeout=60, capture_output=True)
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert left == ["etc/captureguard/camerad.toml"], "uninstall keeps only the admin's settings"


@pytest.mark.slow
def test_wireplumber_04_dropin_loads_and_disables_libcamera(tmp_path: Path) -> None:
    need_pipewire()
    version = subprocess.run(["wireplumber", "--version"], capture_output=True, text=True, timeout=30, check=False)
    if "0.4." not in version.stdout:
        pytest.skip(f"the Lua drop-in is for WirePlumber 0.4; found {version.stdout.strip()!r}")
    conf = tmp_path / "wireplumber" / "main.lua.d"
    conf.mkdir(parents=True)
    shutil.copy(PKG / "wireplumber/0.4/main.lua.d/51-captureguard.lua", conf)
    logs = {}
    # WirePlumber logs its monitors as it loads them, a little after the session is up: the control
    # waits (up to 20 s) for the libcamera line; the drop-in run then waits twice as long before it
    # reads its log, so an absent line means "not loaded", not "not yet printed".
    waited_s = 2.0
    for name, config_home in (("without", None), ("with", tmp_path)):
        os.environ.pop("XDG_CONFIG_HOME", None)
        if config_home is not None:
            os.environ["XDG_CONFIG_HOME"] = str(config_home)
        try:
            s = PipeWireSession()
        finally:
            os.environ.pop("XDG_CONFIG_HOME", None)
        try:
            t0 = time.monotonic()
            if name == "without":
                while "libcamera" not in s.procs.log("session") and time.monotonic() - t0 < 20.0:
                    time.sleep(0.2)
                waited_s = max(waited_s, 2 * (time.monotonic() - t0))
            else:
                time.sleep(waited_s)
            logs[name] = s.procs.log("session")
        finally:
            s.close()
    assert "libcamera" in logs["without"], "control: without the drop-in the libcamera monitor loads"
    assert "libcamera" not in logs["with"], logs["with"]
    errors = [line for line in logs["with"].splitlines() if line.startswith("E ") or "51-captureguard" in line]
    assert errors == [], logs["with"]


def test_install_script_copies_a_built_model_only_when_its_checksum_matches(tmp_path: Path) -> None:
    """camerad's live check needs nsfwjs (89 MB, built by ``make nsfwjs-model``, in no wheel): the
    installer copies the one ``make install`` built into $PREFIX/models, checked against
    tools/nsfwjs/SHA256; a file that does not match is never installed."""
    from captureguard.models.nsfwjs import NSFWJS_MODEL_FILE
    from captureguard.models.runtime import model_cache_dir

    script = str(PKG / "install-chokepoint.sh")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "nsfwjs_inception_v3.onnx").write_bytes(b"not the model")
    env = {**os.environ, "DESTDIR": str(tmp_path / "a"), "PREFIX": "/opt/cg", "CAPTUREGUARD_MODEL_DIR": str(fake)}
    out = subprocess.run(["sh", script, "install"], env=env, check=True, timeout=60, capture_output=True, text=True)
    assert "does not match" in out.stdout
    assert not (tmp_path / "a/opt/cg/models/nsfwjs_inception_v3.onnx").exists()
    built = model_cache_dir() / NSFWJS_MODEL_FILE
    if not built.exists():
        pytest.skip(f"{built} not built (make nsfwjs-model)")
    env |= {"DESTDIR": str(tmp_path / "b"), "CAPTUREGUARD_MODEL_DIR": str(built.parent)}
    out = subprocess.run(["sh", script, "install"], env=env, check=True, timeout=120, capture_output=True, text=True)
    copied = tmp_path / "b/opt/cg/models/nsfwjs_inception_v3.onnx"
    assert "copied" in out.stdout and copied.read_bytes() == built.read_bytes()


def test_install_script_copies_the_hand_models_only_when_their_checksums_match(tmp_path: Path) -> None:
    """camerad's live check has a hand pass since v2.11: MediaPipe's two hand models (built by
    ``make hand-models``) are installed like nsfwjs, each checked against tools/hands/SHA256."""
    from captureguard.models.hands import LANDMARK_MODEL_FILE, PALM_MODEL_FILE
    from captureguard.models.runtime import model_cache_dir

    script = str(PKG / "install-chokepoint.sh")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / PALM_MODEL_FILE).write_bytes(b"not the model")
    env = {**os.environ, "DESTDIR": str(tmp_path / "a"), "PREFIX": "/opt/cg", "CAPTUREGUARD_MODEL_DIR": str(fake)}
    out = subprocess.run(["sh", script, "install"], env=env, check=True, timeout=60, capture_output=True, text=True)
    assert f"{PALM_MODEL_FILE} does not match tools/hands/SHA256" in out.stdout
    assert f"{LANDMARK_MODEL_FILE} not staged" in out.stdout
    assert not (tmp_path / "a/opt/cg/models" / PALM_MODEL_FILE).exists()
    built = model_cache_dir()
    if not all((built / n).exists() for n in (PALM_MODEL_FILE, LANDMARK_MODEL_FILE)):
        pytest.skip(f"hand models not built in {built} (make hand-models)")
    env |= {"DESTDIR": str(tmp_path / "b"), "CAPTUREGUARD_MODEL_DIR": str(built)}
    out = subprocess.run(["sh", script, "install"], env=env, check=True, timeout=120, capture_output=True, text=True)
    for name in (PALM_MODEL_FILE, LANDMARK_MODEL_FILE):
        copied = tmp_path / "b/opt/cg/models" / name
        assert f"copied {name}" in out.stdout and copied.read_bytes() == (built / name).read_bytes()

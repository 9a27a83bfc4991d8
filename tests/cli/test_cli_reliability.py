"""CLI errors are one line and exit 2; `video` stops cleanly and never overwrites its input;
`--detectors FILE` plugs in another ONNX model."""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from captureguard.cli.main import main
from captureguard.core.detection import BODY_PART_LABELS
from captureguard.models.runtime import packaged_model
from captureguard.web.pin import PinStore
from tests.sources.test_sources import write_video

cli_main = importlib.import_module("captureguard.cli.main")  # the module (the package exports main())
REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "src" / "captureguard" / "data" / "demo"
NUDE = DEMO / "prani_godward_nude_on_the_beach.jpg"
PORTRAIT = DEMO / "matplotlib_grace_hopper.jpg"


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("captureguard: error: "), err
    return err


def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the command gets as far as loading a model."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the models were loaded before the error was found")

    monkeypatch.setattr("captureguard.guard.check.Checker.create", refuse)


# -- serve: configuration errors before anything loads ------------------------------------------


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda d: ["--messages", str(d / "missing.toml")], "cannot read messages file"),
        (lambda d: ["--messages", str(d / "bad.toml")], "is not valid TOML"),
        (lambda d: ["--messages", str(d / "nolang.toml")], "language [fr] has missing"),
        (lambda d: ["--detectors", str(d / "bad.toml")], "is not valid TOML"),
        (lambda d: ["--detectors", str(d / "nolive.toml")], "[live]"),
        (lambda d: ["--profile", "nobody"], "unknown profile"),
        (lambda d: ["--viewer-idle-timeout", "0"], "--viewer-idle-timeout"),
    ],
    ids=["messages-missing", "messages-not-toml", "messages-no-en", "detectors-not-toml", "detectors-no-live",
         "profile", "idle-timeout"],
)  # fmt: skip
def test_serve_config_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, setup: object, words: str
) -> None:
    (tmp_path / "bad.toml").write_text("this is [not toml", "utf-8")
    (tmp_path / "nolang.toml").write_text('[fr]\nblocked_title = "x"\n', "utf-8")
    (tmp_path / "nolive.toml").write_text('[[photo.detectors]]\ntype = "open_nsfw"\n', "utf-8")
    no_models(monkeypatch)
    args = setup(tmp_path)  # type: ignore[operator]
    assert main(["serve", "--data", str(tmp_path / "data"), *args]) == 2
    assert words in one_line_error(capsys)


def test_serve_data_that_is_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.write_text("not a folder", "utf-8")
    no_models(monkeypatch)
    assert main(["serve", "--data", str(data)]) == 2
    assert "is a file, not a folder" in one_line_error(capsys)


def test_serve_set_pin_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_models(monkeypatch)
    monkeypatch.setattr(sys, "stdin", io.StringIO("2468\n"))
    assert main(["serve", "--data", str(tmp_path), "--set-pin"]) == 0
    store = PinStore(tmp_path / "admin.json")
    assert store.has_pin
    store.verify("2468")
    monkeypatch.setattr(sys, "stdin", io.StringIO("1357\n0000\n"))  # a new PIN, then a wrong current one
    assert main(["serve", "--data", str(tmp_path), "--set-pin"]) == 2
    store.verify("2468")
    monkeypatch.setattr(sys, "stdin", io.StringIO("1357\n2468\n"))
    assert main(["serve", "--data", str(tmp_path), "--set-pin"]) == 0
    store.verify("1357")


# -- scan / check -------------------------------------------------------------------------------


@pytest.mark.parametrize("report", ["report.txt", "report", "sub"])
def test_scan_refuses_a_bad_report_before_scanning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, report: str
) -> None:
    (tmp_path / "sub").mkdir()
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(PORTRAIT.read_bytes())
    no_models(monkeypatch)
    monkeypatch.setattr(cli_main, "check_paths", lambda *a, **k: pytest.fail("scanned before refusing"))
    target = tmp_path / report
    if report == "sub":
        target = tmp_path / "sub.csv"
        target.mkdir()
    assert main(["scan", str(folder), "--report", str(target), "--no-progress"]) == 2
    assert "--report" in one_line_error(capsys)


BAD_DETECTORS = {
    "missing": None,
    "not-toml": "[[photo.detectors]\n",
    "unknown-type": '[[photo.detectors]]\ntype = "magic"\n',
    "unknown-field": '[[photo.detectors]]\ntype = "nudenet"\nwings = 2\n',
    "no-photo-mode": '[[live.detectors]]\ntype = "open_nsfw"\n',
    "model-missing": '[[photo.detectors]]\ntype = "yolo"\npath = "nowhere.onnx"\nlabels = ["A"]\n',
    "not-a-model": '[[photo.detectors]]\ntype = "yolo"\npath = "{here}/fake.onnx"\nlabels = ["A"]\n',
    "not-a-table": "photo = 3\n",
}


@pytest.mark.parametrize("content", BAD_DETECTORS.values(), ids=BAD_DETECTORS.keys())
def test_check_with_a_bad_detectors_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    (tmp_path / "fake.onnx").write_bytes(b"not onnx")
    path = tmp_path / "detectors.toml"
    if content is not None:
        path.write_text(content.replace("{here}", str(tmp_path)), "utf-8")
    assert main(["check", str(PORTRAIT), "--detectors", str(path)]) == 2
    one_line_error(capsys)


def generic_nudenet_file(folder: Path) -> Path:
    """The shipped detectors file with NudeNet's ONNX plugged in as a generic ``type = "yolo"`` model."""
    labels = ", ".join(f'"{label}"' for label in BODY_PART_LABELS)
    model = packaged_model("nudenet", "320n.onnx")
    generic = f'type = "yolo"\nname = "plugged"\npath = "{model}"\nlabels = [{labels}]\n'
    shipped = (REPO / "src" / "captureguard" / "data" / "detectors.toml").read_text("utf-8")
    assert shipped.count('type = "nudenet"') == 2
    path = folder / "detectors.toml"
    path.write_text(shipped.replace('type = "nudenet"\n', generic), "utf-8")
    return path


@pytest.mark.models
def test_a_generic_yolo_model_plugs_in_by_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    detectors = generic_nudenet_file(tmp_path)
    assert main(["check", str(NUDE), str(PORTRAIT), "--json", "--detectors", str(detectors)]) == 1
    doc = json.loads(capsys.readouterr().out)
    by_name = {Path(r["path"]).name: r for r in doc["results"]}
    assert by_name[NUDE.name]["decision"] == "block" and by_name[PORTRAIT.name]["decision"] == "allow"
    models = {m for r in by_name[NUDE.name]["reasons"] for m in [r.get("model", "")]}
    assert "plugged" in models, by_name[NUDE.name]  # the plugged-in model, not the shipped one, decided
    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / NUDE.name).write_bytes(NUDE.read_bytes())
    assert main(["scan", str(folder), "--detectors", str(detectors), "--no-progress"]) == 1


# -- video --------------------------------------------------------------------------------------


def small_video(path: Path, frames: int = 12) -> Path:
    bgr = np.full((48, 64, 3), (40, 160, 40), np.uint8)
    return write_video(path, [bgr] * frames)


def test_video_refuses_to_overwrite_its_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = small_video(tmp_path / "x.mp4")
    before = src.read_bytes()
    (tmp_path / "link.mp4").symlink_to(src)
    os.link(src, tmp_path / "hard.mp4")
    for out in ("x.mp4", "link.mp4", "hard.mp4", "./x.mp4"):
        target = tmp_path / out
        assert main(["video", str(src), str(target), "--no-progress"]) == 2, out
        assert "is the input video" in one_line_error(capsys)
    assert src.read_bytes() == before


@pytest.mark.parametrize("out", ["out.avi", "out.mkv", "out", "out.MP4.txt"])
def test_video_writes_mp4_only(tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str) -> None:
    src = small_video(tmp_path / "in.mp4")
    assert main(["video", str(src), str(tmp_path / out), "--no-progress"]) == 2
    assert "must end in .mp4" in one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_video_help_says_mp4_only() -> None:
    text = cli_main.build_parser()._subparsers._group_actions[0].choices["video"].format_help()  # type: ignore[union-attr]
    assert "must end in .mp4" in " ".join(text.split())


@pytest.mark.models
@pytest.mark.slow
def test_video_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = [cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), np.uint8), (9, 9), 0) for _ in range(40)]
    src = write_video(tmp_path / "long.mp4", frames * 50)  # 2000 frames: far longer than the test waits
    out = tmp_path / "out.mp4"
    command = [sys.executable, "-m", "captureguard", "video", str(src), str(out), "--no-progress", "--max-gap", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    partial = tmp_path / ".out.partial.mp4"
    deadline = time.monotonic() + 120
    while not partial.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)  # some frames are written
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (0, 1), (proc.returncode, stderr)  # was 143: killed, nothing finalised
    assert "stopped early" in stderr and "Traceback" not in stderr
    assert "frames in" in stdout
    with av.open(str(out)) as container:
        written = sum(1 for _ in container.decode(video=0))
    assert 0 < written < 2000
    assert not partial.exists()


@pytest.mark.models
@pytest.mark.slow
def test_serve_prints_a_setup_code_that_sets_the_first_pin(tmp_path: Path) -> None:
    import re
    import time as clock
    import urllib.request
    from http.cookiejar import CookieJar

    from captureguard.testing.web_harness import Server

    with Server(tmp_path / "data") as served:
        deadline = clock.monotonic() + 10
        while not any("setup code" in line for line in served.lines) and clock.monotonic() < deadline:
            clock.sleep(0.05)
        found = re.search(r"first-run setup code: (\S+)", "".join(served.lines))
        assert found, "".join(served.lines)
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        token = json.loads(opener.open(served.url + "api/session").read())["csrf_token"]

        def set_pin(body: dict[str, str]) -> int:
            headers = {"content-type": "application/json", "x-csrf-token": token, "origin": served.url.rstrip("/")}
            req = urllib.request.Request(served.url + "api/pin", json.dumps(body).encode(), headers, method="POST")
            try:
                return int(opener.open(req).status)
            except urllib.error.HTTPError as err:
                return err.code

        assert set_pin({"new": "2468"}) == 403
        assert set_pin({"new": "2468", "setup_code": "guess"}) == 403
        assert set_pin({"new": "2468", "setup_code": found[1]}) == 200
        assert served.stop() == 0
    assert PinStore(tmp_path / "data" / "admin.json").has_pin
    with Server(tmp_path / "data") as again:  # a PIN exists: no code is printed
        assert again.stop() == 0
    assert not any("setup code" in line for line in again.lines)


@pytest.mark.parametrize("command", ["video", "camera", "eval"])
def test_a_bad_detectors_file_is_one_line_on_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    bad = tmp_path / "detectors.toml"
    bad.write_text('[[live.detectors]]\ntype = "magic"\n[[photo.detectors]]\ntype = "magic"\n', "utf-8")
    src = small_video(tmp_path / "in.mp4")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"path,label\n{PORTRAIT},safe\n", "utf-8")
    argv = {
        "video": ["video", str(src), str(tmp_path / "out.mp4"), "--no-progress"],
        "camera": ["camera", "--device", str(src), "--seconds", "1"],
        "eval": ["eval", str(manifest), "--out", str(tmp_path / "report"), "--no-progress", "--workers", "1"],
    }[command]
    assert main([*argv, "--detectors", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown detector type 'magic'" in err and "\n" not in err and "Traceback" not in err, err
    assert not (tmp_path / "out.mp4").exists()

"""The fitting tools pin OpenBLAS's kernels and threads (tools/detect_v2/blas.py), so a re-fit
reproduces the shipped files on any x86-64 machine."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from tools.detect_v2 import blas

ROOT = Path(__file__).resolve().parents[2]
#: the tools that fit (locator, probes, heads) or score with fitted fold models
FITTING = ["evaluate", "fit_heads", "locator", "not_shipped", "nsfwjs_probe", "probe", "robust", "synthetic"]

SCRIPT = f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
print("start", flush=True)
from tools.detect_v2.blas import pin, describe
pin()
import numpy
print(describe())
"""


def run(tmp_path: Path, env: dict[str, str]) -> list[str]:
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    cmd = [sys.executable, str(script)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.splitlines()


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="Haswell kernels are x86-64's")
def test_pin_reruns_the_process_with_the_shipped_fits_blas(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in blas.PINNED}
    lines = run(tmp_path, env)
    assert lines[:2] == ["start", "start"]  # re-run once, with the settings
    assert re.search(r"openblas Haswell x 2", lines[2]), lines


def test_pin_does_nothing_when_the_settings_are_there(tmp_path: Path) -> None:
    lines = run(tmp_path, {**os.environ, **blas.PINNED})
    assert lines[0] == "start" and lines[1] != "start"
    assert blas.pinned(blas.PINNED) and not blas.pinned({**blas.PINNED, "OPENBLAS_NUM_THREADS": "1"})


@pytest.mark.parametrize("tool", FITTING)
def test_every_fitting_tool_pins_before_main(tool: str) -> None:
    src = (ROOT / "tools" / "detect_v2" / f"{tool}.py").read_text()
    block = src.split('if __name__ == "__main__":', 1)[1]
    assert block.index("pin()") < block.index("main("), f"{tool}.py must call blas.pin() before main"


def test_rebuild_exports_the_settings() -> None:
    sh = (ROOT / "tools" / "detect_v2" / "rebuild.sh").read_text()
    for k, v in blas.PINNED.items():
        assert f"{k}={v}" in sh


def test_version_notes_name_each_package_that_differs() -> None:
    assert blas.version_notes({"numpy": "0.0.1", "scipy": version("scipy")}) == [
        f"note: numpy {version('numpy')} is installed; the shipped fits used 0.0.1, so fits may differ from them"
    ]
    assert blas.version_notes({"no-such-package-here": "1.0"})[0].startswith("note: no-such-package-here none")


def test_the_dev_extra_pins_the_fitting_packages() -> None:
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    for name in ("scikit-learn", "scipy"):
        assert f"{name}=={blas.VERSIONS[name]}" in dev

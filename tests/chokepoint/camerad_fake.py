"""``captureguard camerad`` with a scripted checker in place of the models (run as a child process).

    python -m tests.chokepoint.camerad_fake --mode oracle|late|raise|hang [--release-log FILE] -- CAMERAD ARGS

``oracle`` blocks exactly the frames whose mark names a frame showing a nude painting (the clip's
geometric truth); ``late`` blocks them only once the painting has shown for 6 frames (as real
detectors often catch on late); ``raise`` raises on every check; ``hang`` never returns in time. The release log
holds one ``index release`` line per frame the guard handed to its sinks (no pixels).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from captureguard import AllowedFrame, Decision, DetectionError, Frame, Reason, Verdict
from captureguard.chokepoint.conformance import read_mark
from captureguard.cli import chokepoint as cli
from captureguard.sources import Source

SAFE = Verdict(Decision.ALLOW, 0.01)
NUDE = Verdict(Decision.BLOCK, 0.99, (Reason("FEMALE_BREAST_EXPOSED", 0.99, "fake", "oracle"),))


class OracleChecker:
    def __init__(self, mode: str, *, late: int = 6) -> None:
        self.mode, self.late = mode, late if mode == "late" else 0
        self.truth: list[bool] = []

    def check(self, frame: Frame) -> Verdict:
        if self.mode == "raise":
            raise DetectionError("fake detector failure")
        if self.mode == "hang":
            time.sleep(30)
        index = read_mark(frame.bgr)
        if index is None or index >= len(self.truth):
            return NUDE  # unknown frame: block (fail closed)
        return NUDE if all(self.truth[max(0, index - self.late) : index + 1]) else SAFE


class ReleaseLog:
    def __init__(self, path: Path) -> None:
        self._fh = path.open("a", encoding="utf-8", buffering=1)

    def write(self, item: AllowedFrame) -> None:
        self._fh.write(f"{item.frame.index} {item.release.value}\n")

    def close(self) -> None:
        self._fh.flush()


def main() -> int:
    own = argparse.ArgumentParser()
    own.add_argument("--mode", choices=("oracle", "late", "raise", "hang"), default="oracle")
    own.add_argument("--release-log", type=Path)
    mine, rest = own.parse_known_args()
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli.add_parsers(sub)
    args = parser.parse_args(["camerad", *[a for a in rest if a != "--"]])
    checker = OracleChecker(mine.mode)
    open_camera = cli.open_camera

    def opened(spec: str) -> Source:
        source = open_camera(spec)
        checker.truth = list(getattr(source, "truth", []))
        return source

    cli.open_camera = opened  # type: ignore[assignment]
    if mine.release_log:
        log = ReleaseLog(mine.release_log)
        extra = cli._extra_sinks

        def sinks(s: cli.CameradSettings):  # type: ignore[no-untyped-def]
            make = extra(s)
            return lambda source: [*make(source), log]

        cli._extra_sinks = sinks  # type: ignore[assignment]
    return cli.run_camerad(args, checker=checker)


if __name__ == "__main__":
    sys.exit(main())

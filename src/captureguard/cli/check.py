"""Checking many image files: per-file results, progress, and CSV/JSON reports (no pixels)."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from captureguard._version import __version__
from captureguard.core.verdict import Verdict
from captureguard.errors import BadInputError, CaptureGuardError
from captureguard.guard.check import Checker
from captureguard.sources.image import header_size, load_image


@dataclass(frozen=True)
class ScanRow:
    """The result for one file: a verdict, or the error that stopped it being read."""

    path: Path
    verdict: Verdict | None = None
    error: str = ""
    width: int = 0
    height: int = 0
    load_ms: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        out: dict[str, object] = {"path": str(self.path)}
        if self.error:
            out["error"] = self.error
        if self.verdict is not None:
            out.update(self.verdict.to_dict())
            out["size"] = [self.width, self.height]
            out["load_ms"] = round(self.load_ms, 2)
        return out

    def to_line(self) -> str:
        """One human line: ``BLOCK 0.93 path  reasons  [ms]`` or ``error: path: problem``."""
        if self.verdict is None:
            return f"error: {self.error}"
        v = self.verdict
        reasons = ", ".join(f"{r.code} {r.score:.2f}" + (f" ({r.model})" if r.model else "") for r in v.reasons[:3])
        ms = v.timings_ms.get("total", 0.0)
        return f"{v.decision.value.upper():5s} {v.score:.2f}  {self.path}  {reasons}  [{ms:.0f} ms]"


def check_paths(checker: Checker, paths: Sequence[Path], *, max_megapixels: float, progress: bool) -> list[ScanRow]:
    """Load and check each file; bad files become error rows and the rest go on."""
    rows = []
    for path in tqdm(paths, desc="checking", unit="img", disable=not progress, leave=False):
        t0 = time.perf_counter()
        try:
            frame = load_image(path, max_megapixels=max_megapixels, reduced=True)  # checked, never kept
        except BadInputError as exc:
            rows.append(ScanRow(path, error=str(exc)))
            continue
        except CaptureGuardError as exc:
            rows.append(ScanRow(path, error=f"{path}: {exc}"))
            continue
        load_ms = (time.perf_counter() - t0) * 1e3
        width, height = header_size(path) or (frame.width, frame.height)  # the file's size, not the checked one
        rows.append(ScanRow(path, checker.check(frame), width=width, height=height, load_ms=load_ms))
    return rows


CSV_FIELDS = ("path", "decision", "score", "reasons", "profile", "width", "height", "total_ms", "error")


def check_report_path(target: Path) -> None:
    """Refuse a report path that :func:`write_report` could not write, before any work is done.

    Raises:
        BadInputError: the suffix is not ``.csv`` or ``.json``, or the path is a folder.
    """
    if target.suffix.lower() not in (".csv", ".json"):
        raise BadInputError(f"--report {target} must end in .csv or .json")
    if target.is_dir():
        raise BadInputError(f"--report {target} is a folder; give a file name ending in .csv or .json")


def write_report(rows: Iterable[ScanRow], target: Path, *, profile: str) -> None:
    """Write ``.csv`` (one row per file) or ``.json`` (with a header) to ``target``."""
    rows = list(rows)
    check_report_path(target)
    suffix = target.suffix.lower()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".json":
            doc = {"captureguard": __version__, "profile": profile, "results": [r.to_dict() for r in rows]}
            target.write_text(json.dumps(doc, indent=2), encoding="utf-8")
            return
        with target.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            w.writeheader()
            for r in rows:
                v = r.verdict
                w.writerow(
                    {
                        "path": str(r.path),
                        "error": r.error,
                        "width": r.width or "",
                        "height": r.height or "",
                        "decision": v.decision.value if v else "",
                        "score": f"{v.score:.4f}" if v else "",
                        "reasons": ";".join(f"{x.code}:{x.score:.3f}" for x in v.reasons) if v else "",
                        "profile": v.profile if v else profile,
                        "total_ms": f"{v.timings_ms.get('total', 0):.1f}" if v else "",
                    }
                )
    except OSError as exc:
        raise CaptureGuardError(f"cannot write report {target}: {exc.strerror or exc}") from exc

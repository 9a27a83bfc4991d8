"""The bundled public-domain stills (``data/demo``) used by ``captureguard demo`` and the tests."""

from __future__ import annotations

import csv
import importlib.resources
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """One bundled image: its path, label (``nudity``/``safe``), kind and title."""

    path: Path
    label: str
    kind: str
    title: str


def bundled_samples() -> list[Sample]:
    """The bundled stills listed in ``data/demo/manifest.csv``, in file order."""
    root = Path(str(importlib.resources.files("captureguard").joinpath("data/demo")))
    with (root / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        return [Sample(root / r["file"], r["label"], r["kind"], r["title"]) for r in csv.DictReader(fh)]

"""A cache of ``captureguard eval``'s video results, so a re-run is instant for videos too.

A video's result depends on its bytes, its manifest row (label, kind, unsafe spans) and what
checks it (the package version, the detectors file and the fusion model: ``version``). The key
hashes all three, so changing any of them recomputes; a moved file with the same bytes and row
is a hit (its path is rewritten). Records live in ``DIR/cache/videos/<key>.json``; unreadable
records are recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from captureguard.evaluation.manifest import Item
from captureguard.evaluation.runner import file_sha256

log = logging.getLogger(__name__)


class VideoCache:
    """Video results by (file hash, manifest row, checker version).

    Args:
        folder: where records are kept (created on the first store).
        version: what the result depends on besides the file and its row.
    """

    def __init__(self, folder: Path, *, version: str) -> None:
        self.folder = Path(folder)
        self.version = version

    def key(self, item: Item) -> str:
        """The record's key: hashes of the file, its manifest row (path and row number aside) and the version."""
        row = {
            "label": str(item.label),
            "kind": item.kind,
            "group": item.group,
            "spans": [[s.start, s.end, s.unit] for s in item.unsafe_spans],
        }
        text = json.dumps([file_sha256(item.path), row, self.version], sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def load(self, item: Item) -> dict[str, Any] | None:
        """The cached result (with this item's path), or None."""
        path = self.folder / f"{self.key(item)}.json"
        try:
            record = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        return {**record, "path": str(item.path)}

    def store(self, item: Item, result: dict[str, Any]) -> None:
        """Keep ``result`` (atomically; a failure to write is logged, never fatal)."""
        target = self.folder / f"{self.key(item)}.json"
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(result, default=str), "utf-8")
            os.replace(tmp, target)
        except OSError as exc:
            log.warning("could not cache the video result of %s: %s", item.path, exc)

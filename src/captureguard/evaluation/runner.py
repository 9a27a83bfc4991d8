"""Score every still of a manifest with each scorer, in parallel, through a resumable cache.

A :class:`Scorer` runs once per image and returns a JSON-ready *record* (raw evidence and
timings); its ``derive`` turns a record into one :class:`Score` per configuration. Only records
are cached (``DIR/cache/<sha256[:2]>/<sha256>.<scorer>.<version>.json``), so anything computed
from them (profile decisions, operating points) can change without re-running a model.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import resource
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from captureguard.evaluation.manifest import Item

log = logging.getLogger(__name__)

Record = dict[str, Any]
#: Images handed to a worker at a time.
CHUNK = 4


@dataclass(frozen=True)
class Score:
    """One configuration's result on one image.

    Attributes:
        score: higher = more likely nudity.
        blocked: the configuration's shipped decision (``None``: it has none).
        ms: wall time of the configuration on this image, decoding included.
        rss_kb: peak resident memory of the measuring process after this image (KiB).
    """

    score: float
    blocked: bool | None
    ms: float
    rss_kb: int = 0


def plain_derive(name: str, record: Record) -> dict[str, Score]:
    """Records shaped ``{"score", "blocked", "ms", "rss_kb"}`` -> ``{name: Score}``."""
    return {name: Score(float(record["score"]), record.get("blocked"), float(record["ms"]), int(record["rss_kb"]))}


@dataclass(frozen=True)
class Scorer:
    """A model pass over one image, cached per file hash, scorer name and version.

    Attributes:
        name: cache key part (``ours``, ``ref:nudenet``, ``perturb:jpeg``...).
        version: changes whenever the record for the same file could change.
        build: called once per worker process; returns ``path -> record`` (may raise).
        derive: record -> ``{configuration: Score}`` (runs in the parent; default: ``plain_derive``).
    """

    name: str
    version: str
    build: Callable[[], Callable[[Path], Record]]
    derive: Callable[[Record], dict[str, Score]] | None = None

    def scores(self, record: Record) -> dict[str, Score]:
        """The configurations' scores from one record."""
        return self.derive(record) if self.derive else plain_derive(self.name, record)


@dataclass
class StillResult:
    """One still: its manifest item and the scores of every configuration (by name)."""

    item: Item
    sha256: str
    scores: dict[str, Score] = field(default_factory=dict)


@dataclass
class RunResult:
    """Everything measured: stills, error rows (path, error), and the parent's peak memory.

    ``coverage`` holds the stills of coverage-only manifests (``eval --coverage``): reported in
    their own tables, never in the headline metrics.
    """

    stills: list[StillResult]
    errors: list[dict[str, str]]
    peak_rss_kb: int = 0
    videos: list[dict[str, Any]] = field(default_factory=list)
    coverage: list[StillResult] = field(default_factory=list)


class Cache:
    """One small JSON file per (sha256, scorer, version) under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha: str, scorer: Scorer) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{scorer.name}.{scorer.version}")
        return self.root / sha[:2] / f"{sha}.{safe}.json"

    def load(self, sha: str, scorer: Scorer) -> Record | None:
        """The cached record, or None (missing or unreadable: recomputed)."""
        try:
            data = json.loads(self._path(sha, scorer).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def store(self, sha: str, scorer: Scorer, record: Record) -> None:
        """Write atomically (a crash never leaves half a file)."""
        path = self._path(sha, scorer)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record), "utf-8")
        tmp.replace(path)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def peak_rss_kb() -> int:
    """Peak resident memory (KiB on Linux) of this process or any finished child, whichever is larger."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))


# Worker side: the scorer functions built once per process by the pool initializer.
_FUNCTIONS: dict[str, Callable[[Path], Record]] = {}


def _init_worker(builds: Sequence[tuple[str, Callable[[], Callable[[Path], Record]]]]) -> None:
    _FUNCTIONS.clear()
    for name, build in builds:
        _FUNCTIONS[name] = build()


def _score_one(path: Path, names: Sequence[str]) -> dict[str, Record]:
    """Run the named scorers on one image; a failure becomes ``{"error": message}`` (never raised)."""
    out: dict[str, Record] = {}
    for name in names:
        try:
            record = _FUNCTIONS[name](path)
            record.setdefault("rss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            out[name] = record
        except Exception as exc:  # a bad file is an error row, never a crash
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _score_chunk(tasks: Sequence[tuple[Path, Sequence[str]]]) -> list[dict[str, Record]]:
    return [_score_one(path, names) for path, names in tasks]


@dataclass
class _Todo:
    index: int
    names: list[str]


def run_stills(
    items: Sequence[Item],
    scorers: Sequence[Scorer],
    *,
    cache_dir: Path,
    workers: int = 1,
    progress: bool = True,
) -> RunResult:
    """Score every still item with every scorer (cached records are loaded, not recomputed).

    ``workers == 1`` scores in this process; more uses a process pool whose workers each build
    the scorers once. An item any scorer fails on (unreadable, undecodable) becomes an error row
    and is left out of every configuration, so all configurations are compared on the same images.
    """
    cache, by_name = Cache(cache_dir), {s.name: s for s in scorers}
    errors: list[dict[str, str]] = []
    results, records, todo = _plan(items, scorers, cache, errors)
    for todo_item, computed in zip(todo, _compute(results, todo, scorers, workers, progress), strict=True):
        for name, record in computed.items():
            records[todo_item.index][name] = record
            if "error" not in record:
                cache.store(results[todo_item.index].sha256, by_name[name], record)
    kept = _collect(results, records, by_name, errors)
    return RunResult(kept, errors, peak_rss_kb())


def _plan(
    items: Sequence[Item], scorers: Sequence[Scorer], cache: Cache, errors: list[dict[str, str]]
) -> tuple[list[StillResult], list[dict[str, Record]], list[_Todo]]:
    """Hash every file and load its cached records; the rest is to do. Unreadable files become errors."""
    results: list[StillResult] = []
    records: list[dict[str, Record]] = []
    todo: list[_Todo] = []
    for item in items:
        try:
            sha = file_sha256(item.path)
        except OSError as exc:
            errors.append({"path": str(item.path), "error": f"cannot read: {exc.strerror or exc}"})
            continue
        found = {s.name: rec for s in scorers if (rec := cache.load(sha, s)) is not None}
        results.append(StillResult(item, sha))
        records.append(found)
        missing = [s.name for s in scorers if s.name not in found]
        if missing:
            todo.append(_Todo(len(results) - 1, missing))
    return results, records, todo


def _collect(
    results: list[StillResult],
    records: list[dict[str, Record]],
    by_name: Mapping[str, Scorer],
    errors: list[dict[str, str]],
) -> list[StillResult]:
    kept = []
    for result, found in zip(results, records, strict=True):
        core = [f"{n}: {r['error']}" for n, r in found.items() if "error" in r and not n.startswith("perturb:")]
        if core:  # a perturbation failing on one image only drops it from that perturbation
            errors.append({"path": str(result.item.path), "error": "; ".join(core)})
            continue
        for name, rec in found.items():
            if "error" not in rec:
                result.scores.update(by_name[name].scores(rec))
        kept.append(result)
    return kept


def _compute(
    results: Sequence[StillResult], todo: Sequence[_Todo], scorers: Sequence[Scorer], workers: int, progress: bool
) -> Iterator[dict[str, Record]]:
    tasks = [(results[t.index].item.path, t.names) for t in todo]
    builds = [(s.name, s.build) for s in scorers]
    bar = tqdm(total=len(tasks), desc="scoring stills", unit="img", disable=not progress or not tasks, leave=False)
    chunks = [tasks[i : i + CHUNK] for i in range(0, len(tasks), CHUNK)]
    try:
        if workers <= 1 or len(chunks) <= 1:
            _init_worker(builds if tasks else [])
            outputs: Iterator[list[dict[str, Record]]] = map(_score_chunk, chunks)
            yield from _tick(outputs, bar)
        else:
            with concurrent.futures.ProcessPoolExecutor(
                max_workers=workers, initializer=_init_worker, initargs=(builds,)
            ) as pool:
                yield from _tick(pool.map(_score_chunk, chunks), bar)
    finally:
        bar.close()
        _FUNCTIONS.clear()


def _tick(outputs: Iterator[list[dict[str, Record]]], bar: tqdm[Any]) -> Iterator[dict[str, Record]]:
    for chunk in outputs:
        bar.update(len(chunk))
        yield from chunk


def speed(values_ms: Sequence[float], rss_kb: Sequence[int]) -> dict[str, float]:
    """Median/p90 ms per image, images per second of one worker, and peak memory in MiB."""
    if not values_ms:
        return {}
    ordered = sorted(values_ms)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "ms_median": round(statistics.median(ordered), 2),
        "ms_p90": round(p90, 2),
        "images_per_s": round(1000.0 * len(ordered) / sum(ordered), 2) if sum(ordered) > 0 else 0.0,
        "peak_rss_mib": round(max(rss_kb, default=0) / 1024.0, 1),
    }

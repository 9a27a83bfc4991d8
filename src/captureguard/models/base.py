"""The detector seam: the :class:`Detector` protocol and building detectors from configuration.

A :class:`Detector` turns a :class:`~captureguard.core.frame.Frame` into
:class:`~captureguard.core.detection.Detections`. Two ship with their models inside PyPI wheels:
:mod:`~captureguard.models.yolo` (NudeNet) and :mod:`~captureguard.models.open_nsfw`.
Integrators plug in another model through :func:`build_detector` with a config mapping, or a
detectors TOML file read by :func:`load_detector_configs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from captureguard._datafiles import load_toml
from captureguard.core.detection import Detections
from captureguard.core.frame import Frame
from captureguard.core.hands import HandRule
from captureguard.core.second_look import PictureRule
from captureguard.errors import ConfigError
from captureguard.models.nsfwjs import nsfwjs_detector
from captureguard.models.open_nsfw import open_nsfw_detector
from captureguard.models.people import person_crop_detector
from captureguard.models.probe import nsfw_probe_detector
from captureguard.models.runtime import OnnxModel
from captureguard.models.yolo import YoloDetector, YoloSettings, nudenet_detector


@runtime_checkable
class Detector(Protocol):
    """Anything that finds nudity evidence in a frame."""

    name: str

    def detect(self, frame: Frame) -> Detections:
        """Return the detections of one frame (boxes in frame pixels)."""
        ...


@runtime_checkable
class AfterDetector(Protocol):
    """A detector that reads what the other detectors of its set found (nsfwjs on the picture
    locator's crop): when :attr:`after`, a checker runs it once the others are done and hands it
    their detections (:meth:`detect_after`); :meth:`detect` alone reads the frame without them."""

    name: str

    @property
    def after(self) -> bool: ...

    def detect(self, frame: Frame) -> Detections: ...

    def detect_after(self, frame: Frame, found: Detections) -> Detections:
        """The detections of one frame, given what the set's other detectors found in it."""
        ...


def runs_after(det: Detector) -> bool:
    """``det`` reads the other detectors' detections (:class:`AfterDetector` with ``after``)."""
    return isinstance(det, AfterDetector) and det.after


#: detector types whose ``input_size`` is their person detector's (``max_crops`` 0: no people)
PEOPLE_TYPES = ("nsfw_probe", "person_crops")


def with_people_input(config: Mapping[str, Any], size: int) -> dict[str, Any]:
    """``config`` with its person detector's input size set to ``size`` (a detector with people,
    :data:`PEOPLE_TYPES`); any other detector's config unchanged (NudeNet's ``input_size`` is its own)."""
    out = dict(config)
    if out.get("type") in PEOPLE_TYPES and out.get("max_crops", 6) != 0:
        out["input_size"] = size
    return out


def build_detector(config: Mapping[str, Any], *, threads: int = 2) -> Detector:
    """Build a detector from a config mapping (e.g. a TOML table).

    ``{"type": "nudenet", ...YoloSettings fields}``, ``{"type": "open_nsfw"}``,
    ``{"type": "person_crops", "input_size": 640, "max_crops": 6}`` (people re-scored by open_nsfw),
    ``{"type": "nsfw_probe", "input_size": 640, "max_crops": 6}`` (the same people and crops, open_nsfw's
    pooled features read by the shipped linear probe; ``"scene_probe"``, ``"locator": true``: the
    scene probe and the picture locator, as in the shipped ``[live]``), ``{"type": "nsfwjs"}`` (built by
    ``make nsfwjs-model``; ``"probe": "probe_nsfwjs_photo.json"``: the probe on its embedding, as in
    the shipped ``[photo]``; ``"crop": "picture"``: on the picture locator's outer crop, run after the
    set's ``nsfw_probe``; measured for ``[live]``, not shipped), or
    ``{"type": "yolo", "path": "model.onnx", "labels": [...], "name": "...", ...YoloSettings}``.

    Raises:
        ConfigError: unknown type or fields.
    """
    cfg = dict(config)
    kind = cfg.pop("type", None)
    try:
        if kind == "open_nsfw":
            if cfg:
                raise ConfigError(f"open_nsfw takes no options, got {sorted(cfg)}")
            return open_nsfw_detector(threads=threads)
        if kind == "nudenet":
            return nudenet_detector(YoloSettings(**cfg), threads=threads)
        if kind == "person_crops":
            return person_crop_detector(threads=threads, **cfg)
        if kind == "nsfw_probe":
            return nsfw_probe_detector(threads=threads, **cfg)
        if kind == "nsfwjs":
            if set(cfg) - {"probe", "crop"}:
                raise ConfigError(f"nsfwjs takes only probe and crop options, got {sorted(cfg)}")
            return nsfwjs_detector(threads=threads, **cfg)
        if kind == "yolo":
            path, labels = Path(cfg.pop("path")), cfg.pop("labels")
            name = str(cfg.pop("name", path.stem))
            return YoloDetector(OnnxModel(path, threads=threads), labels, YoloSettings(**cfg), name=name)
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"invalid {kind} detector config {dict(config)}: {exc}") from exc
    raise ConfigError(
        f"unknown detector type {kind!r}: use 'nudenet', 'open_nsfw', 'person_crops', 'nsfw_probe', 'nsfwjs' or 'yolo'"
    )


def _mode_tables(path: str | Path | None, key: str) -> dict[str, tuple[dict[str, Any], str]]:
    """``{mode: (its [MODE.key] table, where it was read)}`` of a detectors TOML file (default: the
    shipped one), for the modes that have one.

    Raises:
        ConfigError: a ``[MODE.key]`` that is not a table.
    """
    data, origin = load_toml(path, "detectors.toml", "detector config")
    out = {}
    for mode, table in data.items():
        extra = table.get(key) if isinstance(table, dict) else None
        if extra is None:
            continue
        if not isinstance(extra, dict):
            raise ConfigError(f"{origin}: [{mode}.{key}] must be a table")
        out[mode] = (extra, f"{origin}: [{mode}.{key}]")
    return out


def load_picture_checks(path: str | Path | None = None) -> dict[str, PictureRule]:
    """Read ``{mode: rule}`` of the ``[MODE.picture_check]`` tables (the live check's second look,
    :mod:`captureguard.core.second_look`) from a detectors TOML file (default: the shipped one).
    A rule's ``mode`` may be its own table's: that check's full set, run once more on the crop."""
    return {
        mode: PictureRule.from_mapping(table, origin=where)
        for mode, (table, where) in _mode_tables(path, "picture_check").items()
    }


def load_hand_rules(path: str | Path | None = None) -> dict[str, HandRule]:
    """Read ``{mode: rule}`` of the ``[MODE.hands]`` tables (the hand pass, :mod:`captureguard.core.hands`)
    from a detectors TOML file (default: the shipped one)."""
    out = {}
    for mode, (table, where) in _mode_tables(path, "hands").items():
        try:
            out[mode] = HandRule.from_mapping(table)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return out


def load_detector_configs(path: str | Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """Read ``{mode: [detector config, ...]}`` from a TOML file (default: shipped ``detectors.toml``)."""
    data, _ = load_toml(path, "detectors.toml", "detector config")
    out = {}
    for mode, table in data.items():
        dets = table.get("detectors") if isinstance(table, dict) else None
        if not isinstance(dets, list) or not all(isinstance(d, dict) for d in dets):
            raise ConfigError(f"[{mode}] needs a list of [[{mode}.detectors]] tables")
        out[mode] = dets
    return out

"""Held-out checkers: each dev still (or clip filmed from it) checked by models that never saw it.

The shipped probe and fusion heads are fitted on every dev still and its scene copies
(``tools/detect_v2/scenes.py``), so a leak clip filmed from a dev artwork, or a dev photo of a
person, is *in-sample* for them: measured with the shipped models the leak benchmark would flatter
them. ``tools/detect_v2/probe.py`` and ``tools/detect_v2/fit_heads.py`` leave the per-fold probes
and heads of their grouped cross-validation (one fold per positive group, a group never split) in
``$CG_V2_CACHE``; :meth:`HeldOut.checker` puts a fold's probe and heads into a shipped
:class:`~captureguard.guard.check.Checker` (same detectors, sessions and thresholds), so a file is
checked by the models fitted without its fold. Build-time data only: nothing here ships.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: `tools.*`

from tools.calibrate_fusion import DEFAULT_MANIFEST, grouped_folds, read_manifest
from tools.detect_v2 import fit_heads, locator, nsfwjs_probe, probe

from captureguard.core.fusion import FusionModel
from captureguard.core.locator import PictureLocator
from captureguard.core.probe import LinearProbe
from captureguard.guard.check import Checker
from captureguard.models.base import Detector
from captureguard.models.nsfwjs import NsfwjsDetector
from captureguard.models.probe import NsfwProbeDetector


class HeldOut:
    """The per-fold probes and heads, and the fold of every dev still (by manifest path)."""

    def __init__(
        self,
        fold_of: dict[str, int],
        probes: dict[str, dict[int, tuple[LinearProbe, LinearProbe]]],
        heads: dict[str, dict[int, FusionModel]],
        locators: dict[int, PictureLocator] | None = None,
        nsfwjs: dict[str, dict[int, LinearProbe]] | None = None,
    ) -> None:
        """``probes``: mode -> fold -> (probe, scene probe) (each mode reads its own pair,
        ``fit_heads.MODES``); ``heads``: mode (``live_first`` too) -> fold -> head; ``locators``:
        fold -> picture locator (``tools/detect_v2/locator.py``; None: a checker's locator is dropped);
        ``nsfwjs``: the nsfwjs detector's crop ("": the whole image, the photo path since v2.8;
        "picture": the located picture, measured for the live path) -> fold -> the probe on its
        embedding (``tools/detect_v2/nsfwjs_probe.py``). A checker whose nsfwjs detector has a probe
        needs its fold's."""
        self._fold_of, self._probes, self._heads = fold_of, probes, heads
        self._locators = locators or {}
        self._nsfwjs = nsfwjs or {}

    @classmethod
    def load(cls, *, stills_only: bool = False) -> HeldOut:
        """The folds ``probe.py`` and ``fit_heads.py`` left (``stills_only``: the v2.1 baseline's
        heads, ``fit_heads.py --stills-only``: no scene probe, no scene copies in training)."""
        heads = fit_heads.FOLD_HEADS_STILLS_ONLY if stills_only else fit_heads.FOLD_HEADS
        pairs = {mode: fit_heads.pair_of(views) for mode, (views, _, _) in fit_heads.MODES.items()}
        needed = [heads] + [
            f for pair in set(pairs.values()) for f in (probe.SETS[pair].folds, probe.SETS[pair].folds_scene)
        ]
        for f in needed:
            if not f.exists():
                raise SystemExit(f"{f} missing: run tools/detect_v2/probe.py, then tools/detect_v2/fit_heads.py")
        items = read_manifest(DEFAULT_MANIFEST)
        fold_probes = {pair: cls._fold_probes(probe.SETS[pair]) for pair in set(pairs.values())}
        return cls(
            {
                str(it.path.relative_to(DEFAULT_MANIFEST.parent)): int(f)
                for it, f in zip(items, grouped_folds(items), strict=True)
            },
            {mode: fold_probes[pair] for mode, pair in pairs.items()},
            {
                mode: {int(f): FusionModel.from_mapping(h) for f, h in folds.items()}
                for mode, folds in json.loads(heads.read_text()).items()
            },
            None if stills_only else locator.fold_locators(),
            cls._fold_nsfwjs(),
        )

    @staticmethod
    def _fold_linear(path: Path, name: str) -> dict[int, LinearProbe]:
        """Fold -> the probe fitted without it, from a ``folds*.npz`` (``fold``, ``weights``, ``intercept``)."""
        npz = np.load(path)
        return {
            int(f): LinearProbe(npz["weights"][j], float(npz["intercept"][j]), f"{name}-fold{int(f)}")
            for j, f in enumerate(npz["fold"])
        }

    @classmethod
    def _fold_nsfwjs(cls) -> dict[str, dict[int, LinearProbe]]:
        """Crop -> fold -> nsfwjs probe, for every probe set whose folds ``nsfwjs_probe.py`` left."""
        return {
            ps.crop: cls._fold_linear(ps.folds, f"nsfwjs-{name}-probe")
            for name, ps in nsfwjs_probe.SETS.items()
            if ps.folds.exists()
        }

    @classmethod
    def _fold_probes(cls, ps: probe.ProbeSet) -> dict[int, tuple[LinearProbe, LinearProbe]]:
        plain, scene = cls._fold_linear(ps.folds, "probe"), cls._fold_linear(ps.folds_scene, "scene-probe")
        if plain.keys() != scene.keys():
            raise SystemExit("the probe and scene probe folds differ: re-run tools/detect_v2/probe.py")
        return {f: (plain[f], scene[f]) for f in plain}

    def fold(self, path: str) -> int:
        """The fold of a dev still, by its path relative to the manifest's folder."""
        return self._fold_of[path]

    def checker(self, base: Checker, mode: str, fold: int) -> Checker:
        """``base`` (a shipped checker of ``mode``) with the probes, the picture locator and the heads
        fitted without ``fold``."""
        swapped: dict[int, Detector] = {}

        def swap(det: Detector, of: str = mode) -> Detector:
            """``det`` with fold ``fold``'s probes of mode ``of`` (the photo head's either set: live's)."""
            if id(det) not in swapped:  # shared first-stage detectors stay shared
                new: Detector = det
                plain, scene = self._probes[of][fold]
                if isinstance(det, NsfwProbeDetector):
                    # without fold locators (the stills-only baseline) the shipped locator stays but
                    # is not run: no located crops, the whole frame in their place (a three-block
                    # probe needs the locator object, not its crops)
                    where = {"locator": self._locators[fold]} if self._locators else {"locate": False}
                    new = dataclasses.replace(
                        det,
                        probe=plain,
                        scene_probe=scene if det.scene_probe is not None else None,
                        **(where if det.locator is not None else {}),
                    )
                elif isinstance(det, NsfwjsDetector) and det.probe is not None:
                    probes = self._nsfwjs.get(det.crop, {})
                    if fold not in probes:
                        run = "nsfwjs_probe.py" + (f" --set {det.crop}" if det.crop else "")
                        raise SystemExit(
                            f"no nsfwjs {det.crop or 'photo'} probe for fold {fold}: run tools/detect_v2/{run},"
                            " then fit_heads.py"
                        )
                    new = dataclasses.replace(det, probe=probes[fold])
                swapped[id(det)] = new
            return swapped[id(det)]

        first = base.first
        if first is not None:
            head = self._heads[f"{mode}_first"][fold]
            cascade = head.extra.get("cascade") or {}  # the fold set's own escalate_at, as fitted with it
            first = dataclasses.replace(
                first,
                detectors=[swap(d) for d in first.detectors],
                fusion=head,
                escalate_at=float(cascade.get("escalate_at", first.escalate_at)),
                every=int(cascade.get("every", first.every)),
            )
        head = self._heads[mode][fold]
        detectors = [swap(d) for d in base.detectors]  # first: a detector in both sets is the full set's
        either = [swap(d, head.either.mode) for d in base.either] if head.either is not None else []
        picture = base.picture  # the second look: the fold's own check of its mode
        if picture is not None:
            picture = dataclasses.replace(picture, checker=self.checker(picture.checker, picture.rule.mode, fold))
        # the hand pass has no fitted part: the shipped hand models, the fold's check of the painted frame
        return Checker(detectors, head, base.profile, base.deadline_s, first, either, picture, hands=base.hands)

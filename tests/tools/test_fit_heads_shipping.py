"""What fit_heads.py ships agrees with what the checker loads (build time vs run time)."""

from __future__ import annotations

from tools.detect_v2 import fit_heads, probe

from captureguard.core.fusion import FusionModel
from captureguard.core.probe import LinearProbe
from captureguard.models.base import load_detector_configs


def test_shipped_detectors_are_the_ones_the_heads_were_fitted_for() -> None:
    shipped = load_detector_configs()
    for mode, (_, configs, _) in fit_heads.MODES.items():
        assert shipped[mode] == configs, mode


def test_each_head_names_the_probe_pair_of_its_views() -> None:
    """The photo head reads the pair fitted on people at 960, the live heads the 640 pair; the
    shipped probe files carry the versions the heads name."""
    for mode, (views, _, _) in fit_heads.MODES.items():
        pair = probe.SETS[fit_heads.pair_of(views)]
        assert fit_heads.pair_of(views) == mode  # each path its own pair
        names = FusionModel.load(mode=mode).extra["probes"]
        assert names == fit_heads.head_probes(views)
        plain, scene = pair.shipped()
        assert list(names.values()) == [plain.version, scene.version]
    first = FusionModel.load(mode="live_first").extra["probes"]
    assert first == FusionModel.load(mode="live").extra["probes"]
    assert LinearProbe.load(probe.SETS["photo"].out).version != LinearProbe.load(probe.SETS["live"].out).version

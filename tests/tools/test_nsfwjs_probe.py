"""The nsfwjs embedding probe's grouped CV (build time: tools/detect_v2/nsfwjs_probe.py): out of fold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tools.calibrate_fusion import Item
from tools.detect_v2 import evaluate, nsfwjs_probe


def _data() -> evaluate.Data:
    items = [Item(Path(f"n{g}.jpg"), 1, "art_painting", f"nude{g}", f"nude {g}", f"{g:064x}") for g in range(4)]
    items += [Item(Path(f"s{k}.jpg"), 0, "portrait", f"safe{k}", f"safe {k}", f"{1000 + k:064x}") for k in range(24)]
    return evaluate.Data.of(items)


def _embeddings(d: evaluate.Data, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(d.y), 8))
    x[:, 0] += 3.0 * d.y  # one direction tells nude from safe
    return x


def test_scores_are_out_of_fold_and_fold_probes_are_kept() -> None:
    d = _data()
    x = {c: _embeddings(d, i) for i, c in enumerate(nsfwjs_probe.COPIES)}
    src = np.array([0, 1, 5, 6])  # scene copies of two nude stills and two safe ones
    sx = _embeddings(d, 99)[src]
    oof, folds, ws, bs = nsfwjs_probe.grouped_cv(d, x, sx, src)
    assert list(folds) == sorted(set(d.folds.tolist())) and ws.shape == (len(folds), 8) and bs.shape == (len(folds),)
    assert set(oof) == {*nsfwjs_probe.COPIES, "scene"} and oof["scene"].shape == (4,)
    assert oof["clean"][d.y == 1].mean() > oof["clean"][d.y == 0].mean()  # it learns the direction
    # a fold's own labels never reach its scores: flip every label in one fold's rows, refit
    f0 = int(d.folds[0])
    flipped = evaluate.Data(d.items, np.where(d.folds == f0, 1 - d.y, d.y), d.folds, d.cats, d.kinds)
    oof2, *_ = nsfwjs_probe.grouped_cv(flipped, x, sx, src)
    held = d.folds == f0
    for c in nsfwjs_probe.COPIES:
        assert np.allclose(oof2[c][held], oof[c][held])
        assert not np.allclose(oof2[c][~held], oof[c][~held])  # the other folds trained on them
    assert np.allclose(oof2["scene"][d.folds[src] == f0], oof["scene"][d.folds[src] == f0])

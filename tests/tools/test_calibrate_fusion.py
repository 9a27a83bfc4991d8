"""The calibration's logistic fitter (build time: tools/calibrate_fusion.py)."""

from __future__ import annotations

import numpy as np
import pytest
from tools.calibrate_fusion import fit_logistic


def test_fit_logistic_recovers_known_weights() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    true = np.array([-0.5, 2.0, -1.0])
    p = 1 / (1 + np.exp(-(true[0] + x @ true[1:])))
    y = (rng.random(4000) < p).astype(float)
    w = fit_logistic(x, y, l2=1e-6)
    assert w == pytest.approx(true, abs=0.15)


def test_fit_logistic_penalty_shrinks_weights() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0.0, 0.0, 1.0, 1.0])  # separable: unpenalised weights would diverge
    w = fit_logistic(x, y, l2=1.0)
    assert np.isfinite(w).all()
    assert 0 < w[1] < 10

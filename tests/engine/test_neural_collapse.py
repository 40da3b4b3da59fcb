"""Neural-collapse metrics (Papyan, Han & Donoho 2020; methods.md B11)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine.metrics.neural_collapse import (
    class_means,
    etf_gram,
    forget_feature_placement,
    gram_distance,
    gram_matrix,
    ideal_angle_deg,
    nc_metrics,
)
from engine.live.simplex import simplex_etf


def _collapsed(C: int = 10, d: int = 20, per: int = 5, noise: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    V = simplex_etf(C, d, rng)  # (C, d)
    offset = rng.standard_normal(d)  # a global mean away from 0
    y = np.repeat(np.arange(C), per)
    Z = 3.0 * V[y] + offset + noise * rng.standard_normal((y.size, d))
    return Z, y, V


def test_ideal_angles() -> None:
    assert ideal_angle_deg(10) == pytest.approx(96.379, abs=1e-3)
    assert ideal_angle_deg(9) == pytest.approx(97.181, abs=1e-3)
    assert math.isnan(ideal_angle_deg(1))
    G = etf_gram(4)
    np.testing.assert_allclose(np.diag(G), 1.0)
    np.testing.assert_allclose(G[0, 1:], -1.0 / 3.0)
    assert gram_distance(G) == pytest.approx(0.0)


def test_perfect_etf_is_fully_collapsed() -> None:
    Z, y, V = _collapsed()
    nc = nc_metrics(Z, y, W=V, b=np.zeros(10))
    assert nc["num_classes"] == 10
    assert nc["nc1"] == pytest.approx(0.0, abs=1e-12)
    assert nc["nc2_equinorm"] == pytest.approx(0.0, abs=1e-9)
    assert nc["nc2_equiangle"] == pytest.approx(0.0, abs=1e-9)
    assert nc["gram_distance"] == pytest.approx(0.0, abs=1e-9)
    assert nc["mean_angle_deg"] == pytest.approx(nc["ideal_angle_deg"], abs=1e-6)
    assert nc["nc2_equinorm_w"] == pytest.approx(0.0, abs=1e-9)
    assert nc["nc3"] == pytest.approx(0.0, abs=1e-9)  # W ∝ M: self-dual
    assert nc["nc4"] == 0.0


def test_noise_increases_nc1() -> None:
    values = [nc_metrics(*_collapsed(per=40, noise=s, seed=1)[:2])["nc1"] for s in (0.1, 0.5, 1.5)]
    assert 0.0 < values[0] < values[1] < values[2]
    # Isotropic within-class noise of variance σ²: NC1 = tr(Σ_W Σ_B⁺)/C grows as σ².
    assert values[1] / values[0] == pytest.approx(25.0, rel=0.2)


def test_nc1_matches_the_pinv_definition() -> None:
    Z, y, _ = _collapsed(C=4, d=6, per=30, noise=0.7, seed=3)
    means = class_means(Z, y, np.arange(4))
    mu = means.mean(axis=0)
    R = Z - means[y]
    Sw = R.T @ R / len(y)
    Sb = (means - mu).T @ (means - mu) / 4
    expected = float(np.trace(Sw @ np.linalg.pinv(Sb))) / 4
    assert nc_metrics(Z, y)["nc1"] == pytest.approx(expected, rel=1e-9)


def test_nc4_is_zero_for_the_nearest_class_mean_classifier() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 6, 600)
    Z = rng.standard_normal((6, 12))[y] + 1.2 * rng.standard_normal((600, 12))
    means = class_means(Z, y, np.arange(6))
    # argmax_c (μ_cᵀh − ‖μ_c‖²/2) = argmin_c ‖h − μ_c‖²
    nc = nc_metrics(Z, y, W=means, b=-0.5 * np.sum(means**2, axis=1))
    assert nc["nc4"] == 0.0
    nc_bad = nc_metrics(Z, y, W=-means, b=np.zeros(6))
    assert nc_bad["nc4"] > 0.5


def test_retained_classes_form_a_smaller_etf() -> None:
    # Dropping one vertex of an ETF and recentring on the rest gives a (C−1)-vertex ETF.
    Z, y, V = _collapsed()
    retained = np.array([c for c in range(10) if c != 3])
    nc = nc_metrics(Z, y, W=V, classes=retained)
    assert nc["num_classes"] == 9
    assert nc["ideal_angle_deg"] == pytest.approx(97.181, abs=1e-3)
    assert nc["mean_angle_deg"] == pytest.approx(nc["ideal_angle_deg"], abs=1e-6)
    assert nc["gram_distance"] == pytest.approx(0.0, abs=1e-9)
    assert nc["nc1"] == pytest.approx(0.0, abs=1e-12)


def test_degenerate_inputs() -> None:
    Z, y, _ = _collapsed(C=3)
    one = nc_metrics(Z[y == 0], y[y == 0])
    assert one["num_classes"] == 1 and math.isnan(one["nc1"])
    means = class_means(Z, y, [0, 1, 7])
    assert np.isnan(means[2]).all()
    G = gram_matrix(np.vstack([means[:2], means[:2].mean(axis=0)]), means[:2].mean(axis=0))
    assert G[2, 2] == 0.0  # a mean at the centre has no direction


def test_forget_feature_placement() -> None:
    rng = np.random.default_rng(6)
    retained = rng.standard_normal((4, 8)) * 5.0
    F = retained[2] + 0.1 * rng.standard_normal((30, 8))
    out = forget_feature_placement(F, retained, retained_classes=[0, 1, 2, 4])
    np.testing.assert_array_equal(out["counts"], [0, 0, 30, 0])
    assert out["top_class"] == 2
    np.testing.assert_allclose(out["fraction"].sum(), 1.0)
    assert out["mean_nearest_dist"] < 1.0
    assert out["mean_dist_to_means"].shape == (4,)

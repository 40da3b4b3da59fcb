"""The live geometry stream: probe selection, fixed basis, frames and POUR-P interpolation."""
from __future__ import annotations

import numpy as np
import pytest

from engine._core.events import Geometry
from engine.live.geometry import (
    FixedBasis,
    geometry_frame,
    interpolate_projection,
    make_geometry_event,
    select_probe,
)
from engine.live.simplex import projector_removing, removed_span_projector, simplex_etf


def test_probe_holds_all_forget_points_and_is_stratified() -> None:
    labels = np.repeat(np.arange(10), 500)  # 5,000 points
    forget = np.flatnonzero(labels == 3)[:100]
    probe = select_probe(labels, forget, max_points=600, seed=0)
    assert probe.size == 600
    assert np.all(np.diff(probe) > 0)  # sorted, unique
    assert set(forget.tolist()) <= set(probe.tolist())
    others = np.setdiff1d(probe, forget)
    counts = np.bincount(labels[others], minlength=10)
    # 500 others over 4,900 candidates: 500 · 500/4900 ≈ 51.0 per class, 400/4900·500 ≈ 40.8.
    expected = 500 * np.array([500] * 3 + [400] + [500] * 6) / 4900
    assert np.all(np.abs(counts - expected) <= 1)
    np.testing.assert_array_equal(probe, select_probe(labels, forget, max_points=600, seed=0))


def test_probe_bounds() -> None:
    labels = np.repeat(np.arange(4), 50)
    forget = np.arange(0, 200, 2)  # 100 forget points
    np.testing.assert_array_equal(select_probe(labels, forget, max_points=50), forget)
    np.testing.assert_array_equal(select_probe(labels, forget, max_points=5000), np.arange(200))
    assert select_probe(labels, np.array([], dtype=int), max_points=20).size == 20


def _features(C: int = 5, d: int = 12, per: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    V = simplex_etf(C, d, rng)
    y = np.repeat(np.arange(C), per)
    Z = 4.0 * V[y] + 1.5 + 0.3 * rng.standard_normal((y.size, d))
    return Z, y, V


def test_basis_is_orthonormal_deterministic_and_spans_the_means() -> None:
    Z, y, _ = _features(C=3)
    b1 = FixedBasis.from_features(Z, y, 3)
    b2 = FixedBasis.from_features(Z.copy(), y.copy(), 3)
    assert b1.axes.shape == (12, 2) and b1.origin.shape == (12,)
    np.testing.assert_allclose(b1.axes.T @ b1.axes, np.eye(2), atol=1e-12)
    np.testing.assert_array_equal(b1.axes, b2.axes)
    for k in range(2):  # sign convention
        ax = b1.axes[:, k]
        assert ax[np.argmax(np.abs(ax))] > 0
    # Three centred class means span a plane: the basis captures them exactly.
    means = np.stack([Z[y == c].mean(axis=0) for c in range(3)])
    centred = means - means.mean(axis=0)
    recon = b1.project(means) @ b1.axes.T
    np.testing.assert_allclose(recon, centred, atol=1e-10)
    b3 = FixedBasis.from_dict(b1.to_dict())
    np.testing.assert_array_equal(b3.project(Z), b1.project(Z))


def test_basis_with_two_classes_is_still_2d() -> None:
    Z, y, _ = _features(C=2)
    b = FixedBasis.from_features(Z, y, 2)
    np.testing.assert_allclose(b.axes.T @ b.axes, np.eye(2), atol=1e-12)


def test_frame_and_event() -> None:
    Z, y, V = _features(C=5)
    is_forget = y == 1
    basis = FixedBasis.from_features(Z, y, 6)  # class 5 has no points
    frame = geometry_frame(
        Z, y, is_forget, basis, W=V, b=np.zeros(5), retained_classes=[0, 2, 3, 4], num_classes=6
    )
    assert frame["coords"].shape == (200, 2) and frame["coords"].dtype == np.float32
    assert frame["means2d"].shape == (6, 2)
    assert np.isnan(frame["means2d"][5]).all() and not np.isnan(frame["means2d"][:5]).any()
    assert frame["gram"].shape == (6, 6)
    np.testing.assert_allclose(np.diag(frame["gram"])[:5], 1.0)
    assert np.isnan(frame["gram"][5]).all() and np.isnan(frame["gram"][:, 5]).all()
    nc = frame["nc"]
    assert nc["num_classes"] == 4
    assert nc["ideal_angle_deg"] == pytest.approx(np.degrees(np.arccos(-1 / 3)))
    assert {"nc1", "nc2_equinorm", "nc2_equiangle", "nc3", "nc4", "gram_distance"} <= set(nc)
    assert all(isinstance(v, float) for v in nc.values())

    ev = make_geometry_event("unlearn", 7, 0.5, frame, y, is_forget)
    assert isinstance(ev, Geometry)
    assert ev.step == 7 and ev.t == 0.5 and ev.stage == "unlearn"
    assert ev.coords.shape == (200, 2) and ev.is_forget.dtype == bool
    assert ev.coords is not frame["coords"]  # copies cross threads
    ev2 = make_geometry_event("unlearn", 8, 1.0, frame)
    np.testing.assert_array_equal(ev2.labels, y)


def test_interpolation_between_identity_and_projection() -> None:
    Z, _, V = _features(C=5)
    P = projector_removing(V[1])
    Pi = removed_span_projector(V[1])
    np.testing.assert_array_equal(interpolate_projection(Z, Pi, 0.0), Z)
    np.testing.assert_allclose(interpolate_projection(Z, Pi, 1.0), Z @ P.T, atol=1e-12)
    half = interpolate_projection(Z, Pi, 0.5)
    np.testing.assert_allclose(half, 0.5 * (Z + Z @ P.T), atol=1e-12)

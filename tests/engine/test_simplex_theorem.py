"""The POUR theorem (pour.md "POUR-P"), checked numerically on embedded simplex ETFs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.live.simplex import (
    projector_removing,
    projector_removing_torch,
    removed_span_projector,
    simplex_etf,
)

TOL = 1e-6


def _off_diag_cos(G: np.ndarray) -> np.ndarray:
    return G[~np.eye(G.shape[0], dtype=bool)]


@pytest.mark.parametrize("C", [2, 3, 10, 100])
def test_simplex_etf_is_an_etf(C: int) -> None:
    V = simplex_etf(C, C + 5, np.random.default_rng(C))  # (C, d)
    assert V.shape == (C, C + 5)
    np.testing.assert_allclose(np.linalg.norm(V, axis=1), 1.0, atol=TOL)
    np.testing.assert_allclose(_off_diag_cos(V @ V.T), -1.0 / (C - 1), atol=TOL)
    np.testing.assert_allclose(V.sum(axis=0), 0.0, atol=TOL)  # vertices sum to zero


def test_simplex_etf_needs_enough_dimensions() -> None:
    with pytest.raises(ValueError):
        simplex_etf(10, 8, 0)
    V = simplex_etf(10, 9, 0)  # d = C − 1 is the minimum
    np.testing.assert_allclose(_off_diag_cos(V @ V.T), -1.0 / 9, atol=TOL)


def test_simplex_etf_deterministic_given_seed() -> None:
    np.testing.assert_array_equal(simplex_etf(5, 9, 3), simplex_etf(5, 9, 3))
    assert not np.allclose(simplex_etf(5, 9, 3), simplex_etf(5, 9, 4))


def _check_projector(P: np.ndarray, k: int) -> None:
    np.testing.assert_allclose(P, P.T, atol=1e-12)  # symmetric
    np.testing.assert_allclose(P @ P, P, atol=1e-10)  # idempotent
    assert round(float(np.trace(P))) == P.shape[0] - k  # rank d − k


@pytest.mark.parametrize("C", [3, 10, 100])
def test_removing_one_vertex_leaves_a_smaller_etf(C: int) -> None:
    d = C + 5
    V = simplex_etf(C, d, np.random.default_rng(100 + C))
    u = C // 2
    P = projector_removing(V[u])
    _check_projector(P, 1)
    np.testing.assert_allclose(P @ V[u], 0.0, atol=TOL)
    rest = np.delete(V, u, axis=0) @ P.T  # (C−1, d) rows P v_i
    g = rest / np.linalg.norm(rest, axis=1, keepdims=True)
    # Theorem: cos(g_i, g_j) = −1/(C−2); for C = 3 the two remaining vertices are antipodal.
    np.testing.assert_allclose(_off_diag_cos(g @ g.T), -1.0 / (C - 2), atol=TOL)
    # The unnormalised norms follow the Schur-complement formula (see engine.live.simplex docstring).
    np.testing.assert_allclose(
        np.linalg.norm(rest, axis=1) ** 2, C * (C - 2) / ((C - 1) ** 2), atol=TOL
    )


@pytest.mark.parametrize("k", [2, 3])
def test_removing_several_vertices_leaves_a_smaller_etf(k: int) -> None:
    C, d = 10, 15
    V = simplex_etf(C, d, np.random.default_rng(7 + k))
    removed = [1, 4, 8][:k]
    P = projector_removing(V[removed])
    _check_projector(P, k)
    for s in removed:
        np.testing.assert_allclose(P @ V[s], 0.0, atol=TOL)
    rest = np.delete(V, removed, axis=0) @ P.T  # (C−k, d)
    np.testing.assert_allclose(
        np.linalg.norm(rest, axis=1) ** 2, C * (C - k - 1) / ((C - 1) * (C - k)), atol=TOL
    )
    g = rest / np.linalg.norm(rest, axis=1, keepdims=True)
    np.testing.assert_allclose(_off_diag_cos(g @ g.T), -1.0 / (C - k - 1), atol=TOL)


def test_removing_all_but_one_vertex_kills_the_last() -> None:
    # The vertices sum to 0, so the last one lies in the span of the others: P v_last = 0.
    C = 6
    V = simplex_etf(C, C + 2, 1)
    P = projector_removing(V[:-1])
    np.testing.assert_allclose(P @ V[-1], 0.0, atol=TOL)


def test_projector_ignores_scale_and_dependent_rows() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(12), rng.standard_normal(12)
    P1 = projector_removing(np.stack([a, b]))
    P2 = projector_removing(np.stack([5.0 * a, b, a + 2.0 * b, np.zeros(12)]))
    np.testing.assert_allclose(P1, P2, atol=1e-9)
    _check_projector(P2, 2)
    np.testing.assert_allclose(removed_span_projector(a) + projector_removing(a), np.eye(12))
    np.testing.assert_allclose(projector_removing(np.zeros(4)), np.eye(4))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_projector_matches_numpy(dtype: torch.dtype) -> None:
    V = simplex_etf(10, 15, 2)[:3]
    Pt = projector_removing_torch(torch.as_tensor(V, dtype=dtype))
    assert Pt.dtype == dtype and Pt.device.type == "cpu" and Pt.shape == (15, 15)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(Pt.double().numpy(), projector_removing(V), atol=tol)
    np.testing.assert_allclose(projector_removing(torch.as_tensor(V)), projector_removing(V))

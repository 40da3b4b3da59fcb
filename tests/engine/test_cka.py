"""Linear CKA (Kornblith et al. 2019) and its batched UUEF variant."""
from __future__ import annotations

import numpy as np
import pytest

from engine.metrics.cka import linear_cka, linear_cka_batched


def _orthogonal(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


def test_self_similarity_is_one() -> None:
    X = np.random.default_rng(0).standard_normal((50, 8))
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)


def test_invariant_to_orthogonal_maps_isotropic_scaling_and_translation() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 8))
    Y = X @ rng.standard_normal((8, 5)) + 0.5 * rng.standard_normal((60, 5))
    base = linear_cka(X, Y)
    assert 0.0 < base < 1.0
    assert linear_cka(3.7 * X @ _orthogonal(8, 2) + 10.0, Y) == pytest.approx(base, abs=1e-12)
    assert linear_cka(X, 0.01 * Y @ _orthogonal(5, 3) - 4.0) == pytest.approx(base, abs=1e-12)
    assert linear_cka(X, 2.0 * X @ _orthogonal(8, 4)) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(Y, X) == pytest.approx(base, abs=1e-12)  # symmetric


def test_hand_computed_example() -> None:
    # X = [[1,0],[0,1],[-1,-1]] has zero column means already.
    # Y = [[1],[2],[3]] centres to y = [-1, 0, 1].
    # XᵀY = [x1·y, x2·y] = [(1·-1 + 0 + -1·1), (0 + 0 + -1·1)] = [-2, -1]  → ‖XᵀY‖²_F = 5.
    # XᵀX = [[2, 1], [1, 2]] → ‖XᵀX‖_F = √(4+1+1+4) = √10;  YᵀY = [[2]] → ‖YᵀY‖_F = 2.
    # CKA = 5 / (2√10) = √10 / 4 ≈ 0.790569.
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    Y = np.array([[1.0], [2.0], [3.0]])
    assert linear_cka(X, Y) == pytest.approx(np.sqrt(10.0) / 4.0, abs=1e-12)
    assert linear_cka(X, Y[:, 0]) == pytest.approx(np.sqrt(10.0) / 4.0, abs=1e-12)  # 1-D input


def test_independent_features_give_small_cka() -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((5000, 5))
    Y = rng.standard_normal((5000, 5))
    assert linear_cka(X, Y) < 0.02  # expectation ≈ d/n = 0.001


def _direct(X: np.ndarray, Y: np.ndarray) -> float:
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    return float(
        np.linalg.norm(Xc.T @ Yc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
    )


@pytest.mark.parametrize("n,d1,d2", [(10, 50, 40), (400, 6, 3), (30, 30, 30)])
def test_sample_and_feature_forms_agree(n: int, d1: int, d2: int) -> None:
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, d1))
    Y = X[:, :1] @ rng.standard_normal((1, d2)) + rng.standard_normal((n, d2))
    assert linear_cka(X, Y) == pytest.approx(_direct(X, Y), abs=1e-10)


def test_degenerate_inputs_give_zero() -> None:
    X = np.random.default_rng(0).standard_normal((20, 4))
    assert linear_cka(np.zeros((20, 3)), X) == 0.0
    assert linear_cka(np.full((20, 3), 0.1), X) == 0.0  # constant columns: no variance
    assert linear_cka(X[:1], X[:1]) == 0.0  # a single sample
    with pytest.raises(ValueError):
        linear_cka(X, X[:10])


def test_batched_is_mean_over_batches() -> None:
    rng = np.random.default_rng(9)
    X = rng.standard_normal((25, 6))
    Y = X + rng.standard_normal((25, 6))
    assert linear_cka_batched(X, Y, batch=512) == pytest.approx(linear_cka(X, Y))
    manual = np.mean([linear_cka(X[:10], Y[:10]), linear_cka(X[10:20], Y[10:20]),
                      linear_cka(X[20:], Y[20:])])
    assert linear_cka_batched(X, Y, batch=10) == pytest.approx(manual)
    # A trailing batch of one row is dropped (CKA is undefined on one sample).
    assert linear_cka_batched(X[:21], Y[:21], batch=10) == pytest.approx(
        np.mean([linear_cka(X[:10], Y[:10]), linear_cka(X[10:20], Y[10:20])])
    )

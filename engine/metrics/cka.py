"""Linear Centered Kernel Alignment (Kornblith et al., ICML 2019).

CKA(X, Y) = ‖XᵀY‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) with the columns of X and Y centred (pour.md "Metrics";
equivalently HSIC(XXᵀ, YYᵀ) / √(HSIC(XXᵀ, XXᵀ) HSIC(YYᵀ, YYᵀ)), methods.md B9). Rows of X and Y are
the SAME images passed through two models.

Degenerate input: if either matrix has (numerically) zero variance after centring, CKA is
undefined (0/0); this module returns 0.0 for it ("no shared structure") and never warns.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from engine.metrics.accuracy import as_numpy

# Relative size below which the centred matrix counts as zero (rounding noise of the mean).
_DEGENERATE_RTOL = 1e-12


def _centred_unit(X: Any) -> np.ndarray | None:
    """Column-centred X scaled to unit Frobenius norm, or None when it has no variance."""
    A = as_numpy(X, dtype=np.float64)
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim != 2:
        raise ValueError(f"expected an (n, d) feature matrix, got shape {A.shape}")
    scale = float(np.linalg.norm(A))
    if not np.isfinite(scale):
        raise ValueError("feature matrix contains non-finite values")
    if scale == 0.0:
        return None
    A = A / scale  # CKA is scale-invariant; this keeps the products below far from overflow
    Ac = A - A.mean(axis=0, keepdims=True)  # (n, d)
    norm = float(np.linalg.norm(Ac))
    if norm <= _DEGENERATE_RTOL:
        return None
    return Ac / norm


def linear_cka(X: Any, Y: Any) -> float:
    """Linear CKA in [0, 1] between X (n, d1) and Y (n, d2) (Kornblith et al. 2019, eq. 5).

    Uses the feature-space form ‖XᵀY‖²_F / (‖XᵀX‖_F‖YᵀY‖_F) (cost ~ n·(d1+d2)²) or the
    sample-space form ⟨XXᵀ, YYᵀ⟩_F / (‖XXᵀ‖_F‖YYᵀ‖_F) (cost ~ n²·(d1+d2)), whichever is cheaper;
    both are equal. Returns 0.0 if either input has zero variance (documented above), and 0.0 for
    n < 2.
    """
    X = as_numpy(X, dtype=np.float64)
    Y = as_numpy(Y, dtype=np.float64)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must hold the same images: {X.shape[0]} vs {Y.shape[0]} rows")
    if X.shape[0] < 2:
        return 0.0
    A = _centred_unit(X)  # (n, d1)
    B = _centred_unit(Y)  # (n, d2)
    if A is None or B is None:
        return 0.0
    n, d1 = A.shape
    d2 = B.shape[1]
    if n * (d1 + d2) < d1 * d2 + d1 * d1 + d2 * d2:
        K = A @ A.T  # (n, n)
        L = B @ B.T  # (n, n)
        num = float(np.vdot(K, L))
        den = float(np.linalg.norm(K) * np.linalg.norm(L))
    else:
        num = float(np.linalg.norm(A.T @ B) ** 2)  # ‖XᵀY‖²_F, (d1, d2) product
        den = float(np.linalg.norm(A.T @ A) * np.linalg.norm(B.T @ B))
    if den <= 0.0:
        return 0.0
    return float(min(max(num / den, 0.0), 1.0))


def linear_cka_batched(X: Any, Y: Any, batch: int = 512) -> float:
    """Mean of :func:`linear_cka` over consecutive batches of ``batch`` rows.

    This is the UUEF convention ("Are We Truly Forgetting?", Kim et al., arXiv 2503.06991; their
    ``main_cka.py`` averages per-batch CKA over the loader). The last batch is used as it is unless
    it has fewer than 2 rows (CKA is undefined on one sample), in which case it is dropped. With
    n ≤ batch this equals :func:`linear_cka`. Order matters: pass rows in loader order.
    """
    A = as_numpy(X, dtype=np.float64)
    B = as_numpy(Y, dtype=np.float64)
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"X and Y must hold the same images: {A.shape[0]} vs {B.shape[0]} rows")
    if batch < 2:
        raise ValueError("batch must be at least 2")
    n = A.shape[0]
    values = [
        linear_cka(A[s : s + batch], B[s : s + batch])
        for s in range(0, n, batch)
        if min(n, s + batch) - s >= 2
    ]
    if not values:
        return 0.0
    return float(np.mean(values))

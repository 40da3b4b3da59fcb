"""Simplex equiangular tight frames and the projectors POUR uses.

Simplex ETF (Papyan et al. 2020): C unit vectors v_i with v_iᵀv_j = −1/(C−1) (i ≠ j); they span a
(C−1)-dimensional subspace, so they embed in R^d for d ≥ C−1.

POUR (Le et al., arXiv 2511.19339; pour.md "POUR-P"): P = I − Vᵀ(VVᵀ)⁺V removes the span of the
normalised rows of V. Theorem checked in tests: for a simplex ETF and S = any k of its vertices
(k ≤ C−2), the vectors P v_i / ‖P v_i‖, i ∉ S, form a (C−k)-vertex simplex ETF
(cosine −1/(C−k−1)) and P v_s = 0 for s ∈ S. Proof sketch: the ETF Gram is G = aI − b11ᵀ with
a = C/(C−1), b = 1/(C−1); the Schur complement gives ⟨Pv_i, Pv_j⟩ = G_ij − G_iS G_SS⁻¹ G_Sj with
G_iS G_SS⁻¹ G_Sj = k / ((C−1)(C−k)), so ‖Pv_i‖² = C(C−k−1)/((C−1)(C−k)) and
⟨Pv_i, Pv_j⟩ = −C/((C−1)(C−k)), whose ratio is −1/(C−k−1). (With k = C−1 the last vertex is
−Σ of the removed ones and projects to 0.)
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

# Relative cut-off for the pseudo-inverse of VVᵀ: directions that are numerically dependent on
# the others (eigenvalue < 1e-10 × the largest) add nothing to the removed span.
_RCOND = 1e-10


def _rng(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def random_orthonormal(d: int, k: int, rng: Any = None) -> np.ndarray:
    """(d, k) matrix with orthonormal columns drawn uniformly (QR of a Gaussian, sign-fixed)."""
    if k > d:
        raise ValueError(f"cannot fit {k} orthonormal columns in R^{d}")
    g = _rng(rng).standard_normal((d, k))
    q, r = np.linalg.qr(g)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs  # (d, k)


def simplex_etf(C: int, d: int, rng: Any = None) -> np.ndarray:
    """(C, d) unit vectors with pairwise cosine −1/(C−1), placed in R^d by a random isometry.

    Built from the centred standard basis e_i − 1/C (which lies in the (C−1)-dim subspace
    1^⊥ of R^C), written in an orthonormal basis of 1^⊥ and mapped by a random (C−1) → d
    isometry. Needs d ≥ C−1. ``rng`` is a numpy Generator or a seed.
    """
    if C < 1:
        raise ValueError("C must be at least 1")
    gen = _rng(rng)
    if C == 1:
        v = gen.standard_normal((1, d))
        return v / np.linalg.norm(v)
    if d < C - 1:
        raise ValueError(f"a {C}-vertex simplex ETF needs d ≥ {C - 1}, got d = {d}")
    E = np.eye(C) - 1.0 / C  # (C, C) centred basis vectors as rows
    # Orthonormal basis of 1^⊥: the right singular vectors of E with non-zero singular value.
    _, _, Vt = np.linalg.svd(E)
    B = Vt[: C - 1]  # (C−1, C)
    coords = E @ B.T  # (C, C−1)
    coords /= np.linalg.norm(coords, axis=1, keepdims=True)
    Q = random_orthonormal(d, C - 1, gen)  # (d, C−1)
    return coords @ Q.T  # (C, d)


def _unit_rows_np(V: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(V, axis=1, keepdims=True)  # (k, 1)
    return V[n[:, 0] > 0] / n[n[:, 0] > 0]


def projector_removing(V: Any) -> np.ndarray:
    """(d, d) float64 P = I − Vᵀ(VVᵀ)⁺V, the projector onto the orthogonal complement of the
    span of the rows of V (pour.md "POUR-P").

    V: (d,) one direction or (k, d) several. Rows are normalised first (zero rows are ignored);
    the pseudo-inverse makes linearly dependent rows harmless. P is symmetric and idempotent.
    """
    if isinstance(V, torch.Tensor):
        V = V.detach().cpu().numpy()
    A = np.asarray(V, dtype=np.float64)
    if A.ndim == 1:
        A = A[None, :]
    d = A.shape[1]
    U = _unit_rows_np(A)  # (k', d)
    if U.shape[0] == 0:
        return np.eye(d)
    P = np.eye(d) - U.T @ np.linalg.pinv(U @ U.T, rcond=_RCOND, hermitian=True) @ U
    return 0.5 * (P + P.T)  # exact symmetry against rounding


def projector_removing_torch(V: torch.Tensor) -> torch.Tensor:
    """:func:`projector_removing` for a tensor: (d, d) with V's dtype and device.

    Computed in float64 (on the CPU when the device has no float64, e.g. Apple MPS) and cast back,
    so a float32 projector is as exact as float32 allows. No gradient flows through it.
    """
    V = V.detach()
    work_device = V.device if V.device.type in ("cpu", "cuda") else torch.device("cpu")
    A = V.to(device=work_device, dtype=torch.float64)
    if A.ndim == 1:
        A = A[None, :]
    d = A.shape[1]
    n = torch.linalg.vector_norm(A, dim=1)  # (k,)
    U = A[n > 0] / n[n > 0, None]  # (k', d)
    eye = torch.eye(d, dtype=torch.float64, device=work_device)
    if U.shape[0] == 0:
        P = eye
    else:
        P = eye - U.T @ torch.linalg.pinv(U @ U.T, rtol=_RCOND, hermitian=True) @ U
        P = 0.5 * (P + P.T)
    out_dtype = V.dtype if V.dtype.is_floating_point else torch.get_default_dtype()
    return P.to(device=V.device, dtype=out_dtype)


def removed_span_projector(V: Any) -> np.ndarray:
    """(d, d) Π = I − P: the orthogonal projector onto the span that P removes."""
    P = projector_removing(V)
    return np.eye(P.shape[0]) - P

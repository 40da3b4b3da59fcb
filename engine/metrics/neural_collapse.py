"""Neural-collapse metrics (Papyan, Han & Donoho, PNAS 2020) on penultimate features h.

With class means μ_c, global mean μ_G, M = [μ_c − μ_G] and classifier W (C×d) (methods.md B11):
- NC1 = (1/C) tr(Σ_W Σ_B⁺), Σ_W = Avg_{i,c}(h_ic − μ_c)(h_ic − μ_c)ᵀ,
  Σ_B = Avg_c(μ_c − μ_G)(μ_c − μ_G)ᵀ;
- NC2 equinorm = Std_c‖μ_c − μ_G‖ / Avg_c‖μ_c − μ_G‖ (and the same for the rows of W);
  equiangularity = Avg_{c≠c'} |cos(μ_c − μ_G, μ_c' − μ_G) + 1/(C−1)|;
- NC3 self-duality = ‖W/‖W‖_F − Mᵀ/‖M‖_F‖²_F;
- NC4 = fraction of samples where argmax_c(w_cᵀh + b_c) ≠ argmin_c‖h − μ_c‖ (NCC disagreement).

Choices (documented): μ_G is the mean of the class means. For balanced classes this is Papyan's
global mean; it keeps the geometry independent of how many samples each class contributes (a
plotting probe over-samples the forget class). Σ_W averages over all samples as in the paper.
``classes`` restricts everything, including argmax/argmin in NC4, to those classes (the retained
ones after class unlearning, whose ideal angle is arccos(−1/(C−2)) for C−1 retained classes).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from engine.metrics.accuracy import as_numpy


def class_means(Z: Any, y: Any, classes: Any) -> np.ndarray:
    """(C, d) mean feature of each class in ``classes`` (a NaN row for a class without samples)."""
    H = as_numpy(Z, dtype=np.float64)  # (N, d)
    lab = as_numpy(y).reshape(-1)  # (N,)
    cls = np.asarray(classes).reshape(-1)
    out = np.full((cls.size, H.shape[1]), np.nan, dtype=np.float64)
    for i, c in enumerate(cls):
        sel = lab == c
        if sel.any():
            out[i] = H[sel].mean(axis=0)
    return out


def _unit_rows(A: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm; zero rows stay zero (no division warning)."""
    n = np.linalg.norm(A, axis=1, keepdims=True)  # (C, 1)
    safe = np.where(n > 0, n, 1.0)
    return np.where(n > 0, A / safe, 0.0)


def gram_matrix(means: Any, global_mean: Any) -> np.ndarray:
    """(C, C) Gram matrix of centred, L2-normalised class means: cos(μ_c − μ_G, μ_c' − μ_G).

    A class mean equal to μ_G has no direction: its row and column are 0 (diagonal included).
    """
    M = as_numpy(means, dtype=np.float64) - as_numpy(global_mean, dtype=np.float64)  # (C, d)
    U = _unit_rows(M)
    return U @ U.T


def etf_gram(C: int) -> np.ndarray:
    """(C, C) Gram matrix of a simplex ETF: 1 on the diagonal, −1/(C−1) off it."""
    if C < 1:
        raise ValueError("C must be at least 1")
    if C == 1:
        return np.ones((1, 1))
    G = np.full((C, C), -1.0 / (C - 1))
    np.fill_diagonal(G, 1.0)
    return G


def gram_distance(G: Any) -> float:
    """‖G − G_etf‖_F / ‖G_etf‖_F: 0 for a perfect simplex ETF."""
    A = as_numpy(G, dtype=np.float64)
    E = etf_gram(A.shape[0])
    return float(np.linalg.norm(A - E) / np.linalg.norm(E))


def ideal_angle_deg(C: int) -> float:
    """arccos(−1/(C−1)) in degrees (96.38° for C = 10, 97.18° for C = 9); NaN for C < 2."""
    if C < 2:
        return float("nan")
    return float(np.degrees(np.arccos(-1.0 / (C - 1))))


def _nan_metrics(with_w: bool, C: int) -> dict[str, float]:
    out = {
        "num_classes": float(C),
        "nc1": float("nan"),
        "nc2_equinorm": float("nan"),
        "nc2_equiangle": float("nan"),
        "nc2_cos_std": float("nan"),
        "mean_angle_deg": float("nan"),
        "ideal_angle_deg": ideal_angle_deg(C),
        "gram_distance": float("nan"),
    }
    if with_w:
        out.update(nc2_equinorm_w=float("nan"), nc3=float("nan"), nc4=float("nan"))
    return out


def nc_metrics(
    Z: Any,
    y: Any,
    W: Any = None,
    b: Any = None,
    classes: Any = None,
) -> dict[str, float]:
    """Neural-collapse numbers of features Z (N, d) with labels y (N,) (Papyan et al. 2020).

    Keys: num_classes, nc1, nc2_equinorm, nc2_equiangle, nc2_cos_std, mean_angle_deg (mean
    pairwise angle of the centred class means), ideal_angle_deg, gram_distance; with W (K, d)
    also nc2_equinorm_w, nc3 and nc4 (b (K,) defaults to zero bias). Class labels index the rows
    of W. ``classes`` selects the classes used (default: those present in y); requested classes
    without samples are skipped. Fewer than 2 classes: the numbers are NaN.
    """
    H_all = as_numpy(Z, dtype=np.float64)  # (N, d)
    lab_all = as_numpy(y).reshape(-1)  # (N,)
    if H_all.shape[0] != lab_all.size:
        raise ValueError("Z and y differ in length")
    req = np.unique(lab_all) if classes is None else np.asarray(as_numpy(classes)).reshape(-1)
    used = np.array([c for c in req if np.any(lab_all == c)], dtype=lab_all.dtype)
    C = int(used.size)
    if C < 2:
        return _nan_metrics(W is not None, C)

    keep = np.isin(lab_all, used)
    H = H_all[keep]  # (n, d)
    lab = lab_all[keep]  # (n,)
    used = np.sort(used)
    pos = np.searchsorted(used, lab)  # (n,) index of each sample's class in ``used``
    means = class_means(H, lab, used)  # (C, d)
    mu_g = means.mean(axis=0)  # (d,)
    M = means - mu_g  # (C, d) rows μ_c − μ_G
    n = H.shape[0]

    # NC1 = (1/C) tr(Σ_W Σ_B⁺) without forming d×d matrices: Σ_B = MᵀM / C = U S² Uᵀ / C, so
    # Σ_B⁺ = C U S⁻² Uᵀ and NC1 = Σ_k ‖R u_k‖² / (n s_k²) with R the within-class residuals.
    R = H - means[pos]  # (n, d)
    _, s, Vt = np.linalg.svd(M, full_matrices=False)  # Vt (r, d): principal directions
    tol = (s.max() if s.size else 0.0) * max(M.shape) * np.finfo(np.float64).eps
    nz = s > tol
    if nz.any():
        proj = R @ Vt[nz].T  # (n, r)
        nc1 = float(np.sum(np.sum(proj**2, axis=0) / (n * s[nz] ** 2)))
    else:
        nc1 = float("nan")

    norms = np.linalg.norm(M, axis=1)  # (C,)
    mean_norm = float(norms.mean())
    equinorm = float(norms.std() / mean_norm) if mean_norm > 0 else float("nan")

    G = gram_matrix(means, mu_g)  # (C, C)
    off = ~np.eye(C, dtype=bool)
    cos = G[off]  # (C(C−1),)
    equiangle = float(np.mean(np.abs(cos + 1.0 / (C - 1))))
    angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))

    out: dict[str, float] = {
        "num_classes": float(C),
        "nc1": nc1,
        "nc2_equinorm": equinorm,
        "nc2_equiangle": equiangle,
        "nc2_cos_std": float(np.std(cos)),
        "mean_angle_deg": float(np.mean(angles)),
        "ideal_angle_deg": ideal_angle_deg(C),
        "gram_distance": gram_distance(G),
    }

    if W is not None:
        Wa = as_numpy(W, dtype=np.float64)  # (K, d)
        rows = used.astype(np.int64)
        Ws = Wa[rows]  # (C, d)
        wn = np.linalg.norm(Ws, axis=1)
        out["nc2_equinorm_w"] = float(wn.std() / wn.mean()) if wn.mean() > 0 else float("nan")
        nw, nm = float(np.linalg.norm(Ws)), float(np.linalg.norm(M))
        if nw > 0 and nm > 0:
            out["nc3"] = float(np.linalg.norm(Ws / nw - M / nm) ** 2)
        else:
            out["nc3"] = float("nan")
        bs = np.zeros(C) if b is None else as_numpy(b, dtype=np.float64).reshape(-1)[rows]
        logits = H @ Ws.T + bs  # (n, C)
        d2 = (
            np.sum(H**2, axis=1, keepdims=True) - 2.0 * H @ means.T + np.sum(means**2, axis=1)
        )  # (n, C) squared distances to the class means
        out["nc4"] = float(np.mean(np.argmax(logits, axis=1) != np.argmin(d2, axis=1)))
    return out


def forget_feature_placement(
    Z_forget: Any, retained_means: Any, retained_classes: Any = None
) -> dict[str, Any]:
    """Where forget-class features sit relative to the retained class means (methods.md B11).

    Z_forget: (n_f, d); retained_means: (C_r, d); retained_classes: (C_r,) labels of those means
    (default 0..C_r−1). Returns dict(classes (C_r,), counts (C_r,) NCC assignment histogram,
    fraction (C_r,), mean_nearest_dist (float), mean_dist_to_means (C_r,), top_class (int, −1
    if no features)).
    """
    F = as_numpy(Z_forget, dtype=np.float64)  # (n_f, d)
    Mr = as_numpy(retained_means, dtype=np.float64)  # (C_r, d)
    Cr = Mr.shape[0]
    cls = np.arange(Cr) if retained_classes is None else np.asarray(retained_classes).reshape(-1)
    if F.shape[0] == 0 or Cr == 0:
        return {
            "classes": cls,
            "counts": np.zeros(Cr, dtype=np.int64),
            "fraction": np.full(Cr, np.nan),
            "mean_nearest_dist": float("nan"),
            "mean_dist_to_means": np.full(Cr, np.nan),
            "top_class": -1,
        }
    d2 = np.sum(F**2, axis=1, keepdims=True) - 2.0 * F @ Mr.T + np.sum(Mr**2, axis=1)
    dist = np.sqrt(np.maximum(d2, 0.0))  # (n_f, C_r)
    nearest = np.argmin(dist, axis=1)  # (n_f,)
    counts = np.bincount(nearest, minlength=Cr).astype(np.int64)
    return {
        "classes": cls,
        "counts": counts,
        "fraction": counts / float(F.shape[0]),
        "mean_nearest_dist": float(dist[np.arange(F.shape[0]), nearest].mean()),
        "mean_dist_to_means": dist.mean(axis=0),
        "top_class": int(cls[int(np.argmax(counts))]),
    }

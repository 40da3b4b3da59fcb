"""Shadow-model statistics of KLoM (methods.md B7) and U-LiRA (methods.md B5): pure functions on
arrays of per-model margins, testable without training (the jobs live in engine.evaluation.ensembles)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine._core.errors import BadSpec

PAPER_K = {"klom": 100, "ulira": 8}  # B7: N = 100 (Data-Unlearn-Bench); B5: K = 8 (class-forgetting scripts)
MIN_K = {"klom": 2, "ulira": 3}  # U-LiRA needs ≥ 2 fitting shadows per hypothesis for a variance

KLOM_CLIP = 100.0  # B7: margins clipped to [−100, 100]
KLOM_Q_FLOOR = 1e-5  # B7: q replaced by max(q, 1e-5) where p > 0
PER_SAMPLE_MIN_FIT = 4  # U-LiRA: per-sample σ from ≥ 4 fitting shadows, else one σ pooled over samples
SIGMA_FLOOR = 1e-4


# ------------------------------------------------------------------------------------ statistics
def margins(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """B7 margin φ(x) = z_y(x) − logsumexp_{k≠y} z_k(x), shape (N,).

    This is also B5's logit-scaled confidence log(p_y / (1 − p_y)) of the softmax, computed stably.
    """
    from scipy.special import logsumexp  # lazy: keeps ~0.9 s off every start
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    rows = np.arange(len(z))
    zy = z[rows, y]
    other = z.copy()
    other[rows, y] = -np.inf
    return zy - logsumexp(other, axis=1)


def klom_bins(k: int) -> int:
    """B7: 20 bins at the paper's N; with few models at most 10 bins (≈ one per model, at least 2)."""
    return 20 if k >= PAPER_K["klom"] else int(min(10, max(2, k)))


def klom_scores(oracle: np.ndarray, unlearned: np.ndarray, bins: int = 20, clip: float = KLOM_CLIP) -> np.ndarray:
    """B7 per-sample KLoM(x) = KL(p_oracle ‖ p_unlearned) of margin histograms, shape (N,).

    ``oracle`` (K1, N) and ``unlearned`` (K2, N) are margins of each model on each sample. Per
    sample: clip to [−clip, clip], ``bins`` equal bins over the joint range of both samples,
    histogram probabilities, q ← max(q, 1e-5) where p > 0, then scipy.stats.entropy(p, q) (which
    renormalises q). 0 = identical histograms.
    """
    o = np.clip(np.asarray(oracle, dtype=np.float64), -clip, clip)
    u = np.clip(np.asarray(unlearned, dtype=np.float64), -clip, clip)
    if o.ndim != 2 or u.ndim != 2 or o.shape[1] != u.shape[1]:
        raise ValueError(f"klom_scores: expected (K1, N) and (K2, N), got {o.shape} and {u.shape}")
    n = o.shape[1]
    lo = np.minimum(o.min(axis=0), u.min(axis=0))
    width = np.maximum(o.max(axis=0), u.max(axis=0)) - lo
    width = np.where(width > 0, width, 1.0)  # all values equal: everything in bin 0

    def hist(v: np.ndarray) -> np.ndarray:
        idx = np.clip(np.floor((v - lo) / width * bins).astype(np.int64), 0, bins - 1)  # right edge -> last bin
        counts = np.zeros((n, bins))
        np.add.at(counts, (np.broadcast_to(np.arange(n), v.shape), idx), 1.0)
        return counts / v.shape[0]

    p, q = hist(o), hist(u)
    q = np.where(p > 0, np.maximum(q, KLOM_Q_FLOOR), q)
    q = q / q.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0)
    return terms.sum(axis=1)


def _gauss_logpdf(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd) - 0.5 * math.log(2 * math.pi)


def ulira_attack(
    phi_unlearned: np.ndarray,
    phi_retrain: np.ndarray,
    *,
    per_sample_variance: bool | None = None,
    holdout: str = "last",
) -> dict[str, Any]:
    """B5 U-LiRA statistic from shadow confidences; no training.

    ``phi_unlearned`` and ``phi_retrain`` are (K, N): the logit-scaled confidence of each of N
    forget samples under K unlearned and K retrained shadows. Per sample, Gaussians are fitted to
    the first K−1 shadows of each hypothesis; the last shadow of each is held out. The held-out
    unlearned outputs are the positives, the held-out retrained ones the negatives, scored by the
    log-likelihood ratio log N(φ; μ_unl, σ_unl) − log N(φ; μ_ret, σ_ret). Returns ROC-AUC and the
    balanced accuracy at the best threshold (0.5 = the ideal, indistinguishable).

    Variance: per-sample σ needs several shadows; with fewer than ``PER_SAMPLE_MIN_FIT`` fitting
    shadows (``per_sample_variance=None`` → auto) each hypothesis uses one σ pooled over the forget
    samples (the "global variance" LiRA variant), with per-sample means.

    ``holdout="last"`` is the spec / C code (one held-out pair: the AUC then rests on two models
    and is very noisy at small K). ``holdout="rotate"`` repeats the fit K times, holding out pair j
    each time, and pools the K·N positives and K·N negatives into one ROC (leave-one-pair-out).
    """
    from sklearn.metrics import roc_auc_score, roc_curve  # lazy: keeps ~0.9 s off every start
    u = np.asarray(phi_unlearned, dtype=np.float64)
    r = np.asarray(phi_retrain, dtype=np.float64)
    if u.ndim != 2 or r.shape != u.shape:
        raise ValueError(f"ulira_attack: expected two (K, N) arrays of the same shape, got {u.shape} and {r.shape}")
    k = u.shape[0]
    if k < MIN_K["ulira"]:
        raise BadSpec(f"U-LiRA needs k >= {MIN_K['ulira']} shadow pairs (K−1 to fit a variance, 1 held out), got {k}")
    per_sample = (k - 1 >= PER_SAMPLE_MIN_FIT) if per_sample_variance is None else per_sample_variance

    def fit(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = a.mean(axis=0)
        var = a.var(axis=0, ddof=1)
        sd = np.sqrt(var) if per_sample else np.full_like(mu, math.sqrt(float(var.mean())))
        return mu, np.maximum(sd, SIGMA_FLOOR)

    if holdout not in ("last", "rotate"):
        raise ValueError(f"ulira_attack: holdout must be 'last' or 'rotate', got {holdout!r}")
    pos_parts, neg_parts = [], []
    for j in ([k - 1] if holdout == "last" else range(k)):
        keep = np.arange(k) != j
        mu_u, sd_u = fit(u[keep])
        mu_r, sd_r = fit(r[keep])
        pos_parts.append(_gauss_logpdf(u[j], mu_u, sd_u) - _gauss_logpdf(u[j], mu_r, sd_r))
        neg_parts.append(_gauss_logpdf(r[j], mu_u, sd_u) - _gauss_logpdf(r[j], mu_r, sd_r))
    pos, neg = np.concatenate(pos_parts), np.concatenate(neg_parts)
    labels = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
    scores = np.concatenate([pos, neg])
    auc = float(roc_auc_score(labels, scores))
    fpr, tpr, _ = roc_curve(labels, scores)
    acc = float(np.max((tpr + 1.0 - fpr) / 2.0))
    return {"ulira_auc": auc, "ulira_accuracy": acc, "per_sample_variance": bool(per_sample), "rotated": holdout == "rotate"}



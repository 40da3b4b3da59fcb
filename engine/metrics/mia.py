"""Output-level membership-inference attacks for unlearning audits (methods.md B2, B3, B4, B6).

Pure functions on numpy arrays (logits, probabilities, labels, losses); the caller picks the
member / non-member / target sets. All scores are *fractions* in [0, 1].

- :func:`svc_mia_efficacy` — SalUn / Unlearn-Sparse SVC attack on the confidence p_y (B2,
  ``evaluation/SVC_MIA.py``): fraction of forget samples classified "non-member" (↑, ideal =
  retrain). Shadow members come from :func:`stratified_members` (seeded, stratified; pitfall D6).
- :func:`svc_shadow_fit` — how much the B2 attack can be trusted on a given model: the same SVC's
  held-out accuracy / ROC-AUC on its own shadow data (members vs non-members, 5 folds), a coin
  flip's 95 % bound at those sizes, how far the score moves between the fold models, and the
  share of targets outside the shadow features' range (where the SVC's label is extrapolation).
- :func:`entropy_lr_mia` — SSD / Bad-Teacher entropy logistic regression (B3): fraction of forget
  samples called "member" (↓).
- :func:`zrf` — Zero Retrain Forgetting (B3), 1 − mean Jensen–Shannon divergence (natural log)
  between the model and an incompetent (freshly initialised) teacher on the forget set. With the
  natural log JS ≤ ln 2, so ZRF ∈ [1 − ln 2, 1] ≈ [0.31, 1]; higher = closer to "knows nothing".
- :func:`loss_threshold_mia` — SCRUB's loss attack (B4): 5 stratified shuffle splits of a logistic
  regression on the per-sample loss, plus the parameter-free ROC-AUC and the loss histograms.
- :func:`threshold_sweep` — worst-case privacy: max over thresholds of TPR − FPR (the membership
  advantage) with a permutation chance level and the most vulnerable forget samples.
- :func:`mia_nn` and :func:`tv_leakage` — class-forgetting attacks of arXiv 2506.20893 (B6,
  a reconstruction **[I]**: nearest-class SVM on the remaining-class probability profile).
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable

import numpy as np

from engine.metrics.accuracy import as_numpy

# Per-sample losses are clipped here: a masked logit (-1e9) gives a loss of 1e9 that would
# dominate any scale; 30 nats is already "probability below 1e-13".
LOSS_CLIP = 30.0
# SVC training is O(n²): cap each shadow side (SalUn uses |D_t| = 10,000 on CIFAR). Measured on this
# 2-core machine (1-D confidences): 2,000 rows per side fit in 0.5 s, 4,500 in 3.6 s, 10,000 in 17 s,
# and an SVC fit cannot be cancelled midway (the audit promises a cancel within a second). The
# shared CIFAR-10 subset (2,000 test images) and PathMNIST subset never reach the cap; full
# CIFAR-10 does (the issue measured −1.5 to −2.2 points there). The audit records the cap and
# whether it applied with the score (``details["matched"]["svc"]``: ``cap``, ``capped``).
MAX_SHADOW = 2000
_EPS = 1e-12
# One-sided 95 % normal quantile: a coin flip's held-out accuracy on N rows stays below
# 0.5 + SHADOW_Z · 0.5 / √N in 95 % of draws (binomial, normal approximation).
SHADOW_Z = 1.645
SHADOW_FOLDS = 5
# The reference's two-class multinomial logistic regression with C = 1 is the binary fit with C = 2.
ENTROPY_MIA_C = 2.0


# ---------------------------------------------------------------------------------------- basics
def softmax(logits: Any) -> np.ndarray:
    """Row-wise softmax in float64, stable for masked logits (-1e9)."""
    z = as_numpy(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confidence(probs: Any, y: Any) -> np.ndarray:
    """p_y(x): probability of the true label (B2's "confidence" feature)."""
    p = as_numpy(probs, dtype=np.float64)
    lab = as_numpy(y).reshape(-1).astype(np.int64)
    return p[np.arange(len(lab)), lab]


def entropy(probs: Any) -> np.ndarray:
    """−Σ p log p per row (natural log)."""
    p = as_numpy(probs, dtype=np.float64)
    return -np.sum(p * np.log(np.clip(p, _EPS, 1.0)), axis=1)


def per_sample_loss(logits: Any, y: Any, clip: float = LOSS_CLIP) -> np.ndarray:
    """Cross-entropy per sample from logits, clipped to [0, ``clip``]."""
    z = as_numpy(logits, dtype=np.float64)
    lab = as_numpy(y).reshape(-1).astype(np.int64)
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))).reshape(-1)
    return np.clip(lse - z[np.arange(len(lab)), lab], 0.0, clip)


def stratified_members(
    candidate_idx: Any, candidate_labels: Any, target_labels: Any, *, seed: int = 0, cap: int | None = None
) -> np.ndarray:
    """Seeded stratified sample of ``candidate_idx`` matching the class counts of ``target_labels``.

    Methods.md pitfall D6: SalUn's shadow members are "the first |D_t| retain samples in dataset
    order"; Lethe draws them per class with a seed instead, so members and non-members have the
    same class mix (otherwise the attack learns the class, not membership). Returns sorted indices
    (a subset of ``candidate_idx``); ``cap`` limits the total, keeping the proportions.
    """
    idx = np.asarray(candidate_idx).reshape(-1)
    lab = np.asarray(candidate_labels).reshape(-1)
    tgt = np.asarray(target_labels).reshape(-1)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(tgt, return_counts=True)
    if cap is not None and counts.sum() > cap:
        counts = np.maximum(1, np.floor(counts * cap / counts.sum())).astype(np.int64)
    parts = []
    for c, k in zip(classes, counts, strict=True):
        pool = idx[lab == c]
        parts.append(rng.permutation(pool)[: int(k)])
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(parts)).astype(np.int64)


def match_classes(
    labels_a: Any, labels_b: Any, *, seed: int = 0, cap: int | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Class-matched subsamples of two labelled sides (members / non-members of a membership attack).

    labels_a: (n_a,), labels_b: (n_b,). For every class c both sides keep min(#a_c, #b_c) rows,
    drawn with a seeded permutation per class (stratified subsampling to the smaller side), so the
    two sides have the *same* class distribution and an attack cannot score by recognising the
    class. Classes present on one side only are dropped (listed in ``dropped``). ``cap`` limits each
    side's total, shrinking every class proportionally (floor, at least one row per class kept).

    Returns (positions into a, positions into b, info) with sorted int64 positions and info =
    {"per_class": {class: rows per side}, "n": rows per side, "dropped": {class: [#a, #b]},
    "cap": cap or None, "capped": bool}. Both position arrays have the same length.
    """
    a = np.asarray(labels_a).reshape(-1)
    b = np.asarray(labels_b).reshape(-1)
    rng = np.random.default_rng(seed)
    classes = np.union1d(a, b)
    per: dict[int, int] = {}
    dropped: dict[int, list[int]] = {}
    for c in classes:
        na, nb = int(np.count_nonzero(a == c)), int(np.count_nonzero(b == c))
        if min(na, nb) == 0:
            dropped[int(c)] = [na, nb]
        else:
            per[int(c)] = min(na, nb)
    total = sum(per.values())
    capped = cap is not None and total > cap
    if capped and cap is not None:
        per = {c: max(1, int(k * cap // total)) for c, k in per.items()}
    ia, ib = [], []
    for c, k in per.items():
        ia.append(rng.permutation(np.flatnonzero(a == c))[:k])
        ib.append(rng.permutation(np.flatnonzero(b == c))[:k])
    pa = np.sort(np.concatenate(ia)).astype(np.int64) if ia else np.zeros(0, np.int64)
    pb = np.sort(np.concatenate(ib)).astype(np.int64) if ib else np.zeros(0, np.int64)
    info = {"per_class": {str(c): k for c, k in per.items()}, "n": int(pa.size),
            "dropped": {str(c): v for c, v in dropped.items()}, "cap": cap, "capped": bool(capped)}
    return pa, pb, info


def _cap(x: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= cap else x[np.sort(rng.choice(len(x), size=cap, replace=False))]


# ---------------------------------------------------------------------------------------- B2, B3
def svc_mia_efficacy(
    member_feat: Any, nonmember_feat: Any, target_feat: Any, *, seed: int = 0, cap: int | None = MAX_SHADOW
) -> float:
    """SalUn MIA-efficacy (B2): mean over targets of 1 − predict(x), SVC(C=3, gamma="auto", rbf).

    member_feat / nonmember_feat / target_feat: (n,) or (n, k) attack features (SalUn: confidence
    p_y). Returns the fraction of targets classified "non-member" (NaN if a side is empty).
    ``cap``: each shadow side is randomly subsampled to this many rows (SVC is O(n²); the reference
    uses every row: None). The audit caps class-stratified itself (:func:`match_classes`) and
    reports the cap with the score.
    """
    from sklearn.svm import SVC  # lazy: keeps ~0.9 s off every start
    rng = np.random.default_rng(seed)
    m = _as_2d(member_feat)
    nm = _as_2d(nonmember_feat)
    t = _as_2d(target_feat)
    if len(m) == 0 or len(nm) == 0 or len(t) == 0:
        return float("nan")
    if cap is not None:
        m, nm = _cap(m, cap, rng), _cap(nm, cap, rng)
    X = np.concatenate([m, nm])
    y = np.concatenate([np.ones(len(m)), np.zeros(len(nm))])
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(X, y)
    return float(np.mean(1.0 - clf.predict(t)))


def svc_shadow_fit(
    member_feat: Any, nonmember_feat: Any, target_feat: Any, *, seed: int = 0, folds: int = SHADOW_FOLDS,
    check: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Diagnostics of the B2 attack (:func:`svc_mia_efficacy`) on the same shadow and target features.

    member_feat / nonmember_feat / target_feat: (n,) or (n, k). Does not change the score; says
    whether it means anything:

    - ``heldout_acc`` / ``heldout_auc``: accuracy and ROC-AUC (of the decision values) of the same
      ``SVC(C=3, gamma="auto", rbf)`` on held-out shadow rows, ``folds`` seeded stratified folds.
      Near 0.5 the attack cannot tell its own members from non-members (a model that generalises
      as well as it fits), so its calls on the targets are where an arbitrary boundary falls.
    - ``chance95``: 0.5 + 1.645 · 0.5 / √N, N = shadow rows: the accuracy a coin flip stays below
      in 95 % of draws at these sizes (binomial, normal approximation).
    - ``fold_efficacy`` (one per fold) and ``spread`` (max − min): the MIA-efficacy of each fold's
      SVC, fitted on the other folds' rows. A score that moves far when a fifth of the shadow data
      is left out rests on where a boundary with no data behind it happens to fall.
    - ``lo`` / ``hi`` (per feature) and ``outside``: the shadow features' range and the share of
      targets outside it in any feature, where the SVC saw no data (e.g. forget images that a
      retrained model gives p_y ≈ 1e-4 when no shadow image is below 0.1). Its label there is
      extrapolation: stable when the data near the edge are one-sided (only non-members have low
      confidence), arbitrary when they are mixed, which ``spread`` shows.
    - ``n_member``, ``n_nonmember``: shadow rows per side.

    Values are NaN (lists empty) when a side is empty or has fewer rows than ``folds``. ``check`` (optional) is called before each fold; it may raise to stop.
    """
    from sklearn.metrics import roc_auc_score  # lazy: keeps ~0.9 s off every start
    from sklearn.model_selection import StratifiedKFold  # lazy: keeps ~0.9 s off every start
    from sklearn.svm import SVC  # lazy: keeps ~0.9 s off every start
    m, nm, t = _as_2d(member_feat), _as_2d(nonmember_feat), _as_2d(target_feat)
    out: dict[str, Any] = {"heldout_acc": float("nan"), "heldout_auc": float("nan"), "chance95": float("nan"),
                           "spread": float("nan"), "fold_efficacy": [], "outside": float("nan"), "lo": [], "hi": [],
                           "n_member": len(m), "n_nonmember": len(nm), "folds": folds}
    if len(m) == 0 or len(nm) == 0:
        return out
    X = np.concatenate([m, nm])
    lo, hi = X.min(axis=0), X.max(axis=0)
    out["lo"], out["hi"] = [float(v) for v in lo], [float(v) for v in hi]
    if len(t):
        out["outside"] = float(np.mean(np.any((t < lo) | (t > hi), axis=1)))
    if min(len(m), len(nm)) < folds:
        return out
    y = np.concatenate([np.ones(len(m)), np.zeros(len(nm))])
    score = np.zeros(len(y))
    fold_eff = []
    for tr, te in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y):
        if check is not None:
            check()
        clf = SVC(C=3, gamma="auto", kernel="rbf").fit(X[tr], y[tr])
        score[te] = clf.decision_function(X[te])
        if len(t):
            fold_eff.append(float(np.mean(1.0 - clf.predict(t))))
    out["fold_efficacy"] = fold_eff
    out["spread"] = float(max(fold_eff) - min(fold_eff)) if fold_eff else float("nan")
    out["heldout_acc"] = float(np.mean((score > 0) == (y == 1)))
    out["heldout_auc"] = float(roc_auc_score(y, score))
    out["chance95"] = float(0.5 + SHADOW_Z * 0.5 / np.sqrt(len(y)))
    return out


def entropy_lr_mia(member_ent: Any, nonmember_ent: Any, target_ent: Any) -> float:
    """Entropy logistic-regression MIA (B3, SSD ``metrics.py``): mean of predict(target) (↓).

    LogisticRegression(class_weight="balanced", lbfgs, C = 2) on the softmax entropy, members = 1.
    The reference (SSD ``metrics.py``) fits ``multi_class="multinomial"`` with C = 1 on the two
    classes; a two-class multinomial puts weights w and −w on the classes, so its L2 penalty on the
    difference 2w is half the binary one: the binary fit with C = 2 is the same model (sklearn ≥ 1.5
    no longer offers ``multi_class``, hence the binary form). Callers pass class-matched sides
    (:func:`match_classes`).
    """
    from sklearn.linear_model import LogisticRegression  # lazy: keeps ~0.9 s off every start
    m, nm, t = _as_2d(member_ent), _as_2d(nonmember_ent), _as_2d(target_ent)
    if len(m) == 0 or len(nm) == 0 or len(t) == 0:
        return float("nan")
    X = np.concatenate([m, nm])
    y = np.concatenate([np.ones(len(m)), np.zeros(len(nm))])
    clf = LogisticRegression(class_weight="balanced", solver="lbfgs", C=ENTROPY_MIA_C, max_iter=1000).fit(X, y)
    return float(np.mean(clf.predict(t)))


def js_divergence(p: Any, q: Any) -> np.ndarray:
    """Per-row Jensen–Shannon divergence (natural log), in [0, ln 2]."""
    P = np.clip(as_numpy(p, dtype=np.float64), 0.0, 1.0)
    Q = np.clip(as_numpy(q, dtype=np.float64), 0.0, 1.0)
    M = 0.5 * (P + Q)

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.sum(np.where(a > 0, a * (np.log(np.clip(a, _EPS, 1)) - np.log(np.clip(b, _EPS, 1))), 0.0), axis=1)

    return np.clip(0.5 * kl(P, M) + 0.5 * kl(Q, M), 0.0, np.log(2.0))


def zrf(p_model: Any, p_incompetent: Any) -> float:
    """ZRF (B3, Chundawat et al. 2023) = 1 − mean_x JS(p_model(x), p_incompetent(x)) over D_f."""
    js = js_divergence(p_model, p_incompetent)
    return float(1.0 - js.mean()) if js.size else float("nan")


# ---------------------------------------------------------------------------------------- B4
def roc_auc(member_score: Any, nonmember_score: Any) -> float:
    """ROC-AUC of "score predicts member" (0.5 = chance)."""
    from sklearn.metrics import roc_auc_score  # lazy: keeps ~0.9 s off every start
    a, b = as_numpy(member_score, np.float64).reshape(-1), as_numpy(nonmember_score, np.float64).reshape(-1)
    if a.size == 0 or b.size == 0:
        return float("nan")
    y = np.concatenate([np.ones(a.size), np.zeros(b.size)])
    return float(roc_auc_score(y, np.concatenate([a, b])))


def loss_threshold_mia(
    member_loss: Any, nonmember_loss: Any, *, seed: int = 0, folds: int = 5, bins: int = 30,
    check: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """SCRUB's loss attack (B4, ``MIA_experiments.ipynb`` cell 12) plus its parameter-free variants.

    Both sides are subsampled to equal size (seeded); a LogisticRegression on the loss is scored on
    ``folds`` StratifiedShuffleSplit folds (test 30 %). Returns dict(cv_acc, auc (of −loss),
    best_bal_acc, n (per side), hist_edges (bins+1,), hist_member (bins,), hist_nonmember (bins,))
    with histograms as densities over shared edges. Ideal = the retrained model's values.
    ``check`` (optional) is called before each fold; it may raise to stop (a job's cancel).
    """
    from sklearn.linear_model import LogisticRegression  # lazy: keeps ~0.9 s off every start
    from sklearn.model_selection import StratifiedShuffleSplit  # lazy: keeps ~0.9 s off every start
    a = as_numpy(member_loss, np.float64).reshape(-1)
    b = as_numpy(nonmember_loss, np.float64).reshape(-1)
    out: dict[str, Any] = {"cv_acc": float("nan"), "auc": float("nan"), "best_bal_acc": float("nan"), "n": 0}
    if a.size == 0 or b.size == 0:
        return out
    hi = float(max(a.max(), b.max(), 1e-6))
    edges = np.linspace(0.0, hi, bins + 1)
    out["hist_edges"] = edges
    out["hist_member"] = np.histogram(a, edges, density=True)[0]
    out["hist_nonmember"] = np.histogram(b, edges, density=True)[0]
    out["auc"] = roc_auc(-a, -b)
    out["best_bal_acc"] = 0.5 * (1.0 + threshold_sweep(-a, -b)["advantage"])
    rng = np.random.default_rng(seed)
    n = int(min(a.size, b.size))
    out["n"] = n
    if n < 2 * 2:
        return out
    A = rng.choice(a, n, replace=False)
    B = rng.choice(b, n, replace=False)
    X = np.concatenate([A, B])[:, None]
    y = np.concatenate([np.ones(n), np.zeros(n)])
    accs = []
    splitter = StratifiedShuffleSplit(n_splits=folds, test_size=0.3, random_state=seed)
    for tr, te in splitter.split(X, y):
        if check is not None:
            check()
        clf = LogisticRegression(max_iter=1000).fit(X[tr], y[tr])
        accs.append(float(clf.score(X[te], y[te])))
    out["cv_acc"] = float(np.mean(accs))
    return out


def threshold_sweep(
    member_score: Any,
    nonmember_score: Any,
    *,
    member_ids: Any = None,
    top: int = 16,
    permutations: int = 0,
    seed: int = 0,
    check: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Worst-case threshold attack: advantage = max_t TPR(t) − FPR(t), "member" iff score ≥ t.

    Scores: higher = more member-like (e.g. −loss). The best balanced accuracy is (1 + adv)/2.
    ``member_ids`` (n_m,) names the members (dataset indices); the returned ``vulnerable`` lists
    up to ``top`` of them that the best threshold calls members, most member-like first.
    ``permutations`` > 0 adds ``chance95``: the 95th percentile of the advantage with member /
    non-member labels shuffled (how large the advantage gets on identical distributions at these
    sample sizes). Returns dict(advantage, bal_acc, threshold, tpr, fpr, vulnerable, chance95).
    ``check`` (optional) is called every 10 permutations; it may raise to stop (a job's cancel).
    """
    a = as_numpy(member_score, np.float64).reshape(-1)
    b = as_numpy(nonmember_score, np.float64).reshape(-1)
    out: dict[str, Any] = {"advantage": float("nan"), "bal_acc": float("nan"), "threshold": float("nan"),
                           "tpr": float("nan"), "fpr": float("nan"), "vulnerable": [], "chance95": float("nan")}
    if a.size == 0 or b.size == 0:
        return out
    adv, thr, tpr, fpr = _best_threshold(a, b)
    out.update(advantage=adv, bal_acc=0.5 * (1.0 + adv), threshold=thr, tpr=tpr, fpr=fpr)
    if member_ids is not None:
        ids = np.asarray(member_ids).reshape(-1)
        hit = np.flatnonzero(a >= thr) if adv > 0 else np.zeros(0, dtype=np.int64)
        order = hit[np.argsort(-a[hit], kind="stable")][:top]
        out["vulnerable"] = [int(i) for i in ids[order]]
    if permutations > 0:
        rng = np.random.default_rng(seed)
        allv = np.concatenate([a, b])
        advs = []
        for i in range(permutations):
            if check is not None and i % 10 == 0:
                check()
            perm = rng.permutation(allv)
            advs.append(_best_threshold(perm[: a.size], perm[a.size :])[0])
        out["chance95"] = float(np.quantile(advs, 0.95))
    return out


def _best_threshold(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """(max TPR−FPR, threshold, tpr, fpr) over all thresholds at observed scores (vectorised)."""
    thr = np.unique(np.concatenate([a, b]))  # ascending candidate thresholds
    tpr = 1.0 - np.searchsorted(np.sort(a), thr, side="left") / a.size  # P(a >= t)
    fpr = 1.0 - np.searchsorted(np.sort(b), thr, side="left") / b.size
    gap = tpr - fpr
    i = int(np.argmax(gap))
    if gap[i] <= 0:
        return 0.0, float("inf"), 0.0, 0.0
    return float(gap[i]), float(thr[i]), float(tpr[i]), float(fpr[i])


# ---------------------------------------------------------------------------------------- B6
def nearest_class(probs_forget: Any, forget_classes: Any) -> int:
    """n = argmax_{j ∉ forget} mean_x p_j(x) over forget-class samples (B6 step 1).

    probs_forget: (n, C) with n ≥ 1. Raises ValueError when there is no row (the mean of zero rows
    is NaN and argmax would silently answer class 0) or no class outside ``forget_classes``.
    """
    p = as_numpy(probs_forget, np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError("nearest_class needs at least one forget-class row")
    if len(np.setdiff1d(np.arange(p.shape[1]), np.asarray(forget_classes).reshape(-1))) == 0:
        raise ValueError("nearest_class: every class is forgotten")
    mean = p.mean(axis=0)
    mean[list(np.asarray(forget_classes).reshape(-1))] = -np.inf
    return int(np.argmax(mean))


def remaining_profile(probs: Any, forget_classes: Any) -> np.ndarray:
    """Probability vector over the remaining classes, renormalised (B6 step 2 features)."""
    p = as_numpy(probs, np.float64).copy()
    keep = np.setdiff1d(np.arange(p.shape[1]), np.asarray(forget_classes).reshape(-1))
    q = p[:, keep]
    s = q.sum(axis=1, keepdims=True)
    return q / np.where(s > 0, s, 1.0)


def mia_nn(profile_forget: Any, profile_neighbour: Any, *, seed: int = 0, test_size: float = 0.5) -> float:
    """MIA-NN accuracy a(M) (B6 reconstruction [I]): RBF-SVM (C=3) separating forget-class samples
    (1) from nearest-class samples (0) by their remaining-class probability profiles; test accuracy
    on a seeded stratified split. Compare with the retrained model: the gap is the metric."""
    from sklearn.model_selection import StratifiedShuffleSplit  # lazy: keeps ~0.9 s off every start
    from sklearn.svm import SVC  # lazy: keeps ~0.9 s off every start
    f = _as_2d(profile_forget)
    n = _as_2d(profile_neighbour)
    if len(f) < 2 or len(n) < 2:
        return float("nan")
    X = np.concatenate([f, n])
    y = np.concatenate([np.ones(len(f)), np.zeros(len(n))])
    split = StratifiedShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    tr, te = next(split.split(X, y))
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(X[tr], y[tr])
    return float(clf.score(X[te], y[te]))


def tv_leakage(p_unlearned: Any, p_retrain: Any) -> float:
    """TV leakage (B6, v1 of arXiv 2506.20893): mean_x ½ Σ_j |p_U(j|x) − p_R(j|x)| (↓, 0 ideal)."""
    P = as_numpy(p_unlearned, np.float64)
    Q = as_numpy(p_retrain, np.float64)
    if P.size == 0:
        return float("nan")
    return float(np.mean(0.5 * np.abs(P - Q).sum(axis=1)))


def _as_2d(x: Any) -> np.ndarray:
    a = as_numpy(x, np.float64)
    return a[:, None] if a.ndim == 1 else a

"""Representation membership inference (rMIA) of the POUR paper (Le et al., arXiv 2511.19339).

Recipe (pour.md "rMIA"): members = penultimate features of training images, a stratified (by
label) subsample the size of the test set; non-members = test features; standardise; logistic
regression with balanced class weights; 5-fold stratified cross-validation; the score is the
fraction of *held-out* forget-set training images predicted "member". Lower is better; a retrained
model sits near chance (the paper reports ~50 % for retrain-like POUR-D on CIFAR-10).

Member pool (Lethe's reading of "stratified"): each class c contributes as many training images
as the test set has images of c (when ``test_labels`` is given; otherwise a share of
min(|test|, |train|) proportional to c's training count). Inside a class, forget-set images are
taken first, so every forget image that fits its class quota is in the pool and is scored exactly
once, out of fold. Keeping the class proportions of members and non-members equal matters: if
every forget image were added on top (5,000 forget-class members against 1,000 forget-class test
images on CIFAR-10) the attack would learn "looks like the forget class → member" and score
near 1 even for a retrained model. ``include_all_forget=True`` gives that variant (all forget
images, the rest stratified from the retain set) for comparison.

Solver: ``newton-cholesky`` (same objective as sklearn's default lbfgs, L2 with C = 1; it needs a
handful of d×d Hessian solves instead of dozens of mat-vecs, ~10× faster when the CPU is busy).

Variance: held-out predictions of one class are correlated (the class is a cluster and the
attack's direction shifts the whole cluster), so on small data the score of an "untouched"
feature distribution can sit well away from 0.5. Compare against the retrained model, and
average over seeds where it matters.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable

import numpy as np

from engine.metrics.accuracy import as_numpy


def _allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over groups proportionally to ``counts`` (largest remainder, ≤ counts)."""
    counts = counts.astype(np.int64)
    s = int(counts.sum())
    total = int(min(total, s))
    if s == 0 or total <= 0:
        return np.zeros_like(counts)
    exact = counts.astype(np.float64) * total / s
    quota = np.floor(exact).astype(np.int64)
    rest = total - int(quota.sum())
    if rest > 0:
        order = np.argsort(-(exact - quota), kind="stable")
        quota[order[:rest]] += 1
    return np.minimum(quota, counts)


def member_pool(
    train_labels: np.ndarray,
    forget_mask_train: np.ndarray,
    n_test: int,
    *,
    test_labels: np.ndarray | None = None,
    include_all_forget: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Sorted indices into the training set that form the rMIA member set (see module doc)."""
    y = np.asarray(train_labels).reshape(-1)  # (N_tr,)
    fm = np.asarray(forget_mask_train, dtype=bool).reshape(-1)  # (N_tr,)
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    train_counts = np.array([np.count_nonzero(y == c) for c in classes], dtype=np.int64)
    n_mem = int(min(n_test, y.size))

    if include_all_forget:
        forget_idx = np.flatnonzero(fm)
        retain_counts = np.array([np.count_nonzero((y == c) & ~fm) for c in classes])
        quota = _allocate(retain_counts, max(n_mem - forget_idx.size, 0))
        parts = [forget_idx]
        for c, q in zip(classes, quota, strict=True):
            pool = np.flatnonzero((y == c) & ~fm)
            parts.append(rng.permutation(pool)[:q])
        return np.sort(np.concatenate(parts)).astype(np.int64)

    if test_labels is not None:
        t = np.asarray(test_labels).reshape(-1)
        quota = np.array([min(np.count_nonzero(t == c), n) for c, n in zip(classes, train_counts, strict=True)])
    else:
        quota = _allocate(train_counts, n_mem)
    parts = []
    for c, q in zip(classes, quota, strict=True):
        in_c = y == c
        first = rng.permutation(np.flatnonzero(in_c & fm))  # forget images first ...
        then = rng.permutation(np.flatnonzero(in_c & ~fm))  # ... then retain images
        parts.append(np.concatenate([first, then])[:q])
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(parts)).astype(np.int64)


def rmia(
    train_feats: Any,
    train_labels: Any,
    test_feats: Any,
    forget_mask_train: Any,
    *,
    test_labels: Any = None,
    seed: int = 0,
    folds: int = 5,
    include_all_forget: bool = False,
    check: Callable[[], None] | None = None,
) -> float:
    """rMIA score only; see :func:`rmia_matched` (same arguments) for the matching it used."""
    return rmia_matched(train_feats, train_labels, test_feats, forget_mask_train, test_labels=test_labels,
                        seed=seed, folds=folds, include_all_forget=include_all_forget, check=check)[0]


def rmia_matched(
    train_feats: Any,
    train_labels: Any,
    test_feats: Any,
    forget_mask_train: Any,
    *,
    test_labels: Any = None,
    seed: int = 0,
    folds: int = 5,
    include_all_forget: bool = False,
    check: Callable[[], None] | None = None,
) -> tuple[float, dict[str, Any]]:
    """(rMIA score, matching) — score: fraction in [0, 1] of held-out forget training images predicted "member".

    train_feats: (N_tr, d) penultimate features of the training images (no augmentation);
    train_labels: (N_tr,); test_feats: (N_te, d); forget_mask_train: (N_tr,) bool.
    test_labels: (N_te,) optional: members and non-members are then matched per class — class c
    contributes min(#train_c, #test_c) rows to *both* sides (non-members subsampled, seeded), so
    the attack cannot score by recognising the class; a class without test images has no members.
    Always pass it when the test labels are known (the evaluator does). Matching info:
    {"per_class": {class: rows per side}, "n": members, "n_nonmembers": ..., "forget_in_pool": k}.

    Returns a *fraction* (the CLI and the report multiply by 100). NaN when no forget image is in
    the member pool or there are too few samples for 2 folds. Deterministic given ``seed``.
    ``check`` (optional) is called before each fold; it may raise to stop (a job's cancel).
    """
    from sklearn.linear_model import LogisticRegression  # lazy: keeps ~0.9 s off every start
    from sklearn.model_selection import StratifiedKFold  # lazy: keeps ~0.9 s off every start
    from sklearn.preprocessing import StandardScaler  # lazy: keeps ~0.9 s off every start
    Xtr = as_numpy(train_feats, dtype=np.float64)
    Xte = as_numpy(test_feats, dtype=np.float64)
    if Xtr.ndim == 1:
        Xtr = Xtr[:, None]
    if Xte.ndim == 1:
        Xte = Xte[:, None]
    ytr = as_numpy(train_labels).reshape(-1)
    fm = as_numpy(forget_mask_train).astype(bool).reshape(-1)
    if not (Xtr.shape[0] == ytr.size == fm.size):
        raise ValueError("train_feats, train_labels and forget_mask_train differ in length")
    yte = None if test_labels is None else as_numpy(test_labels).reshape(-1)

    mem = member_pool(
        ytr, fm, Xte.shape[0], test_labels=yte, include_all_forget=include_all_forget, seed=seed
    )
    if yte is not None and not include_all_forget:
        rng = np.random.default_rng(seed + 1)
        keep = [rng.permutation(np.flatnonzero(yte == c))[: int(np.count_nonzero(ytr[mem] == c))]
                for c in np.unique(yte)]
        Xte = Xte[np.sort(np.concatenate(keep))] if keep else Xte[:0]
    info: dict[str, Any] = {
        "per_class": {str(int(c)): int(k) for c, k in zip(*np.unique(ytr[mem], return_counts=True), strict=True)},
        "n": int(mem.size), "n_nonmembers": int(Xte.shape[0]), "forget_in_pool": int(fm[mem].sum()),
        "matched": yte is not None and not include_all_forget,
    }
    X = np.concatenate([Xtr[mem], Xte], axis=0)  # (M + N_te, d)
    member = np.concatenate([np.ones(mem.size, np.int64), np.zeros(Xte.shape[0], np.int64)])
    target = np.concatenate([fm[mem], np.zeros(Xte.shape[0], dtype=bool)])  # forget members
    if not target.any():
        return float("nan"), info

    # Stratify folds on (member, forget) so the forget images spread over all folds.
    strata = member * 2 + target.astype(np.int64)
    counts = np.bincount(strata, minlength=3)
    k = int(min(folds, counts[counts > 0].min()))
    if k < 2:
        strata = member
        counts = np.bincount(strata, minlength=2)
        k = int(min(folds, counts.min()))
    if k < 2:
        return float("nan"), info

    predicted = np.zeros(X.shape[0], dtype=np.int64)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train_idx, held_idx in splitter.split(X, strata):
        if check is not None:
            check()
        scaler = StandardScaler().fit(X[train_idx])
        clf = LogisticRegression(
            class_weight="balanced", max_iter=1000, solver="newton-cholesky"
        )
        clf.fit(scaler.transform(X[train_idx]), member[train_idx])
        predicted[held_idx] = clf.predict(scaler.transform(X[held_idx]))
    return float(predicted[target].mean()), info

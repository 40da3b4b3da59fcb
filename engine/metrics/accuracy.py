"""Accuracies and the Adaptive Unlearning Score (AUS).

References: methods.md B1 (accuracies, eval mode, no augmentation); pour.md "AUS" (from the POUR
paper, Le et al., arXiv 2511.19339): AUS = (1 − (Acc_r(o) − Acc_r(u))) / (1 + Acc_f(u)).

All functions accept numpy arrays (or anything ``np.asarray`` understands, including CPU tensors
via :func:`as_numpy`) and return Python floats / numpy arrays. Accuracies are *fractions* in
[0, 1]; multiply by 100 for display.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def as_numpy(x: Any, dtype: Any = None) -> np.ndarray:
    """``x`` as a numpy array (a torch tensor is detached and moved to the CPU first)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def accuracy(pred: Any, y: Any) -> float:
    """Fraction of ``pred == y``.

    pred, y: (N,) integer labels. An empty input has no accuracy: returns ``float('nan')`` (never
    raises and never warns), so a caller can tell "no samples" from "all wrong".
    """
    p = as_numpy(pred).reshape(-1)  # (N,)
    t = as_numpy(y).reshape(-1)  # (N,)
    if p.shape != t.shape:
        raise ValueError(f"pred and y differ in length: {p.shape[0]} vs {t.shape[0]}")
    if p.size == 0:
        return float("nan")
    return float(np.count_nonzero(p == t)) / float(p.size)


def per_class_accuracy(pred: Any, y: Any, num_classes: int) -> np.ndarray:
    """(num_classes,) float64 accuracy of the samples whose *true* label is each class.

    A class without samples gets NaN. Labels outside [0, num_classes) are ignored.
    """
    p = as_numpy(pred).reshape(-1).astype(np.int64)  # (N,)
    t = as_numpy(y).reshape(-1).astype(np.int64)  # (N,)
    if p.shape != t.shape:
        raise ValueError(f"pred and y differ in length: {p.shape[0]} vs {t.shape[0]}")
    keep = (t >= 0) & (t < num_classes)
    p, t = p[keep], t[keep]
    total = np.bincount(t, minlength=num_classes).astype(np.float64)  # (C,)
    correct = np.bincount(t[p == t], minlength=num_classes).astype(np.float64)  # (C,)
    out = np.full(num_classes, np.nan, dtype=np.float64)
    has = total > 0
    out[has] = correct[has] / total[has]
    return out


def aus(
    test_retain_acc_original: float,
    test_retain_acc_unlearned: float,
    test_forget_acc_unlearned: float,
) -> float:
    """Adaptive Unlearning Score (POUR paper; pour.md "AUS"), all accuracies as fractions.

    AUS = (1 − (Acc_r(o) − Acc_r(u))) / (1 + Acc_f(u)), on the *test* split's retain-class and
    forget-class images. 1 means no retain loss and zero forget accuracy; it exceeds 1 when the
    unlearned model's retain accuracy rises above the original's (as POUR-P does).
    """
    ar_o = float(test_retain_acc_original)
    ar_u = float(test_retain_acc_unlearned)
    af_u = float(test_forget_acc_unlearned)
    return (1.0 - (ar_o - ar_u)) / (1.0 + af_u)

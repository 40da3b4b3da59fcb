"""Issue 12, item 4: the entropy MIA is fitted as the reference fits it.

SSD's ``metrics.py`` fits ``LogisticRegression(class_weight="balanced", solver="lbfgs",
multi_class="multinomial")`` (C = 1) on the two classes member / non-member. sklearn ≥ 1.5 no longer
offers ``multi_class``; Lethe fits the binary model with C = 2 instead. Here the two-class
multinomial objective is minimised by hand and its decision function compared with Lethe's fit.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

from engine.metrics.mia import ENTROPY_MIA_C, entropy_lr_mia


def _multinomial_two_class(x: np.ndarray, y: np.ndarray, C: float) -> tuple[float, float]:
    """(slope, intercept) of logit_1 − logit_0 for the two-class softmax regression with sklearn's
    objective C·Σ_i s_i·CE_i + ½‖W‖² (intercepts unpenalised), s = balanced class weights."""
    s = np.where(y == 1, len(y) / (2 * y.sum()), len(y) / (2 * (len(y) - y.sum())))

    def f(v: np.ndarray) -> float:
        w0, w1, b0, b1 = v
        z = np.stack([x * w0 + b0, x * w1 + b1], 1)
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return float(C * np.sum(s * -logp[np.arange(len(y)), y]) + 0.5 * (w0**2 + w1**2))

    v = minimize(f, np.zeros(4), method="BFGS", options={"gtol": 1e-10}).x
    return v[1] - v[0], v[3] - v[2]


def test_binary_fit_with_c_2_is_the_references_two_class_multinomial_with_c_1() -> None:
    rng = np.random.default_rng(0)
    member = rng.gamma(1.0, 0.2, 300)  # low entropy
    nonmember = rng.gamma(2.0, 0.3, 200)  # higher, an unbalanced side
    x = np.concatenate([member, nonmember])
    y = np.concatenate([np.ones(300, int), np.zeros(200, int)])
    slope, intercept = _multinomial_two_class(x, y, C=1.0)
    lethe = LogisticRegression(class_weight="balanced", solver="lbfgs", C=ENTROPY_MIA_C, max_iter=1000, tol=1e-10)
    lethe.fit(x[:, None], y)
    assert abs(lethe.coef_[0, 0] - slope) < 1e-3 * abs(slope) and abs(lethe.intercept_[0] - intercept) < 1e-3
    c1 = LogisticRegression(class_weight="balanced", solver="lbfgs", C=1.0, max_iter=1000, tol=1e-10).fit(x[:, None], y)
    assert abs(c1.coef_[0, 0] - slope) > 1e-2 * abs(slope)  # the plain binary C = 1 is a different model
    # and the audit's function uses it: its "member" calls follow the reference's decision threshold
    targets = np.linspace(0.0, 1.5, 61)
    ref_calls = (slope * targets + intercept > 0).astype(float)
    assert entropy_lr_mia(member, nonmember, targets) == ref_calls.mean()

"""Representation-level audit: is the forgotten data still *in the features*? (methods.md B9, B11)

- :func:`cka_grid` — linear CKA (``engine.metrics.cka``) of the audited model's penultimate
  features against a reference model's, on forget / retain × train / test ("Are We Truly
  Forgetting?", Kim et al., arXiv 2503.06991; UUEF ``main_cka.py``).
- :func:`knn_probe` — ``KNeighborsClassifier(5, metric="cosine")`` fit on frozen training
  features, scored on held-out images (UUEF ``main_knn.py``).
- :func:`linear_probe` — logistic regression on frozen, standardised features ("An Illusion of
  Unlearning?", AISTATS 2026), scored the same way.
  For class forgetting both probes are fit on the training features *with the forget class's
  labels* and scored on forget-class test images: a high score means the class is still
  decodable from the features — suppression, not deletion — unless the retrained model decodes
  it as well (small data sets: even a model that never saw the class separates it linearly).
- :func:`nc_summary` — NC1–NC4 on the retained classes and where the forget-class features now
  sit (Papyan et al. 2020; ``engine.metrics.neural_collapse``).
- :func:`is_suppressed` — the "suppressed" flag: outputs forgot, features still decode.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from engine.metrics.accuracy import as_numpy
from engine.metrics.cka import linear_cka
from engine.metrics.neural_collapse import class_means, forget_feature_placement, nc_metrics

# Probes are fit on at most this many training rows (stratified, seeded): a k-NN query is
# O(n_fit) and the logistic regression O(n_fit·d²); 5,000 keeps a CIFAR-sized audit to seconds.
MAX_PROBE_FIT = 5000
# Outputs count as "forgot" when at most this fraction of forget samples is still predicted as
# its class; features count as "still decodable" when a probe recovers at least this fraction.
SUPPRESSED_OUTPUT_MAX = 0.10
SUPPRESSED_PROBE_MIN = 0.50


def cka_grid(
    feats: dict[str, np.ndarray], ref_feats: dict[str, np.ndarray], parts: dict[str, tuple[str, np.ndarray]]
) -> dict[str, float]:
    """Linear CKA per named part: parts maps name -> (split "train"/"test", row indices).

    feats / ref_feats map "train"/"test" to (N, d) features of the same images through the two
    models. Parts with fewer than 2 rows give NaN.
    """
    out: dict[str, float] = {}
    for name, (split, idx) in parts.items():
        idx = np.asarray(idx)
        if idx.size < 2:
            out[name] = float("nan")
            continue
        out[name] = linear_cka(feats[split][idx], ref_feats[split][idx])
    return out


def _fit_rows(y: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Stratified seeded subsample of row indices of ``y`` (all rows when ≤ cap)."""
    n = y.size
    if n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        k = max(1, int(round(rows.size * cap / n)))
        keep.append(rng.permutation(rows)[:k])
    return np.sort(np.concatenate(keep))


def knn_probe(
    fit_feats: Any, fit_labels: Any, eval_feats: Any, eval_labels: Any, *, k: int = 5, seed: int = 0,
    cap: int = MAX_PROBE_FIT,
) -> float:
    """k-NN (cosine, k=5) accuracy on ``eval`` after fitting on ``fit`` (B9). NaN if eval is empty."""
    Xf = as_numpy(fit_feats, np.float64)
    yf = as_numpy(fit_labels).reshape(-1)
    Xe = as_numpy(eval_feats, np.float64)
    ye = as_numpy(eval_labels).reshape(-1)
    if ye.size == 0 or yf.size == 0:
        return float("nan")
    rows = _fit_rows(yf, cap, seed)
    clf = KNeighborsClassifier(n_neighbors=min(k, rows.size), metric="cosine").fit(Xf[rows], yf[rows])
    return float(np.mean(clf.predict(Xe) == ye))


def linear_probe(
    fit_feats: Any, fit_labels: Any, eval_feats: Any, eval_labels: Any, *, seed: int = 0, cap: int = MAX_PROBE_FIT,
) -> float:
    """Linear-probe accuracy on ``eval``: StandardScaler + multinomial LogisticRegression (B9)."""
    Xf = as_numpy(fit_feats, np.float64)
    yf = as_numpy(fit_labels).reshape(-1)
    Xe = as_numpy(eval_feats, np.float64)
    ye = as_numpy(eval_labels).reshape(-1)
    if ye.size == 0 or np.unique(yf).size < 2:
        return float("nan")
    rows = _fit_rows(yf, cap, seed)
    scaler = StandardScaler().fit(Xf[rows])
    # lbfgs on standardised features converges in a few hundred iterations; C=1 (sklearn default).
    clf = LogisticRegression(max_iter=300, tol=1e-3).fit(scaler.transform(Xf[rows]), yf[rows])
    return float(np.mean(clf.predict(scaler.transform(Xe)) == ye))


def is_suppressed(output_forget_acc: float, probe_forget_acc: float) -> bool:
    """True when the outputs no longer recognise the forget data but a probe on the frozen
    features still does: the knowledge is hidden, not removed (methods.md B9/B10)."""
    return bool(output_forget_acc <= SUPPRESSED_OUTPUT_MAX and probe_forget_acc >= SUPPRESSED_PROBE_MIN)


def nc_summary(
    Z: Any, y: Any, W: Any, b: Any, retained: Any, forget_rows: Any, num_classes: int
) -> dict[str, Any]:
    """NC1–NC4 on the retained classes and the placement of the forget features (B11).

    Z (N, d) training features, y (N,), W (K, d) / b (K,) the head, retained (C_r,) class ids,
    forget_rows (n_f,) rows of Z that are forget samples. Returns dict(nc (flat floats),
    placement (counts over retained classes, nearest retained class, distances)).
    """
    H = as_numpy(Z, np.float64)
    lab = as_numpy(y).reshape(-1)
    ret = np.asarray(retained).reshape(-1)
    rows = np.asarray(forget_rows).reshape(-1)
    keep = np.ones(len(lab), dtype=bool)
    keep[rows] = False  # sample forgetting: forget rows are not part of the retained geometry
    nc = nc_metrics(H[keep], lab[keep], W, b, classes=ret)
    means = class_means(H[keep], lab[keep], ret)
    place = forget_feature_placement(H[rows], means, ret)
    retained_spread = float(np.mean(np.linalg.norm(means - means.mean(axis=0), axis=1))) if len(ret) else float("nan")
    return {
        "nc": {k: float(v) for k, v in nc.items()},
        "placement": {
            "classes": [int(c) for c in place["classes"]],
            "counts": [int(c) for c in place["counts"]],
            "top_class": int(place["top_class"]),
            "mean_nearest_dist": float(place["mean_nearest_dist"]),
            # distance relative to the typical distance of a retained mean from the centre
            "relative_nearest_dist": float(place["mean_nearest_dist"] / retained_spread) if retained_spread > 0 else float("nan"),
        },
    }

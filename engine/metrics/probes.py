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

from typing import Any, overload

import numpy as np

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
# ... unless the forget features moved at least this far from the original's (1 − linear CKA).
SUPPRESSED_MIN_CHANGE = 0.03


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
        k = max(1, round(rows.size * cap / n))
        keep.append(rng.permutation(rows)[:k])
    return np.sort(np.concatenate(keep))


@overload
def knn_probe(
    fit_feats: Any, fit_labels: Any, eval_feats: list[Any] | tuple[Any, ...], eval_labels: Any, *, k: int = 5,
    seed: int = 0, cap: int = MAX_PROBE_FIT,
) -> list[float]: ...
@overload
def knn_probe(
    fit_feats: Any, fit_labels: Any, eval_feats: Any, eval_labels: Any, *, k: int = 5, seed: int = 0,
    cap: int = MAX_PROBE_FIT,
) -> float: ...
def knn_probe(
    fit_feats: Any, fit_labels: Any, eval_feats: Any, eval_labels: Any, *, k: int = 5, seed: int = 0,
    cap: int = MAX_PROBE_FIT,
) -> float | list[float]:
    """k-NN (cosine, k=5) accuracy after fitting on ``fit`` (B9), UUEF ``main_knn.py``.

    ``eval_feats`` / ``eval_labels`` may be lists of several evaluation sets (one fit, one score
    each, returned as a list). An empty evaluation set scores NaN.
    """
    from sklearn.neighbors import KNeighborsClassifier  # lazy: keeps ~0.9 s off every start
    Xf = as_numpy(fit_feats, np.float64)
    yf = as_numpy(fit_labels).reshape(-1)
    rows = _fit_rows(yf, cap, seed)
    clf = KNeighborsClassifier(n_neighbors=min(k, rows.size), metric="cosine").fit(Xf[rows], yf[rows])
    return _score_sets(lambda X: clf.predict(X), eval_feats, eval_labels)


@overload
def linear_probe(
    fit_feats: Any, fit_labels: Any, eval_feats: list[Any] | tuple[Any, ...], eval_labels: Any, *, seed: int = 0,
    cap: int = MAX_PROBE_FIT,
) -> list[float]: ...
@overload
def linear_probe(
    fit_feats: Any, fit_labels: Any, eval_feats: Any, eval_labels: Any, *, seed: int = 0, cap: int = MAX_PROBE_FIT,
) -> float: ...
def linear_probe(
    fit_feats: Any, fit_labels: Any, eval_feats: Any, eval_labels: Any, *, seed: int = 0, cap: int = MAX_PROBE_FIT,
) -> float | list[float]:
    """Linear-probe accuracy: StandardScaler + multinomial LogisticRegression on frozen features
    ("An Illusion of Unlearning?"; methods.md B9). Lists of evaluation sets as in :func:`knn_probe`."""
    from sklearn.linear_model import LogisticRegression  # lazy: keeps ~0.9 s off every start
    from sklearn.preprocessing import StandardScaler  # lazy: keeps ~0.9 s off every start
    Xf = as_numpy(fit_feats, np.float64)
    yf = as_numpy(fit_labels).reshape(-1)
    if np.unique(yf).size < 2:
        return _score_sets(None, eval_feats, eval_labels)
    rows = _fit_rows(yf, cap, seed)
    scaler = StandardScaler().fit(Xf[rows])
    # lbfgs, C=1 (sklearn's default); a loose tolerance: accuracy settles long before the loss does.
    clf = LogisticRegression(max_iter=200, tol=1e-3).fit(scaler.transform(Xf[rows]), yf[rows])
    return _score_sets(lambda X: clf.predict(scaler.transform(X)), eval_feats, eval_labels)


def _score_sets(predict: Any, eval_feats: Any, eval_labels: Any) -> float | list[float]:
    single = not isinstance(eval_feats, (list, tuple))
    feats = [eval_feats] if single else list(eval_feats)
    labels = [eval_labels] if single else list(eval_labels)
    out = []
    for X, y in zip(feats, labels, strict=True):
        yv = as_numpy(y).reshape(-1)
        if yv.size == 0 or predict is None:
            out.append(float("nan"))
            continue
        out.append(float(np.mean(predict(as_numpy(X, np.float64)) == yv)))
    return out[0] if single else out


def is_suppressed(output_forget_acc: float, probe_forget_acc: float, feature_change: float | None = None,
                  min_change: float = SUPPRESSED_MIN_CHANGE) -> bool:
    """True when the outputs no longer recognise the forget data but a probe on the frozen
    features still does: the knowledge is hidden, not removed (methods.md B9/B10).

    ``feature_change`` (optional) is 1 − CKA(model, original) on the forget features: when the
    features did move by at least ``min_change``, a decodable class is not called suppressed
    (a retrained model's generic features can separate a class it never saw; see the module doc).
    """
    if feature_change is not None and np.isfinite(feature_change) and feature_change >= min_change:
        return False
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

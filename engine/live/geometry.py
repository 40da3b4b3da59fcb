"""The live feature-geometry stream: a fixed probe set drawn on a fixed 2-D basis.

The basis is fitted once, on the *original* model's features, from the top-2 principal directions
of the centred class means (the plane in which a neurally collapsed simplex is most spread), and
reused for every later frame so that motion in the plot is motion of the features. Each frame
carries the class means, the Gram matrix of the centred normalised class means and the
neural-collapse numbers (Papyan et al. 2020; methods.md B11), which is what
:class:`engine._core.events.Geometry` holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine._core.events import Geometry
from engine.metrics.accuracy import as_numpy
from engine.metrics.neural_collapse import class_means, gram_matrix, nc_metrics


def _quota(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over groups proportionally to ``counts`` (largest remainder, ≤ counts)."""
    s = int(counts.sum())
    total = int(min(max(total, 0), s))
    if s == 0 or total == 0:
        return np.zeros_like(counts, dtype=np.int64)
    exact = counts.astype(np.float64) * total / s
    q = np.floor(exact).astype(np.int64)
    rest = total - int(q.sum())
    if rest > 0:
        q[np.argsort(-(exact - q), kind="stable")[:rest]] += 1
    return np.minimum(q, counts)


def select_probe(
    labels: np.ndarray, forget_idx: np.ndarray, max_points: int = 2000, seed: int = 0
) -> np.ndarray:
    """Sorted int64 indices of the probe set: every forget index plus a stratified sample.

    The other (non-forget) points are sampled per class in proportion to their class counts, so
    that the probe holds at most ``max_points`` points; if the forget set alone exceeds
    ``max_points`` all of it is kept (and nothing else). Deterministic given ``seed``.
    """
    lab = np.asarray(labels).reshape(-1)  # (N,)
    n = lab.size
    forget = np.unique(np.asarray(forget_idx, dtype=np.int64).reshape(-1))
    if forget.size and (forget[0] < 0 or forget[-1] >= n):
        raise ValueError("forget_idx out of range")
    is_f = np.zeros(n, dtype=bool)
    is_f[forget] = True
    others = np.flatnonzero(~is_f)
    budget = max(int(max_points) - forget.size, 0)
    if budget >= others.size:
        return np.sort(np.concatenate([forget, others])).astype(np.int64)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(lab[others], return_counts=True)
    quota = _quota(counts, budget)
    parts = [forget]
    for c, q in zip(classes, quota, strict=True):
        if q > 0:
            pool = others[lab[others] == c]
            parts.append(rng.choice(pool, size=int(q), replace=False))
    return np.sort(np.concatenate(parts)).astype(np.int64)


def _fix_sign(v: np.ndarray) -> np.ndarray:
    """v with its largest-|value| component made positive (first such component on ties)."""
    i = int(np.argmax(np.abs(v)))
    return -v if v[i] < 0 else v


@dataclass(frozen=True, eq=False)
class FixedBasis:
    """A fixed affine 2-D view of R^d: ``project(Z) = (Z − origin) @ axes``.

    origin: (d,) float64; axes: (d, 2) float64 with orthonormal columns.
    """

    origin: np.ndarray
    axes: np.ndarray

    @classmethod
    def from_features(cls, Z: Any, y: Any, num_classes: int) -> FixedBasis:
        """Fit on the original model's features Z (N, d) with labels y (N,).

        origin = the global mean, taken as the mean of the class means (equal to the sample mean
        for balanced classes; a probe that over-samples the forget set does not pull it).
        axes = the top-2 right singular vectors of the centred class means; when those span fewer
        than 2 dimensions (2 classes) the next axis is the top principal direction of the
        features orthogonal to it, then any orthogonal direction. Each axis has its
        largest-|value| component positive, so the basis is deterministic.
        """
        H = as_numpy(Z, dtype=np.float64)  # (N, d)
        lab = as_numpy(y).reshape(-1)
        d = H.shape[1]
        if d < 2:
            raise ValueError("a 2-D basis needs features of dimension ≥ 2")
        means = class_means(H, lab, np.arange(num_classes))  # (C, d)
        means = means[~np.isnan(means).any(axis=1)]
        if means.shape[0] == 0:
            raise ValueError("no labelled features to fit the basis on")
        origin = means.mean(axis=0)  # (d,)
        axes: list[np.ndarray] = []

        def add_from(A: np.ndarray) -> None:
            # Top right singular vectors of A, orthogonalised against the axes found so far.
            for ax in axes:
                A = A - np.outer(A @ ax, ax)
            if A.size == 0 or not np.isfinite(A).all():
                return
            _, s, Vt = np.linalg.svd(A, full_matrices=False)
            tol = max(float(s.max()) if s.size else 0.0, 0.0) * max(A.shape) * 1e-12
            for sv, v in zip(s, Vt, strict=True):
                if len(axes) == 2 or sv <= tol or sv == 0.0:
                    break
                axes.append(_fix_sign(v / np.linalg.norm(v)))

        add_from(means - origin)
        if len(axes) < 2:
            add_from(H - origin)
        for j in range(d):
            if len(axes) == 2:
                break
            e = np.zeros(d)
            e[j] = 1.0
            for ax in axes:
                e = e - (e @ ax) * ax
            if np.linalg.norm(e) > 1e-6:
                axes.append(_fix_sign(e / np.linalg.norm(e)))
        return cls(origin=origin, axes=np.stack(axes, axis=1))

    def project(self, Z: Any) -> np.ndarray:
        """(N, 2) float64 coordinates of Z (N, d) (or (2,) for one (d,) vector)."""
        return (as_numpy(Z, dtype=np.float64) - self.origin) @ self.axes

    def to_dict(self) -> dict[str, list]:
        return {"origin": self.origin.tolist(), "axes": self.axes.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FixedBasis:
        origin = np.asarray(d["origin"], dtype=np.float64)
        return cls(origin=origin, axes=np.asarray(d["axes"], dtype=np.float64))


def geometry_frame(
    Z: Any,
    y: Any,
    is_forget: Any,
    basis: FixedBasis,
    *,
    W: Any = None,
    b: Any = None,
    retained_classes: Any = None,
    num_classes: int,
) -> dict[str, Any]:
    """One frame of the probe's geometry.

    Z: (N, d) features of the probe under the current model; y: (N,); is_forget: (N,) bool.
    Returns dict with
      coords (N, 2) float32 — the probe on the fixed basis;
      labels (N,), is_forget (N,) bool — copies;
      means2d (C, 2) float64 — class means on the basis, a NaN row for a class without points;
      gram (C, C) float64 — cosines of the class means centred at the mean of the class means
        present, a NaN row/column for a class without points (C = num_classes);
      nc dict[str, float] — :func:`engine.metrics.neural_collapse.nc_metrics` on the
        ``retained_classes`` (all classes with points when None).
    """
    H = as_numpy(Z, dtype=np.float64)  # (N, d)
    lab = as_numpy(y).reshape(-1)  # (N,)
    forget = as_numpy(is_forget).astype(bool).reshape(-1)  # (N,)
    if not (H.shape[0] == lab.size == forget.size):
        raise ValueError("Z, y and is_forget differ in length")
    C = int(num_classes)
    means = class_means(H, lab, np.arange(C))  # (C, d), NaN rows for absent classes
    present = ~np.isnan(means).any(axis=1)  # (C,)
    means2d = np.full((C, 2), np.nan)
    gram = np.full((C, C), np.nan)
    if present.any():
        means2d[present] = basis.project(means[present])
        g = gram_matrix(means[present], means[present].mean(axis=0))
        gram[np.ix_(present, present)] = g
    nc = nc_metrics(H, lab, W=W, b=b, classes=retained_classes)
    return {
        "coords": basis.project(H).astype(np.float32),
        "labels": lab.copy(),
        "is_forget": forget.copy(),
        "means2d": means2d,
        "gram": gram,
        "nc": {k: float(v) for k, v in nc.items()},
    }


def make_geometry_event(
    stage: str,
    step: int,
    t: float,
    frame: dict[str, Any],
    labels: Any = None,
    is_forget: Any = None,
    *,
    indices: Any = None,
    pred: Any = None,
    conf: Any = None,
) -> Geometry:
    """An :class:`engine._core.events.Geometry` from a :func:`geometry_frame` (arrays copied).

    ``labels`` / ``is_forget`` default to the frame's own copies; ``indices`` (training-set index),
    ``pred`` (predicted class) and ``conf`` (its probability), each (N,), are optional.
    """
    lab = frame["labels"] if labels is None else labels
    forget = frame["is_forget"] if is_forget is None else is_forget
    return Geometry(
        stage=str(stage),
        step=int(step),
        t=float(t),
        coords=np.array(frame["coords"], dtype=np.float32, copy=True),
        labels=np.array(as_numpy(lab), copy=True),
        is_forget=np.array(as_numpy(forget), dtype=bool, copy=True),
        means2d=np.array(frame["means2d"], copy=True),
        gram=np.array(frame["gram"], copy=True),
        nc={k: float(v) for k, v in frame["nc"].items()},
        indices=None if indices is None else np.array(as_numpy(indices), dtype=np.int64, copy=True),
        pred=None if pred is None else np.array(as_numpy(pred), dtype=np.int64, copy=True),
        conf=None if conf is None else np.array(as_numpy(conf), dtype=np.float32, copy=True),
    )


def interpolate_projection(Z: Any, Pi: Any, t: float) -> Any:
    """Z − t·Z Πᵀ: features moving from Z (t = 0) to P Z (t = 1) for POUR-P's animation.

    Z: (N, d) rows; Π: (d, d) projector onto the removed span (Π = I − P, see
    :func:`engine.live.simplex.removed_span_projector`). Works for numpy arrays and torch tensors alike.
    """
    return Z - t * (Z @ Pi.T)

"""Representation probes (engine.metrics.probes) on constructed features, and on a masked model."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from engine.evaluation.audit import Auditor
from engine.data import ForgetSpec
from engine.evaluation.evaluator import Evaluator
from engine.metrics.probes import cka_grid, is_suppressed, knn_probe, linear_probe, nc_summary

RNG = np.random.default_rng(0)


def _clusters(n_per: int, centres: np.ndarray, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    X = np.concatenate([c + noise * RNG.normal(size=(n_per, centres.shape[1])) for c in centres])
    y = np.repeat(np.arange(len(centres)), n_per)
    return X, y


def test_probes_decode_a_separate_class_and_not_an_erased_one() -> None:
    centres = 3.0 * RNG.normal(size=(5, 16))
    X, y = _clusters(80, centres)
    Xt, yt = _clusters(40, centres)
    kept = yt == 4
    assert knn_probe(X, y, Xt[kept], yt[kept]) > 0.95
    assert linear_probe(X, y, Xt[kept], yt[kept]) > 0.95
    # Erase class 4: its features now come from class 3's distribution (no information left).
    erased = centres.copy()
    erased[4] = centres[3]
    X2, _ = _clusters(80, erased)
    Xt2, _ = _clusters(40, erased)
    for probe in (knn_probe, linear_probe):
        acc = probe(X2, y, Xt2[kept], yt[kept])
        assert acc < 0.7  # chance between the two merged classes is 0.5
    # Several evaluation sets with one fit
    forget_acc, retain_acc = linear_probe(X2, y, [Xt2[kept], Xt2[~kept]], [yt[kept], yt[~kept]])
    assert forget_acc < 0.7 and retain_acc > 0.6


def test_suppressed_flag() -> None:
    assert is_suppressed(0.0, 1.0)  # outputs forgot, features still decode
    assert not is_suppressed(0.0, 0.2)  # features do not decode either
    assert not is_suppressed(0.6, 1.0)  # outputs did not forget
    assert not is_suppressed(0.0, 1.0, feature_change=0.2)  # features moved: generic features decode


def test_cka_grid_and_nc_summary() -> None:
    centres = 4.0 * RNG.normal(size=(4, 8))
    X, y = _clusters(30, centres, noise=0.05)
    grid = cka_grid({"train": X}, {"train": X @ np.linalg.qr(RNG.normal(size=(8, 8)))[0]},
                    {"all": ("train", np.arange(len(X))), "tiny": ("train", np.arange(1))})
    assert grid["all"] == pytest.approx(1.0)  # CKA is invariant to rotations
    assert np.isnan(grid["tiny"])
    W = centres - centres[:3].mean(axis=0)
    out = nc_summary(X, y, W, np.zeros(4), retained=[0, 1, 2], forget_rows=np.flatnonzero(y == 3), num_classes=4)
    assert out["nc"]["nc1"] < 0.01 and out["nc"]["num_classes"] == 3
    assert sum(out["placement"]["counts"]) == 30


def test_a_logit_masked_original_is_flagged_suppressed(digits, digits_original) -> None:  # noqa: ANN001
    split = ForgetSpec.from_json({"classes": [3]}).resolve(digits)
    masked = copy.deepcopy(digits_original)
    masked.logit_mask = [3]
    ev = Evaluator(digits, split, torch.device("cpu"))
    auditor = Auditor(digits, split, ev, digits_original, None, relearn=False)
    m, d = auditor.measure(masked)
    assert m["suppressed"] == 1.0
    assert m["probe_forget"] > 0.9 and m["cka_o_forget_train"] == pytest.approx(1.0)
    assert d["still_recognised_count"] == 0

"""Membership-inference metrics (engine.metrics.mia) on constructed cases with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from engine.metrics.mia import (
    LOSS_CLIP,
    entropy_lr_mia,
    js_divergence,
    loss_threshold_mia,
    mia_nn,
    nearest_class,
    per_sample_loss,
    remaining_profile,
    roc_auc,
    softmax,
    stratified_members,
    svc_mia_efficacy,
    threshold_sweep,
    tv_leakage,
    zrf,
)

RNG = np.random.default_rng(0)


def test_svc_mia_efficacy_on_separable_confidences_is_exact() -> None:
    members = RNG.uniform(0.9, 1.0, 400)  # confident on training images
    nonmembers = RNG.uniform(0.0, 0.3, 400)
    assert svc_mia_efficacy(members, nonmembers, RNG.uniform(0.0, 0.3, 200)) == pytest.approx(1.0)
    assert svc_mia_efficacy(members, nonmembers, RNG.uniform(0.9, 1.0, 200)) == pytest.approx(0.0)


def test_entropy_lr_mia_calls_low_entropy_targets_members() -> None:
    members, nonmembers = RNG.uniform(0.0, 0.2, 300), RNG.uniform(1.5, 2.3, 300)
    assert entropy_lr_mia(members, nonmembers, RNG.uniform(0.0, 0.2, 100)) == pytest.approx(1.0)
    assert entropy_lr_mia(members, nonmembers, RNG.uniform(1.5, 2.3, 100)) == pytest.approx(0.0)


def test_loss_attack_on_identical_distributions_is_at_chance() -> None:
    a, b = RNG.exponential(1.0, 3000), RNG.exponential(1.0, 3000)
    out = loss_threshold_mia(a, b, seed=0)
    assert abs(out["auc"] - 0.5) < 0.04
    assert abs(out["cv_acc"] - 0.5) < 0.04
    assert out["best_bal_acc"] < 0.56
    assert len(out["hist_member"]) == len(out["hist_edges"]) - 1


def test_loss_attack_on_separable_losses_is_perfect() -> None:
    out = loss_threshold_mia(RNG.uniform(0, 0.1, 200), RNG.uniform(2, 3, 200), seed=0)
    assert out["auc"] == pytest.approx(1.0) and out["cv_acc"] == pytest.approx(1.0) and out["best_bal_acc"] == pytest.approx(1.0)


def test_threshold_sweep_chance_and_separable_with_vulnerable_samples() -> None:
    same = threshold_sweep(RNG.normal(size=150), RNG.normal(size=150), permutations=50, seed=1)
    assert same["advantage"] <= same["chance95"] + 0.05  # no signal beyond what noise gives
    scores = np.array([5.0, 4.0, 3.0, -1.0])  # three clear members, one that looks unseen
    sep = threshold_sweep(scores, np.array([-2.0, -3.0, -1.5]), member_ids=[10, 11, 12, 13])
    assert sep["advantage"] == pytest.approx(1.0) and sep["bal_acc"] == pytest.approx(1.0)
    assert sep["vulnerable"][:3] == [10, 11, 12]  # most member-like first


def test_zrf_and_js_bounds() -> None:
    p = softmax(RNG.normal(size=(50, 10)))
    assert zrf(p, p) == pytest.approx(1.0)
    one_a, one_b = np.eye(10)[np.zeros(50, int)], np.eye(10)[np.ones(50, int)]
    assert zrf(one_a, one_b) == pytest.approx(1.0 - np.log(2.0))  # natural-log JS is at most ln 2
    js = js_divergence(p, softmax(RNG.normal(size=(50, 10))))
    assert np.all(js >= 0) and np.all(js <= np.log(2) + 1e-12)


def test_mia_nn_and_tv_leakage() -> None:
    forget = np.tile([0.9, 0.1, 0.0], (60, 1)) + RNG.uniform(0, 0.01, (60, 3))
    neighbour = np.tile([0.1, 0.9, 0.0], (60, 1)) + RNG.uniform(0, 0.01, (60, 3))
    assert mia_nn(forget, neighbour) == pytest.approx(1.0)
    same = RNG.dirichlet(np.ones(3), 400)
    assert abs(mia_nn(same[:200], same[200:]) - 0.5) < 0.12
    p = RNG.dirichlet(np.ones(5), 30)
    assert tv_leakage(p, p) == pytest.approx(0.0)
    assert tv_leakage(np.eye(5)[[0] * 30], np.eye(5)[[1] * 30]) == pytest.approx(1.0)
    probs = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1]])
    assert nearest_class(probs, [0]) == 1
    assert np.allclose(remaining_profile(probs, [0]).sum(axis=1), 1.0)


def test_losses_of_masked_logits_are_clipped_and_members_are_stratified() -> None:
    logits = np.array([[-1e9, 2.0, 0.0], [3.0, 0.0, 0.0]])
    loss = per_sample_loss(logits, np.array([0, 0]))
    assert loss[0] == LOSS_CLIP and 0 < loss[1] < 0.2
    assert roc_auc([0.9, 0.8], [0.1, 0.2]) == pytest.approx(1.0)
    labels = np.repeat(np.arange(3), 100)
    target = np.array([0] * 10 + [1] * 20 + [2] * 5)
    idx = stratified_members(np.arange(300), labels, target, seed=3)
    assert np.bincount(labels[idx]).tolist() == [10, 20, 5]
    assert np.array_equal(idx, stratified_members(np.arange(300), labels, target, seed=3))  # seeded

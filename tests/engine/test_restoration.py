"""Restoration tests (engine.evaluation.restoration): relearning attack, quantisation, Avg. Gap."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from engine.models.checkpoints import weights_fingerprint
from engine.data import ForgetSpec
from engine.evaluation.restoration import (
    RELEARN_PER_CLASS,
    attack_rows,
    avg_gap,
    quantised_forget_accuracy,
    relearn_attack,
    steps_to_reach,
)


def test_avg_gap_is_the_mean_absolute_difference() -> None:
    u = {"forget_acc": 0.10, "retain_acc": 0.95, "test_retain_acc": 0.90, "mia_svc": 0.80}
    r = {"forget_acc": 0.00, "retain_acc": 1.00, "test_retain_acc": 0.92, "mia_svc": 1.00}
    assert avg_gap(u, r, "class") == pytest.approx((0.10 + 0.05 + 0.02 + 0.20) / 4)
    assert avg_gap(r, r, "class") == 0.0
    assert np.isnan(avg_gap({}, r, "sample"))


def test_steps_to_reach_and_attack_rows() -> None:
    assert steps_to_reach([0, 3, 6], [0.0, 0.4, 0.9], 0.5) == 6
    assert steps_to_reach([0, 3], [0.0, 0.1], 0.5) is None
    labels = np.repeat([0, 1, 2], 50)
    rows = attack_rows(np.arange(150), labels, "class", seed=0)
    assert np.bincount(labels[rows]).tolist() == [RELEARN_PER_CLASS] * 3
    assert len(attack_rows(np.arange(3000), np.zeros(3000, int), "sample", seed=0)) == 30  # 1 %
    assert len(attack_rows(np.arange(200), np.zeros(200, int), "sample", seed=0)) == 10  # at least 10


def test_relearning_a_masked_original_is_instant_and_leaves_it_untouched(digits, digits_original) -> None:  # noqa: ANN001
    split = ForgetSpec.from_json({"classes": [3]}).resolve(digits)
    masked = copy.deepcopy(digits_original)
    masked.logit_mask = [3]
    before = weights_fingerprint(masked)
    out = relearn_attack(masked, digits.x_train, digits.y_train, split.forget_idx, "class", digits.mean, digits.std,
                         steps=3, eval_every=3)
    assert out["acc"][0] > 0.95  # the attacker removes the mask: the class is all there
    assert out["n_attack"] == RELEARN_PER_CLASS and out["n_eval"] == len(split.forget_idx) - RELEARN_PER_CLASS
    assert weights_fingerprint(masked) == before and masked.logit_mask == [3]


def test_quantisation_keeps_the_deployed_models_forget_accuracy(digits, digits_original) -> None:  # noqa: ANN001
    split = ForgetSpec.from_json({"classes": [3]}).resolve(digits)
    x, y = digits.x_train[split.forget_idx], digits.y_train[split.forget_idx]
    q = quantised_forget_accuracy(digits_original, x, y, digits.mean, digits.std)
    assert q["fp16"] > 0.95 and (np.isnan(q["int8"]) or q["int8"] > 0.9)  # original recognises its class
    masked = copy.deepcopy(digits_original)
    masked.logit_mask = [3]
    qm = quantised_forget_accuracy(masked, x, y, digits.mean, digits.std)
    assert qm["fp16"] == 0.0  # the mask is part of the deployed model

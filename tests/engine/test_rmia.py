"""Representation membership inference (pour.md "rMIA")."""
from __future__ import annotations

import time

import numpy as np
import pytest

from engine.metrics.rmia import member_pool, rmia


def _data(seed: int, n_train: int, n_test: int, d: int, shift: float = 0.0, spread: float = 2.0):
    rng = np.random.default_rng(seed)
    ytr = rng.integers(0, 10, n_train)
    yte = rng.integers(0, 10, n_test)
    centres = spread * rng.standard_normal((10, d))
    Xtr = centres[ytr] + rng.standard_normal((n_train, d))
    Xte = centres[yte] + rng.standard_normal((n_test, d))
    Xtr[:, 0] += shift  # members differ from non-members along one axis
    return Xtr, ytr, Xte, yte


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_distribution_is_near_chance(seed: int) -> None:
    # No class clusters: with clustered classes the held-out predictions of one class are
    # correlated and a single run can land anywhere in ~[0.2, 0.8] (see the module docstring).
    Xtr, ytr, Xte, yte = _data(seed, 4000, 2000, 16, spread=0.0)
    score = rmia(Xtr, ytr, Xte, ytr == 3, test_labels=yte, seed=0)
    assert 0.35 <= score <= 0.65


def test_separable_members_are_found() -> None:
    Xtr, ytr, Xte, _ = _data(1, 2000, 1000, 16, shift=8.0)
    assert rmia(Xtr, ytr, Xte, ytr == 3, seed=0) > 0.95


def test_deterministic_given_seed() -> None:
    Xtr, ytr, Xte, _ = _data(2, 1500, 700, 8, shift=0.3)
    a = rmia(Xtr, ytr, Xte, ytr == 5, seed=4)
    b = rmia(Xtr, ytr, Xte, ytr == 5, seed=4)
    assert a == b
    assert 0.0 <= a <= 1.0


def test_member_pool_is_stratified_and_holds_forget_images() -> None:
    rng = np.random.default_rng(3)
    ytr = np.repeat(np.arange(10), 200)  # 2,000 training images, 200 per class
    fm = ytr == 3
    yte = np.repeat(np.arange(10), 50)  # 500 test images, 50 per class
    pool = member_pool(ytr, fm, yte.size, test_labels=yte, seed=0)
    assert pool.size == 500
    np.testing.assert_array_equal(np.bincount(ytr[pool], minlength=10), np.full(10, 50))
    assert np.all(fm[pool] == (ytr[pool] == 3))
    # Without test labels: proportional to the training counts, size min(|test|, |train|).
    pool2 = member_pool(ytr, fm, 500, seed=0)
    np.testing.assert_array_equal(np.bincount(ytr[pool2], minlength=10), np.full(10, 50))
    # Random forgetting: forget images are taken first inside each class quota.
    fm_rand = np.zeros(ytr.size, dtype=bool)
    fm_rand[rng.choice(ytr.size, 100, replace=False)] = True
    pool3 = member_pool(ytr, fm_rand, 500, seed=0)
    assert set(np.flatnonzero(fm_rand)) <= set(pool3.tolist())
    # The "all forget images" variant.
    pool4 = member_pool(ytr, fm, 500, include_all_forget=True, seed=0)
    assert pool4.size == 500 and np.count_nonzero(fm[pool4]) == 200


def test_no_forget_images_gives_nan() -> None:
    Xtr, ytr, Xte, _ = _data(4, 300, 100, 4)
    assert np.isnan(rmia(Xtr, ytr, Xte, np.zeros(300, dtype=bool)))


def test_fast_enough() -> None:
    Xtr, ytr, Xte, yte = _data(5, 2000, 2000, 128)
    start = time.perf_counter()
    rmia(Xtr, ytr, Xte, ytr == 0, test_labels=yte)
    assert time.perf_counter() - start < 5.0  # ~0.1–0.3 s; loose for busy CI machines

"""The embedded scikit-learn digits dataset."""
from __future__ import annotations

import numpy as np

from engine.data.digits import load_digits
from engine.data.sources import load_dataset


def test_digits_are_uint8_one_channel_8x8_with_ten_classes() -> None:
    b = load_digits()
    assert b.x_train.dtype == np.uint8 and b.x_train.shape[1:] == (1, 8, 8)
    assert b.x_train.shape[0] + b.x_test.shape[0] == 1797 and b.x_test.shape[0] == 360
    assert b.classes == tuple(str(i) for i in range(10)) and b.name == "digits"
    assert int(b.x_train.max()) == 255 and int(b.x_train.min()) == 0


def test_digits_split_is_stratified() -> None:
    b = load_digits()
    frac = b.class_counts("test") / (b.class_counts("train") + b.class_counts("test"))
    assert np.all(np.abs(frac - 0.2) < 0.02)


def test_digits_fingerprint_is_stable_for_the_default_seed() -> None:
    assert load_digits().fingerprint == load_digits(seed=0).fingerprint
    assert load_digits(seed=1).fingerprint != load_digits(seed=0).fingerprint


def test_digits_source_string_loads_and_is_cached() -> None:
    a = load_dataset("digits")
    assert load_dataset("digits") is a and a.source == "digits"

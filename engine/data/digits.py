"""scikit-learn's 8x8 digits: the embedded default dataset, real images that work fully offline.

1,797 images ship inside the scikit-learn wheel. Pixel values 0-16 are scaled to uint8 0-255 and
split 80/20, stratified, with a fixed seed, so the dataset fingerprint (and every checkpoint and
forget-set hash built on it) is stable across machines.
"""
from __future__ import annotations

import numpy as np

from engine.data.bundle import DatasetBundle
from engine.data.npz import make_bundle

TEST_FRACTION = 0.2


def load_digits(seed: int = 0, source: str = "digits") -> DatasetBundle:
    """Digits as uint8 (N, 1, 8, 8); classes "0".."9"; train/test split seeded by ``seed``."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    raw = sk_load_digits()
    images = np.rint(raw.images.astype(np.float64) * 255.0 / 16.0).clip(0, 255).astype(np.uint8)
    images = images[:, None, :, :]
    labels = raw.target.astype(np.int64)
    idx = np.arange(labels.shape[0])
    train_idx, test_idx = train_test_split(
        idx, test_size=TEST_FRACTION, stratify=labels, random_state=seed, shuffle=True
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return make_bundle(
        "digits", source,
        images[train_idx], labels[train_idx], images[test_idx], labels[test_idx],
        [str(i) for i in range(10)],
    )

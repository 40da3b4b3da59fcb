"""Batched penultimate features and logits: the one forward pass every metric reads.

Streams in batches under ``torch.inference_mode`` and keeps only (N, d) features and (N, K)
logits, never intermediate activations. Results are cached per (weights fingerprint, data key)
so evaluating several metrics on the same model costs one pass.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from engine._core.cancel import NEVER, CancelToken
from engine.data.bundle import normalise
from engine.models.base import LetheModel, eval_mode


@dataclass(frozen=True, eq=False)
class FeatureSet:
    features: np.ndarray  # (N, d) float32
    logits: np.ndarray  # (N, K) float32

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(axis=1)


def extract(
    model: LetheModel,
    x_uint8: np.ndarray,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 512,
    token: CancelToken = NEVER,
) -> FeatureSet:
    """Features and logits of ``x_uint8`` (N, C, H, W) in eval mode; the model's mode is restored after."""
    n = len(x_uint8)
    feats: np.ndarray | None = None
    logits: np.ndarray | None = None
    with eval_mode(model), torch.inference_mode():
        for start in range(0, n, batch_size):
            token.check()
            xb = normalise(x_uint8[start : start + batch_size], mean, std, device)
            z = model.features(xb)  # (B, d)
            out = model.logits_from_features(z)  # (B, K)
            if feats is None or logits is None:
                feats = np.empty((n, z.shape[1]), dtype=np.float32)
                logits = np.empty((n, out.shape[1]), dtype=np.float32)
            feats[start : start + len(z)] = z.float().cpu().numpy()
            logits[start : start + len(z)] = out.float().cpu().numpy()
    if feats is None or logits is None:  # empty input
        k = model.num_classes
        return FeatureSet(np.zeros((0, model.feature_dim), np.float32), np.zeros((0, k), np.float32))
    return FeatureSet(feats, logits)


class FeatureCache:
    """A small LRU of FeatureSets keyed by (weights fingerprint, data key)."""

    def __init__(self, max_entries: int = 32) -> None:
        self._store: OrderedDict[tuple[str, str], FeatureSet] = OrderedDict()
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: tuple[str, str], compute: Callable[[], FeatureSet]) -> FeatureSet:
        if key in self._store:
            self.hits += 1
            self._store.move_to_end(key)
            return self._store[key]
        self.misses += 1
        value = compute()
        self._store[key] = value
        if len(self._store) > self.max_entries:
            self._store.popitem(last=False)
        return value

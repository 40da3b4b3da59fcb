"""The geometry probe: a fixed set of training images embedded by the current model every few steps.

Built once from the original model (its class means fix the 2-D basis, so points move and the axes
do not); every frame is a :class:`engine._core.events.Geometry` event the studio draws.
"""
from __future__ import annotations

import numpy as np
import torch

from engine._core.cancel import NEVER, CancelToken
from engine.data.bundle import DatasetBundle
from engine.data.forget import ForgetSplit
from engine._core.events import Geometry
from engine.train.features import extract
from engine.live.geometry import FixedBasis, geometry_frame, make_geometry_event, select_probe
from engine.models.base import LetheModel


class GeometryProbe:
    def __init__(
        self,
        bundle: DatasetBundle,
        split: ForgetSplit,
        original: LetheModel,
        device: torch.device,
        *,
        max_points: int = 2000,
        seed: int = 0,
        token: CancelToken = NEVER,
    ) -> None:
        self.token = token  # every frame's feature pass checks it per batch (cancel within a batch)
        self.bundle = bundle
        self.device = device
        self.indices = select_probe(bundle.y_train, split.forget_idx, max_points=max_points, seed=seed)  # (N,)
        self.x = bundle.x_train[self.indices]  # (N, C, H, W) uint8
        self.labels = bundle.y_train[self.indices].copy()
        self.is_forget = np.isin(self.indices, split.forget_idx)
        self.num_classes = bundle.num_classes
        forget = set(split.forget_classes)
        self.retained_classes = [c for c in range(self.num_classes) if c not in forget]
        z0 = self.features(original)
        self.original_features = z0
        self.basis = FixedBasis.from_features(z0, self.labels, self.num_classes)

    def features(self, model: LetheModel) -> np.ndarray:
        return extract(model, self.x, self.bundle.mean, self.bundle.std, device=self.device, token=self.token).features

    def frame_from_features(
        self, z: np.ndarray, model: LetheModel, stage: str, step: int, t: float
    ) -> Geometry:
        w = model.head.weight.detach().to("cpu", copy=True).double().numpy()
        b = model.head.bias.detach().to("cpu", copy=True).double().numpy() if model.head.bias is not None else None
        frame = geometry_frame(
            z,
            self.labels,
            self.is_forget,
            self.basis,
            W=w,
            b=b,
            retained_classes=self.retained_classes,
            num_classes=self.num_classes,
        )
        # Accuracy of the probe's forget / other images, free from the same features: the live
        # curves plot it next to the loss.
        logits = z.astype(np.float64) @ w.T + (b if b is not None else 0.0)  # (N, K)
        if model.logit_mask:
            logits[:, model.logit_mask] = -np.inf
        pred = logits.argmax(1)
        correct = pred == self.labels
        shifted = logits - logits.max(1, keepdims=True)
        with np.errstate(invalid="ignore"):
            prob = np.exp(shifted)
        conf = np.nan_to_num(prob.max(1) / prob.sum(1), nan=0.0)  # softmax probability of ``pred``
        frame["nc"] = dict(frame["nc"])
        frame["nc"]["probe_forget_acc"] = float(correct[self.is_forget].mean()) if self.is_forget.any() else float("nan")
        frame["nc"]["probe_retain_acc"] = float(correct[~self.is_forget].mean()) if (~self.is_forget).any() else float("nan")
        return make_geometry_event(stage, step, t, frame, self.labels, self.is_forget,
                                   indices=self.indices, pred=pred, conf=conf)

    def frame(self, model: LetheModel, stage: str, step: int, t: float) -> Geometry:
        return self.frame_from_features(self.features(model), model, stage, step, t)

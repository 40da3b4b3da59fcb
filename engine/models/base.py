"""The one contract every Lethe model follows (as timm's forward_features / forward_head).

``features(x)`` returns flat penultimate features (N, d); ``head`` is the final ``nn.Linear``;
``forward(x) = head(features(x))`` with the classes in ``logit_mask`` pushed to -1e9 (a forgotten
class can never be predicted; finite rather than -inf so losses and entropies stay defined).
"""
from __future__ import annotations

import contextlib
from typing import Any
from collections.abc import Iterator

import torch
from torch import nn

from engine.models.input_norm import InputNorm

MASKED_LOGIT = -1e9


class LetheModel(nn.Module):
    """Base class: subclasses build ``self.head`` (nn.Linear) and implement :meth:`features`."""

    arch: str = ""
    head: nn.Linear
    # (name in the architecture's own code, name here) prefixes a foreign state dict may use,
    # e.g. ("fc.", "head."); engine.models.dialects tries them when keys do not match as they are.
    native_names: tuple[tuple[str, str], ...] = ()

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)  # enough to rebuild: arch, in_channels, image_size, num_classes
        self.logit_mask: list[int] = []
        # The normalisation the weights were trained with; None = unknown (the dataset's statistics).
        self.input_norm: InputNorm | None = None

    @property
    def num_classes(self) -> int:
        return int(self.head.out_features)

    @property
    def feature_dim(self) -> int:
        return int(self.head.in_features)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, d)
        raise NotImplementedError

    def logits_from_features(self, z: torch.Tensor) -> torch.Tensor:  # (N, d) -> (N, K)
        logits = self.head(z)
        if self.logit_mask:
            idx = torch.as_tensor(self.logit_mask, device=logits.device, dtype=torch.long)
            logits = logits.index_fill(1, idx, MASKED_LOGIT)
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from_features(self.features(x))

    def exportable(self) -> LetheModel:
        """The plain-architecture model to save (wrappers such as POUR-P's projection fold themselves in)."""
        return self


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluate in eval mode, then restore every module's own flag (not just the root's), so a
    method that froze BatchNorm statistics inside a training model keeps them frozen."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in modes:
            m.training = flag


def freeze_batchnorm(model: nn.Module) -> None:
    """Put every normalisation layer in eval mode (running statistics frozen) inside a training model."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()

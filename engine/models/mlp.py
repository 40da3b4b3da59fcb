"""``mlp``: a two-hidden-layer perceptron on flattened pixels (baseline; any image size)."""
from __future__ import annotations

import torch
from torch import nn

from engine.models.base import LetheModel
from engine.models.registry import make_config, register_model


class MLP(LetheModel):
    """flatten -> Linear(C*H*W, 256) -> ReLU -> Linear(256, 128) -> ReLU = features (d=128)."""

    def __init__(self, in_channels: int, image_size: tuple[int, int], num_classes: int) -> None:
        super().__init__(make_config("mlp", in_channels, image_size, num_classes))
        self.arch = "mlp"
        in_features = in_channels * image_size[0] * image_size[1]
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_features, 256),
            nn.ReLU(inplace=False),
            nn.Linear(256, 128),
            nn.ReLU(inplace=False),
        )
        self.head = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, 128)
        return self.body(x)  # (N, 128)


@register_model("mlp")
def mlp(in_channels: int, image_size: tuple[int, int], num_classes: int) -> MLP:
    return MLP(in_channels, image_size, num_classes)

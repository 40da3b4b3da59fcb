"""``cnn_small``: a three-conv network for tiny images (sklearn digits 8x8, MNIST-like 28x28).

Small enough to train to ~97 % on digits in seconds on two CPU cores, which is what the
studio's quick demos and the test suite run on.
"""
from __future__ import annotations

import torch
from torch import nn

from engine._core.errors import BadSpec
from engine.models.base import LetheModel
from engine.models.registry import make_config, register_model


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=False),
    )


class CNNSmall(LetheModel):
    """conv(32) - conv(64) - maxpool - conv(128) - global average pool = features (d=128)."""

    def __init__(self, in_channels: int, image_size: tuple[int, int], num_classes: int) -> None:
        super().__init__(make_config("cnn_small", in_channels, image_size, num_classes))
        self.arch = "cnn_small"
        if min(image_size) < 2:
            raise BadSpec(f"cnn_small needs images of at least 2x2 pixels, got {image_size}")
        self.body = nn.Sequential(
            _conv_bn_relu(in_channels, 32),
            _conv_bn_relu(32, 64),
            nn.MaxPool2d(2),
            _conv_bn_relu(64, 128),
        )
        self.head = nn.Linear(128, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, 128)
        h = self.body(x)  # (N, 128, H/2, W/2)
        return h.mean(dim=(2, 3))  # (N, 128); a plain mean is deterministic on CUDA too


@register_model("cnn_small")
def cnn_small(in_channels: int, image_size: tuple[int, int], num_classes: int) -> CNNSmall:
    return CNNSmall(in_channels, image_size, num_classes)

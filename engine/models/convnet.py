"""``convnet``: a CPU-friendly VGG-style CNN for 32-pixel images (CIFAR-10/100 subsets).

Three blocks of [conv-BN-ReLU x2, maxpool] with widths 32/64/128 and a global average pool:
about 0.29 M parameters, so a 10k-image CIFAR subset trains in minutes on a laptop CPU.
"""
from __future__ import annotations

import torch
from torch import nn

from engine._core.errors import BadSpec
from engine.models.base import LetheModel
from engine.models.registry import make_config, register_model

WIDTHS = (32, 64, 128)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=False),
        nn.Conv2d(c_out, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=False),
        nn.MaxPool2d(2),
    )


class ConvNet(LetheModel):
    """3 x [conv-BN-ReLU x2, maxpool] (32/64/128) -> global average pool = features (d=128)."""

    def __init__(self, in_channels: int, image_size: tuple[int, int], num_classes: int) -> None:
        super().__init__(make_config("convnet", in_channels, image_size, num_classes))
        self.arch = "convnet"
        if min(image_size) < 8:
            raise BadSpec(f"convnet needs images of at least 8x8 pixels (3 pooling stages), got {image_size}")
        blocks = []
        c = in_channels
        for width in WIDTHS:
            blocks.append(_block(c, width))
            c = width
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(WIDTHS[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, 128)
        h = self.body(x)  # (N, 128, H/8, W/8)
        return h.mean(dim=(2, 3))  # (N, 128)


@register_model("convnet")
def convnet(in_channels: int, image_size: tuple[int, int], num_classes: int) -> ConvNet:
    return ConvNet(in_channels, image_size, num_classes)

"""``resnet18_cifar``: ResNet-18 with a 3x3 stride-1 stem and no max-pool.

This is the CIFAR variant used throughout the unlearning literature (SCRUB, SalUn, l1-sparse):
32-pixel inputs keep full resolution through ``layer1``. Module names follow torchvision
(``conv1``, ``bn1``, ``layerK.i.downsample``) so state dicts from common repos map with at most a
renamed head.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from engine._core.errors import BadSpec
from engine.models.base import LetheModel
from engine.models.registry import make_config, register_model


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=False)
        self.conv2 = _conv3x3(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(c_out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, c_in, H, W) -> (N, c_out, H/s, W/s)
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetCifar(LetheModel):
    """Stem conv3x3(width) -> 4 stages of BasicBlocks (1/2/4/8 x width; 64/128/256/512) -> global average pool."""

    def __init__(self, arch: str, in_channels: int, image_size: tuple[int, int], num_classes: int,
                 blocks: tuple[int, int, int, int] = (2, 2, 2, 2), width: int = 64) -> None:
        super().__init__(make_config(arch, in_channels, image_size, num_classes))
        self.arch = arch
        if width < 1:
            raise BadSpec(f"resnet18_cifar: width must be >= 1, got {width}")
        self.conv1 = _conv3x3(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=False)
        c = width
        stages = []
        for i, (w, n) in enumerate(zip((width, 2 * width, 4 * width, 8 * width), blocks, strict=True)):
            layers = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(c, w, stride))
                c = w
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.head = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, 8 * width), 512 by default
        h = self.relu(self.bn1(self.conv1(x)))  # (N, 64, H, W)
        h = self.layer1(h)  # (N, 64, H, W)
        h = self.layer2(h)  # (N, 128, H/2, W/2)
        h = self.layer3(h)  # (N, 256, H/4, W/4)
        h = self.layer4(h)  # (N, 512, H/8, W/8)
        return h.mean(dim=(2, 3))  # (N, 512)


def _width_of(state: Mapping[str, Any]) -> dict[str, Any]:
    """The stem's output channels (the first 4-D weight, whatever the dialect calls it) when not 64."""
    first = next((v for k, v in state.items() if k.endswith("weight") and getattr(v, "ndim", 0) == 4), None)
    return {"width": int(first.shape[0])} if first is not None and int(first.shape[0]) != 64 else {}


@register_model("resnet18_cifar", infer_options=_width_of)
def resnet18_cifar(in_channels: int, image_size: tuple[int, int], num_classes: int, width: int = 64) -> ResNetCifar:
    """``width``: channels of the stem and first stage (64 in the literature; small values for tests)."""
    return ResNetCifar("resnet18_cifar", in_channels, image_size, num_classes, blocks=(2, 2, 2, 2), width=width)

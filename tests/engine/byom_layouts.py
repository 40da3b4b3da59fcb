"""Foreign checkpoints for the bring-your-own-model tests, written here in the other repos' own words.

Each class below reproduces how a public code base lays out its network (module names, where the
normalisation lives); widths are tiny so the tests stay fast. Nothing is downloaded and no code
of those repositories is included: only their naming conventions.
"""
from __future__ import annotations

import numpy as np
import torch
import torchvision
from torch import nn

# ---------------------------------------------------------------------------------------------- data

CLASSES = 4
SIZE = 32


def tiny_images(seed: int = 0, size: int = SIZE) -> dict[str, np.ndarray]:
    """x_train (160, size, size, 3) / x_test (40, ...) uint8 whose mean colour depends on the class."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for split, per in (("train", 40), ("test", 10)):
        y = np.repeat(np.arange(CLASSES), per)
        colour = np.stack([(40 + 50 * y) % 256, (200 - 45 * y) % 256, (90 + 30 * y) % 256], 1)[:, None, None, :]
        x = np.clip(rng.normal(colour, 45, (len(y), size, size, 3)), 0, 255).astype(np.uint8)
        out[f"x_{split}"], out[f"y_{split}"] = x, y.astype(np.int64)
    return out


def to01(x_uint8_nhwc: np.ndarray) -> torch.Tensor:
    """ToTensor: uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    return torch.from_numpy(x_uint8_nhwc).permute(0, 3, 1, 2).float().div(255.0)


def standardise(x01: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    return (x01 - torch.tensor(mean)[None, :, None, None]) / torch.tensor(std)[None, :, None, None]


def settle_batchnorm(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """One train-mode pass so BatchNorm buffers are not the trivial 0/1 (they must round-trip too)."""
    model.train()
    with torch.no_grad():
        model(x)
    return model.eval()


# ---------------------------------------------------------------------------------------------- OPTML (SalUn / Unlearn-Sparse)

OPTML_MEAN, OPTML_STD = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]


class NormalizeByChannelMeanStd(nn.Module):
    """OPTML keeps the normalisation inside the model, as buffers ``normalize.mean`` / ``normalize.std``."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean[None, :, None, None]) / self.std[None, :, None, None]


class TorchvisionStyleBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + idt)


class OptmlResNet18(nn.Module):
    """models/ResNet.py of OPTML: torchvision names, 3x3 stem, Identity max-pool, ``normalize`` inside, ``fc``."""

    def __init__(self, num_classes: int = CLASSES, width: int = 8) -> None:
        super().__init__()
        self.normalize = NormalizeByChannelMeanStd(OPTML_MEAN, OPTML_STD)
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        cin, stages = width, []
        for i, w in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stages.append(nn.Sequential(TorchvisionStyleBlock(cin, w, 1 if i == 0 else 2), TorchvisionStyleBlock(w, w, 1)))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width, num_classes)

    def forward(self, x01: torch.Tensor) -> torch.Tensor:  # [0, 1] inputs (their loaders only apply ToTensor)
        h = self.maxpool(self.relu(self.bn1(self.conv1(self.normalize(x01)))))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.fc(torch.flatten(self.avgpool(h), 1))


# ---------------------------------------------------------------------------------------------- the usual containers' network

class CifarResNet18WithHead(nn.Module):
    """A network already named as Lethe's resnet18_cifar (``head``): only the container differs."""

    def __init__(self, num_classes: int = CLASSES, width: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        cin, stages = width, []
        for i, w in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stages.append(nn.Sequential(TorchvisionStyleBlock(cin, w, 1 if i == 0 else 2), TorchvisionStyleBlock(w, w, 1)))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.head = nn.Linear(8 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        return self.head(self.layer4(self.layer3(self.layer2(self.layer1(h)))).mean(dim=(2, 3)))


# ---------------------------------------------------------------------------------------------- Machine Unlearning Comparator

COMPARATOR_MEAN, COMPARATOR_STD = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]


def comparator_resnet18(num_classes: int = CLASSES) -> nn.Module:
    """torchvision resnet18 with a 3x3 stride-1 conv1 and Identity max-pool; normalised outside the model."""
    m = torchvision.models.resnet18(weights=None)
    m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    m.maxpool = nn.Identity()  # type: ignore[assignment]
    m.fc = nn.Linear(m.fc.in_features, num_classes)
    return m


# ---------------------------------------------------------------------------------------------- SSD (weiaicunzai/pytorch-cifar100 names)

class ResidualBlockSSD(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.residual_function = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.residual_function(x) + self.shortcut(x))


class SsdResNet18(nn.Module):
    """conv1 = Sequential(conv, bn, relu); conv2_x..conv5_x; avg_pool; fc."""

    def __init__(self, num_classes: int = CLASSES, width: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        cin, stages = width, []
        for i, w in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stages.append(nn.Sequential(ResidualBlockSSD(cin, w, 1 if i == 0 else 2), ResidualBlockSSD(w, w, 1)))
            cin = w
        self.conv2_x, self.conv3_x, self.conv4_x, self.conv5_x = stages
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv5_x(self.conv4_x(self.conv3_x(self.conv2_x(self.conv1(x)))))
        return self.fc(torch.flatten(self.avg_pool(h), 1))

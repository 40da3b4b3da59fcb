"""Which architecture a bare state dict fits: every registered Lethe model and the common torchvision
classifiers are built on the meta device (no memory, no initialisation) and compared by tensor
names and shapes after the dialect mappings of :mod:`engine.models.dialects`.

A guess is evidence, not proof: weights cannot show parameter-free layers (a max-pool after the
stem, an activation, the pooling), so a guess is offered to the user to confirm, never applied
silently. Used by ``python -m engine inspect`` and by the message of a checkpoint without an
architecture.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from engine._core.errors import LetheError
from engine.models.dialects import Reading, class_count, fit_names, input_channels
from engine.models.registry import available_models, create_model

# torchvision builders worth trying, by the top-level module names their state dicts have.
_TORCHVISION = (
    ({"layer1", "layer4", "fc"}, ("resnet18", "resnet34", "resnet50", "resnet101", "wide_resnet50_2", "resnext50_32x4d")),
    ({"features", "classifier"}, ("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
                                  "efficientnet_b1", "efficientnet_b2", "vgg11", "vgg11_bn", "vgg13", "vgg16",
                                  "vgg16_bn", "vgg19_bn", "densenet121", "convnext_tiny", "alexnet")),
    ({"conv_proj", "encoder"}, ("vit_b_16", "vit_b_32")),
    ({"features", "head"}, ("swin_t",)),
    ({"stage2", "conv5"}, ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0")),
    ({"layers", "classifier"}, ("mnasnet0_5", "mnasnet1_0")),
)


@dataclass(frozen=True)
class Guess:
    """``arch`` fits ``matched`` of its ``total`` tensors (names and shapes) after ``renames``;
    ``unused`` tensors of the file have no place in it."""

    arch: str
    matched: int
    total: int
    unused: int = 0
    renames: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def exact(self) -> bool:
        return self.matched == self.total and self.unused == 0

    @property
    def score(self) -> float:
        """Matched tensors over all tensors of the architecture and the file together (1.0 = exact)."""
        return self.matched / max(self.total + self.unused, 1)

    def describe(self) -> str:
        opts = "".join(f", {k}={v}" for k, v in self.options)
        unused = f", {self.unused} of the file's unused" if self.unused else ""
        return f"{self.arch}{opts} ({self.matched}/{self.total} tensors fit{unused})"


def _top_names(state: dict[str, torch.Tensor]) -> set[str]:
    tops = {k.split(".", 1)[0] for k in state}
    if len(tops) == 1:  # one shared prefix (Lightning's "model."): look one level down
        tops = {k.split(".", 2)[1] for k in state if k.count(".") >= 2} | tops
    return tops


def _square_side(features: int, channels: int) -> int | None:
    side = math.isqrt(max(features // max(channels, 1), 0))
    return side if side * side * channels == features else None


def candidates(reading: Reading) -> list[tuple[str, dict[str, Any]]]:
    """(arch, options) pairs to try for this state dict: Lethe's models first, then torchvision's."""
    out: list[tuple[str, dict[str, Any]]] = [(a, {}) for a in available_models()]
    conv1 = reading.state.get("conv1.weight")
    if conv1 is not None and conv1.ndim == 4 and int(conv1.shape[0]) != 64:
        out.append(("resnet18_cifar", {"width": int(conv1.shape[0])}))
    tops = _top_names(reading.state)
    for markers, builders in _TORCHVISION:
        if markers <= tops:
            out += [(f"torchvision:{b}", {}) for b in builders]
    return out


def guess_architecture(reading: Reading, *, in_channels: int | None = None,
                       image_size: tuple[int, int] | None = None, num_classes: int | None = None,
                       limit: int = 3) -> list[Guess]:
    """The best-fitting architectures, best first (an exact fit first of all); at most ``limit``."""
    k = num_classes or class_count(reading.state) or 10
    c = in_channels or input_channels(reading.state) or 3
    guesses: list[Guess] = []
    for arch, options in candidates(reading):
        size = image_size or _default_size(arch, reading, c)
        try:
            with torch.device("meta"):
                model = create_model(arch, c, size, k, **options)
        except (LetheError, TypeError, ValueError, RuntimeError, NotImplementedError):
            continue  # this architecture cannot take these inputs: not a candidate
        trial = dataclasses.replace(reading, renames=[], steps=list(reading.steps))
        state = fit_names(trial, model)
        expected = model.state_dict()
        matched = sum(1 for name, v in expected.items() if name in state and tuple(state[name].shape) == tuple(v.shape))
        unused = sum(1 for name in state if name not in expected)
        if matched:
            guesses.append(Guess(arch, matched, len(expected), unused, tuple(trial.renames), tuple(options.items())))
    guesses.sort(key=lambda g: (not g.exact, -g.score))
    best = [g for g in guesses if g.score >= 0.5] or guesses[:1]
    return best[:limit]


def _default_size(arch: str, reading: Reading, channels: int) -> tuple[int, int]:
    if arch == "mlp":
        first = next((v for name, v in reading.state.items() if name.endswith("weight") and v.ndim == 2), None)
        side = _square_side(int(first.shape[1]), channels) if first is not None else None
        if side:
            return side, side
    if arch.startswith("torchvision:vit") or arch.startswith("torchvision:swin"):
        return 224, 224
    return 32, 32

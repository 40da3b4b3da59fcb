"""The training-cost bound: a run whose trainings would take hours asks for confirmation first.

Cost = training epochs x training rows x the model's multiply-adds for one image x 3 (forward
and backward), summed over the trainings the run will actually do (an original or a retrain
found in the cache costs nothing). The multiply-adds of one forward pass are counted once per
architecture and image shape on PyTorch's meta device (no memory, no compute). Time is a rough
estimate at a conservative rate for the device; above :data:`MAX_SECONDS` the run stops before
training with :class:`NeedsConfirmation`, unless the spec says ``"confirm_cost": true`` (the
CLI's ``--yes``). Unlearning methods are not counted: their own steps are bounded by their
hyperparameters' ranges.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from engine._core.errors import NeedsConfirmation
from engine.models import create_model

TRAIN_FACTOR = 3  # one forward and a backward of about twice its cost
MACS_PER_SECOND = {"cpu": 20e9, "cuda": 2e12, "mps": 5e11}  # measured CPU rate: ~20 GMAC/s on 2 cores
MAX_SECONDS = 2 * 3600.0


@functools.lru_cache(maxsize=64)
def forward_macs(arch: str, channels: int, image_size: tuple[int, int], num_classes: int) -> int:
    """Multiply-adds of one forward pass of one image through ``arch`` (convolutions and linear layers)."""
    with torch.device("meta"):
        model = create_model(arch, channels, image_size, num_classes)
    total = 0

    def hook(m: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, channels, *image_size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return int(total)


@dataclass(frozen=True)
class Training:
    """One training a run will do: ``what`` (original / retrain), epochs and rows."""

    what: str
    arch: str
    epochs: int
    rows: int
    macs: float


def training(what: str, arch: str, epochs: int, rows: int, channels: int, image_size: tuple[int, int],
             num_classes: int) -> Training:
    """The cost of training ``arch`` for ``epochs`` over ``rows`` images."""
    per_image = forward_macs(arch, int(channels), (int(image_size[0]), int(image_size[1])), int(num_classes))
    return Training(what, arch, int(epochs), int(rows), float(TRAIN_FACTOR) * per_image * epochs * rows)


def estimated_seconds(trainings: list[Training], device: torch.device) -> float:
    """A rough duration of ``trainings`` on ``device`` (see :data:`MACS_PER_SECOND`)."""
    rate = MACS_PER_SECOND.get(device.type, MACS_PER_SECOND["cpu"])
    return sum(t.macs for t in trainings) / rate


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} hours" if seconds >= 5400 else f"{seconds / 60:.0f} minutes"


def check_budget(trainings: list[Training], device: torch.device, *, confirmed: bool) -> None:
    """Raise :class:`NeedsConfirmation` when ``trainings`` would take over :data:`MAX_SECONDS`."""
    seconds = estimated_seconds(trainings, device)
    if seconds <= MAX_SECONDS or confirmed:
        return
    parts = ", ".join(f"{t.what} ({t.arch}, {t.epochs} epochs x {t.rows:,} images)" for t in trainings)
    total = sum(t.macs for t in trainings)
    raise NeedsConfirmation(
        f"this run trains {parts}: about {total / 1e12:,.0f} T multiply-adds, roughly {_duration(seconds)} "
        f"on {device.type}; it runs only when confirmed"
    )

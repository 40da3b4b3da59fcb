"""Random Label (methods.md A3; SalUn ``unlearn/RL.py``, CIFAR-10 variant).

Each epoch first passes over D_f with random targets (loss CE(f_θ(x), ỹ), ỹ ~ U{0..C−1}, so the true
label is drawn with probability 1/C, as in SalUn; pitfall D1), then over D_r with the true labels,
each batch its own SGD step (momentum 0.9, weight decay 5e-4, constant lr). ``other_classes_only``
draws ỹ from the other classes instead (for class forgetting: never a forgotten class), as the
Amnesiac variant of the SSD repo does. Paper defaults: 10 epochs, lr 0.01, batch 256.

Digits scale (cnn_small; the ``small`` preset): the paper's batch 256 leaves one forget step per epoch and class 3 intact;
batch 32, lr 0.05, 3 epochs forget it (uniform draw).

Departures: none by default (SalUn's CIFAR-10 RL: uniform draw, forget pass then retain pass, separate steps).
``other_classes_only`` is the SSD repo's Amnesiac draw (its Adam optimiser and mixed loader are not
reproduced). The CIFAR-100 / TinyImageNet variant (fixed random labels, one shuffled loader) is not offered. A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F

from engine._core.events import Event
from engine.methods._common import augment_generator, forget_rows, retain_rows
from engine.methods._loops import optimise
from engine.methods._params import MaskParams, SGDParams, batch_size_field, epochs_field, lr_field
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import Phase, epoch_batches

EPOCHS_HELP = "Epochs; each is one pass over the forget set (random labels) then the retain set."
SMALL = {"batch_size": 32, "lr": 0.05, "epochs": 3}  # digits: forget class 3 (SalUn shares it)


@dataclass(frozen=True)
class RandomLabelParams(MaskParams, SGDParams):
    epochs: int = epochs_field(10, EPOCHS_HELP)
    lr: float = lr_field(0.01, "SGD learning rate (SalUn: 0.01; digits cnn_small: 0.05).")
    batch_size: int = batch_size_field(256, "Images per step, forget and retain batches alike (digits cnn_small: 32).")
    other_classes_only: bool = param(
        False, "Draw the random label from the other classes only (never the true or a forgotten class); off = SalUn's uniform draw."
    )


def random_targets(
    y: torch.Tensor, num_classes: int, other_only: bool, forbidden: tuple[int, ...], gen: torch.Generator
) -> torch.Tensor:
    """(B,) random labels: uniform over all classes, or over those that are neither y nor forbidden."""
    if not other_only:
        return torch.randint(0, num_classes, y.shape, generator=gen)
    allowed = torch.ones(len(y), num_classes, dtype=torch.bool)  # (B, C)
    allowed[torch.arange(len(y)), y] = False
    for c in forbidden:
        allowed[:, c] = False
    allowed[allowed.sum(1) == 0] = True  # nothing left (C = 2 corner case): fall back to uniform
    return torch.multinomial(allowed.float(), 1, generator=gen).squeeze(1)


def rl_schedule(n_forget: int, n_retain: int, batch_size: int, epochs: int, gen: torch.Generator) -> list[tuple[str, np.ndarray]]:
    """Per epoch: every forget batch, then every retain batch (SalUn's CIFAR-10 RL order)."""
    plan: list[tuple[str, np.ndarray]] = []
    for _ in range(epochs):
        plan += [("forget", idx) for idx in epoch_batches(n_forget, min(batch_size, n_forget), gen)]
        if n_retain > 1:
            plan += [("retain", idx) for idx in epoch_batches(n_retain, min(batch_size, n_retain), gen)]
    return plan


def run_random_label(ctx: MethodContext, p: SGDParams, other_only: bool, mask: MaskParams) -> Generator[Event, None, LetheModel]:
    """RL on a copy of the original, optionally under an update mask (SalUn = RL + the SalUn mask)."""
    model = ctx.copy_original()
    forget, retain, gen = forget_rows(ctx), retain_rows(ctx), augment_generator(ctx)
    plan = rl_schedule(len(forget), len(retain), p.batch_size, p.epochs, gen)
    forbidden = tuple(ctx.split.forget_classes) if ctx.split.kind == "class" else ()
    C = model.num_classes

    def loss(batch: tuple[str, np.ndarray]) -> torch.Tensor:
        part, idx = batch
        if part == "retain":
            return retain.cross_entropy(model, idx, gen)
        y_random = random_targets(forget.y[idx], C, other_only, forbidden, gen)  # drawn before the augmentation
        return F.cross_entropy(model(forget.images(idx, gen)), y_random.to(ctx.device))  # logits (B, C)

    yield from optimise(ctx, model, [Phase(loss, plan, p.sgd(epochs=1))], mask=mask, mask_batch_size=p.batch_size)
    return model


@register(
    "random_label",
    RandomLabelParams,
    description="Fine-tune on the forget set with random labels, interleaved with the retain set (SalUn's RL).",
    needs=("forget", "retain"),
    label="Random Label",
    presets={"small": SMALL},
)
def unlearn(ctx: MethodContext, p: RandomLabelParams) -> Generator[Event, None, LetheModel]:
    return (yield from run_random_label(ctx, p, p.other_classes_only, p))

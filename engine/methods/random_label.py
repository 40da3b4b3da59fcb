"""Random Label (methods.md A3; SalUn ``unlearn/RL.py``, CIFAR-10 variant).

Each epoch first passes over D_f with random targets (loss CE(f_θ(x), ỹ), ỹ ~ U{0..C−1}, so the true
label is drawn with probability 1/C, as in SalUn; pitfall D1), then over D_r with the true labels,
each batch its own SGD step (momentum 0.9, weight decay 5e-4, constant lr). ``other_classes_only``
draws ỹ from the other classes instead (for class forgetting: never a forgotten class), as the
Amnesiac variant of the SSD repo does. Paper defaults: 10 epochs, lr 0.01, batch 256.

Digits scale (cnn_small; the ``small`` preset): the paper's batch 256 leaves one forget step per epoch and class 3 intact;
batch 32, lr 0.05, 3 epochs forget it (uniform draw).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import numpy as np
import torch
import torch.nn.functional as F

from engine._core.events import Event
from engine.methods._loops import optimise, sgd
from engine.methods.base import MethodContext, param
from engine.methods.masks import build_mask, mask_delta_field, mask_field, mask_hooks, mask_micro_field, mask_ratio_field
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import augment_batch, epoch_batches


@dataclass(frozen=True)
class RandomLabelParams:
    epochs: int = param(10, "Epochs; each is one pass over the forget set (random labels) then the retain set.", min=1, max=200)
    lr: float = param(0.01, "SGD learning rate (SalUn: 0.01; digits cnn_small: 0.05).", min=1e-7, max=1.0)
    momentum: float = param(0.9, "SGD momentum.", min=0.0, max=0.999)
    weight_decay: float = param(5e-4, "L2 weight decay.", min=0.0, max=0.1)
    batch_size: int = param(256, "Images per step, forget and retain batches alike (digits cnn_small: 32).", min=2, max=4096)
    other_classes_only: bool = param(
        False, "Draw the random label from the other classes only (never the true or a forgotten class); off = SalUn's uniform draw."
    )
    mask: str = mask_field()
    mask_ratio: float = mask_ratio_field()
    mask_delta: float = mask_delta_field()
    mask_micro: int = mask_micro_field()


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


def run_random_label(
    ctx: MethodContext,
    *,
    epochs: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    batch_size: int,
    other_only: bool,
    mask_kind: str,
    mask_ratio: float,
    mask_delta: float,
    mask_micro: int,
) -> Generator[Event, None, LetheModel]:
    """RL on a copy of the original, optionally under an update mask (SalUn = RL + the SalUn mask)."""
    model = ctx.copy_original().train()
    x_f, y_f = ctx.x_forget, torch.as_tensor(ctx.y_forget, dtype=torch.long)
    x_r, y_r = ctx.x_retain, torch.as_tensor(ctx.y_retain, dtype=torch.long)
    gen = torch.Generator().manual_seed(ctx.seed)
    plan = rl_schedule(len(x_f), len(x_r), batch_size, epochs, gen)
    forbidden = tuple(ctx.split.forget_classes) if ctx.split.kind == "class" else ()
    C = model.num_classes

    def loss_fn(step: int) -> torch.Tensor:
        part, idx = plan[step - 1]
        if part == "forget":
            xb, yb = x_f[idx], random_targets(y_f[idx], C, other_only, forbidden, gen)
        else:
            xb, yb = x_r[idx], y_r[idx]
        logits = model(augment_batch(ctx.normalise(xb), ctx.recipe.augment, gen))  # (B, C)
        return F.cross_entropy(logits, yb.to(ctx.device))

    opt = sgd(model, lr, momentum, weight_decay)
    mask = build_mask(ctx, model, opt, mask_kind, ratio=mask_ratio, delta=mask_delta, micro=mask_micro, batch_size=batch_size)
    yield from optimise(ctx, model, loss_fn, opt, len(plan), **mask_hooks(mask))
    return model


@register(
    "random_label",
    RandomLabelParams,
    description="Fine-tune on the forget set with random labels, interleaved with the retain set (SalUn's RL).",
    needs=("forget", "retain"),
    label="Random Label",
    presets={"small": {"batch_size": 32, "lr": 0.05, "epochs": 3}},
)
def unlearn(ctx: MethodContext, p: RandomLabelParams) -> Generator[Event, None, LetheModel]:
    return (
        yield from run_random_label(
            ctx,
            epochs=p.epochs,
            lr=p.lr,
            momentum=p.momentum,
            weight_decay=p.weight_decay,
            batch_size=p.batch_size,
            other_only=p.other_classes_only,
            mask_kind=p.mask,
            mask_ratio=p.mask_ratio,
            mask_delta=p.mask_delta,
            mask_micro=p.mask_micro,
        )
    )

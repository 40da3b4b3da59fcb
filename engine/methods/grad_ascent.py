"""Gradient Ascent (methods.md A2; Unlearn-Sparse / SalUn ``unlearn/GA.py``).

Maximise the cross-entropy on the forget set: loss = −CE(f_θ(x), y), (x, y) ∈ D_f, with SGD
(momentum 0.9, weight decay 5e-4). Paper defaults (CIFAR-10 / ResNet-18): lr 1e-4, 5 epochs.
GA diverges easily, so it stops early once forget-set accuracy is at or below ``early_stop_acc``.

Digits scale (cnn_small; the ``small`` preset, ~145 forget images = one batch per epoch): lr 1e-3 with min_steps 100
stops early at forget accuracy 0 (retained-class test accuracy 0.84; 0.975 with ``mask = feasible``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import torch
import torch.nn.functional as F

from engine._core.events import Event, Log
from engine.methods._loops import cycle_batches, forget_accuracy, optimise, sgd, steps_for
from engine.methods.base import MethodContext, param
from engine.methods.masks import build_mask, mask_delta_field, mask_field, mask_hooks, mask_micro_field, mask_ratio_field
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import augment_batch


@dataclass(frozen=True)
class GradAscentParams:
    epochs: int = param(5, "Passes over the forget set (paper 5).", min=1, max=500)
    min_steps: int = param(0, "At least this many steps (a small forget set is one step per epoch; digits: 100).", min=0, max=100000)
    lr: float = param(1e-4, "SGD learning rate (paper 1e-4 for CIFAR-10/ResNet-18; digits cnn_small: 1e-3).", min=1e-7, max=1.0)
    momentum: float = param(0.9, "SGD momentum.", min=0.0, max=0.999)
    weight_decay: float = param(5e-4, "L2 weight decay.", min=0.0, max=0.1)
    batch_size: int = param(256, "Forget images per step.", min=2, max=4096)
    early_stop_acc: float = param(
        0.01, "Stop once forget-set accuracy is at or below this (negative: never). GA diverges without it.", min=-1.0, max=1.0
    )
    early_stop_every: int = param(1, "Check the early-stop criterion every this many steps.", min=1, max=1000)
    mask: str = mask_field()
    mask_ratio: float = mask_ratio_field()
    mask_delta: float = mask_delta_field()
    mask_micro: int = mask_micro_field()


@register(
    "grad_ascent",
    GradAscentParams,
    description="Gradient ascent on the forget set (maximise its cross-entropy), with early stopping.",
    needs=("forget",),
    label="Gradient Ascent",
    presets={"small": {"lr": 1e-3, "min_steps": 100}},
)
def unlearn(ctx: MethodContext, p: GradAscentParams) -> Generator[Event, None, LetheModel]:
    model = ctx.copy_original().train()
    x, y = ctx.x_forget, torch.as_tensor(ctx.y_forget, dtype=torch.long)
    batches = cycle_batches(len(x), p.batch_size, ctx.seed)
    gen = torch.Generator().manual_seed(ctx.seed)

    def loss_fn(step: int) -> torch.Tensor:
        idx = next(batches)
        xb = augment_batch(ctx.normalise(x[idx]), ctx.recipe.augment, gen)  # (B, C, H, W)
        return -F.cross_entropy(model(xb), y[idx].to(ctx.device))

    def early_stop(m: LetheModel) -> bool:
        return p.early_stop_acc >= 0 and forget_accuracy(ctx, m) <= p.early_stop_acc

    opt = sgd(model, p.lr, p.momentum, p.weight_decay)
    mask = build_mask(ctx, model, opt, p.mask, ratio=p.mask_ratio, delta=p.mask_delta, micro=p.mask_micro)
    steps = steps_for(len(x), p.batch_size, p.epochs, p.min_steps)
    ran = yield from optimise(
        ctx, model, loss_fn, opt, steps, early_stop=early_stop, early_stop_every=p.early_stop_every, **mask_hooks(mask)
    )
    if ran < steps:
        yield Log(f"Gradient Ascent: early stop after {ran} of {steps} steps (forget accuracy <= {p.early_stop_acc:.0%})")
    return model

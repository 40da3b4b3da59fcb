"""NegGrad+ (Kurmanji et al. 2023; methods.md A4; SCRUB ``helper/loops.py:train_negrad``).

Joint descent on the retain set and ascent on the forget set in every step:
L = α·CE(B_r) − (1 − α)·CE(B_f), iterating over retain batches while cycling the forget batches.
Defaults (``small_scale_unlearning.ipynb``): α = 0.95, 10 epochs, SGD lr 0.01, weight decay 0.

Digits scale (cnn_small): the paper defaults forget class 3 (forget acc ~0) with retain acc intact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import torch
import torch.nn.functional as F

from engine._core.events import Event
from engine.methods._loops import cycle_batches, optimise, sgd, steps_for
from engine.methods.base import MethodContext, param
from engine.methods.masks import build_mask, mask_delta_field, mask_field, mask_hooks, mask_micro_field, mask_ratio_field
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import augment_batch


@dataclass(frozen=True)
class NegGradPlusParams:
    alpha: float = param(0.95, "α: weight of the retain CE; the forget CE is ascended with weight 1 − α.", min=0.0, max=1.0)
    epochs: int = param(10, "Passes over the retain set.", min=1, max=200)
    lr: float = param(0.01, "SGD learning rate.", min=1e-7, max=1.0)
    momentum: float = param(0.9, "SGD momentum.", min=0.0, max=0.999)
    weight_decay: float = param(0.0, "L2 weight decay (SCRUB notebook: 0).", min=0.0, max=0.1)
    batch_size: int = param(128, "Retain (and forget) images per step.", min=2, max=4096)
    mask: str = mask_field()
    mask_ratio: float = mask_ratio_field()
    mask_delta: float = mask_delta_field()
    mask_micro: int = mask_micro_field()


@register(
    "neggrad_plus",
    NegGradPlusParams,
    description="NegGrad+: descend the retain loss and ascend the forget loss in the same step.",
    needs=("forget", "retain"),
    label="NegGrad+",
)
def unlearn(ctx: MethodContext, p: NegGradPlusParams) -> Generator[Event, None, LetheModel]:
    model = ctx.copy_original().train()
    x_f, y_f = ctx.x_forget, torch.as_tensor(ctx.y_forget, dtype=torch.long)
    x_r, y_r = ctx.x_retain, torch.as_tensor(ctx.y_retain, dtype=torch.long)
    retain_batches = cycle_batches(len(x_r), p.batch_size, ctx.seed)
    forget_batches = cycle_batches(len(x_f), p.batch_size, ctx.seed + 1)
    gen = torch.Generator().manual_seed(ctx.seed)

    def loss_fn(step: int) -> torch.Tensor:
        ir, jf = next(retain_batches), next(forget_batches)
        lr_ = F.cross_entropy(model(augment_batch(ctx.normalise(x_r[ir]), ctx.recipe.augment, gen)), y_r[ir].to(ctx.device))
        lf_ = F.cross_entropy(model(augment_batch(ctx.normalise(x_f[jf]), ctx.recipe.augment, gen)), y_f[jf].to(ctx.device))
        return p.alpha * lr_ - (1.0 - p.alpha) * lf_

    opt = sgd(model, p.lr, p.momentum, p.weight_decay)
    mask = build_mask(ctx, model, opt, p.mask, ratio=p.mask_ratio, delta=p.mask_delta, micro=p.mask_micro)
    yield from optimise(ctx, model, loss_fn, opt, steps_for(len(x_r), p.batch_size, p.epochs), **mask_hooks(mask))
    return model

"""Boundary Shrink (Chen et al., CVPR 2023, "Boundary Unlearning"; methods.md A11;
``Unlearn-Saliency/Classification/unlearn/boundary_sh.py`` and the authors' ``boundary_unlearning.py``).

A frozen copy of the original finds each forget image's *nearest wrong class* by FGSM on [0, 1]
pixels: x_adv = clip(x + ε·sign(∇ₓ CE(f_θ0(x), y)), 0, 1) rounded to 1/255 (ε = 0.1), and
y_nbr = argmax f_θ0(x_adv). The model is then trained with CE(f_θ(x), y_nbr) on the *clean*
forget images, which shrinks the forget class's decision region into its neighbours.
Defaults (authors' code): SGD lr 1e-5, momentum 0.9, 10 epochs, forget set only (SalUn's scripts: 5e-6).

Digits scale (cnn_small; the ``small`` preset): ε = 0.1 moves few 8x8 digits across a boundary, so most keep their own label;
ε = 0.2 (99 % moved), lr 3e-3, batch 32, 10 epochs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import numpy as np
import torch
import torch.nn.functional as F

from engine._core.events import Event, Log
from engine.methods._loops import cycle_batches, optimise, sgd, steps_for
from engine.methods.base import MethodContext, param
from engine.methods.masks import build_mask, mask_delta_field, mask_field, mask_hooks, mask_micro_field, mask_ratio_field
from engine.methods.registry import register
from engine.models.base import LetheModel, eval_mode
from engine.train.loop import augment_batch


@dataclass(frozen=True)
class BoundaryShrinkParams:
    epsilon: float = param(0.1, "FGSM step (L∞ bound) on [0, 1] pixels for finding the nearest wrong class (digits cnn_small: 0.2).", min=0.0, max=1.0)
    epochs: int = param(10, "Passes over the forget set.", min=1, max=500)
    lr: float = param(1e-5, "SGD learning rate (authors 1e-5, SalUn scripts 5e-6; digits cnn_small: 3e-3).", min=1e-8, max=1.0)
    momentum: float = param(0.9, "SGD momentum.", min=0.0, max=0.999)
    weight_decay: float = param(5e-4, "L2 weight decay.", min=0.0, max=0.1)
    batch_size: int = param(256, "Forget images per step (digits cnn_small: 32).", min=2, max=4096)
    mask: str = mask_field()
    mask_ratio: float = mask_ratio_field()
    mask_delta: float = mask_delta_field()
    mask_micro: int = mask_micro_field()


def pixel_scale(ctx: MethodContext) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, C, 1, 1) mean and std: model input = (x01 − mean) / std for x01 in [0, 1]."""
    mean = torch.tensor(ctx.bundle.mean, device=ctx.device, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(ctx.bundle.std, device=ctx.device, dtype=torch.float32).view(1, -1, 1, 1)
    return mean, std


def nearest_wrong_class(ctx: MethodContext, model: LetheModel, x: np.ndarray, y: np.ndarray, eps: float, batch_size: int = 256) -> torch.Tensor:
    """(N,) argmax of ``model`` on FGSM images x + ε·sign(∇ₓCE), clipped to [0, 1] and rounded to 1/255."""
    mean, std = pixel_scale(ctx)
    out = []
    with eval_mode(model):
        for s in range(0, len(x), batch_size):
            ctx.token.check()
            x01 = torch.as_tensor(x[s : s + batch_size], device=ctx.device).float().div(255.0).requires_grad_(True)
            yb = torch.as_tensor(y[s : s + batch_size], device=ctx.device, dtype=torch.long)
            loss = F.cross_entropy(model((x01 - mean) / std), yb)
            (g,) = torch.autograd.grad(loss, x01)
            with torch.no_grad():
                adv = torch.round((x01 + eps * g.sign()).clamp(0, 1) * 255.0) / 255.0  # (B, C, H, W)
                out.append(model((adv - mean) / std).argmax(1).cpu())
    return torch.cat(out)


@register(
    "boundary_shrink",
    BoundaryShrinkParams,
    description="Boundary Shrink: relabel each forget image with its nearest wrong class (found by FGSM) and fine-tune.",
    needs=("forget",),
    label="Boundary Shrink",
    presets={"small": {"lr": 3e-3, "batch_size": 32, "epsilon": 0.2}},
)
def unlearn(ctx: MethodContext, p: BoundaryShrinkParams) -> Generator[Event, None, LetheModel]:
    x = ctx.x_forget
    y_nbr = nearest_wrong_class(ctx, ctx.original, x, ctx.y_forget, p.epsilon)  # (N_f,)
    moved = float((y_nbr != torch.as_tensor(ctx.y_forget)).float().mean())
    yield Log(f"Boundary Shrink: FGSM moved {moved:.0%} of the forget images to another class")
    model = ctx.copy_original().train()
    batches = cycle_batches(len(x), p.batch_size, ctx.seed)
    gen = torch.Generator().manual_seed(ctx.seed)

    def loss_fn(step: int) -> torch.Tensor:
        idx = next(batches)
        xb = augment_batch(ctx.normalise(x[idx]), ctx.recipe.augment, gen)
        return F.cross_entropy(model(xb), y_nbr[idx].to(ctx.device))

    opt = sgd(model, p.lr, p.momentum, p.weight_decay)
    mask = build_mask(ctx, model, opt, p.mask, ratio=p.mask_ratio, delta=p.mask_delta, micro=p.mask_micro)
    yield from optimise(ctx, model, loss_fn, opt, steps_for(len(x), p.batch_size, p.epochs), **mask_hooks(mask))
    return model

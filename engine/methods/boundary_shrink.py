"""Boundary Shrink (Chen et al., CVPR 2023, "Boundary Unlearning"; methods.md A11;
``Unlearn-Saliency/Classification/unlearn/boundary_sh.py`` and the authors' ``boundary_unlearning.py``).

A frozen copy of the original finds each forget image's *nearest wrong class* by FGSM on [0, 1]
pixels: x_adv = clip(x + ε·sign(∇ₓ CE(f_θ0(x), y)), 0, 1) rounded to 1/255 (ε = 0.1), and
y_nbr = argmax f_θ0(x_adv). The model is then trained with CE(f_θ(x), y_nbr) on the *clean*
forget images, which shrinks the forget class's decision region into its neighbours.
Defaults (authors' code): SGD lr 1e-5, momentum 0.9, 10 epochs, forget set only (SalUn's scripts: 5e-6).

Digits scale (cnn_small; the ``small`` preset): ε = 0.1 moves few 8x8 digits across a boundary, so most keep their own label;
ε = 0.2 (99 % moved), lr 3e-3, batch 32, 10 epochs.

Departures: none in the update. FGSM works on [0, 1] pixels through the dataset's normalisation (the reference
normalises inside the model, the same attack). A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F

from engine._core.events import Event, Log
from engine.methods._common import augment_generator, forget_rows
from engine.methods._loops import optimise
from engine.methods._params import MaskParams, SGDParams, batch_size_field, epochs_field, lr_field
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel, eval_mode
from engine.train.loop import Phase


@dataclass(frozen=True)
class BoundaryShrinkParams(MaskParams, SGDParams):
    epochs: int = epochs_field(10, "Passes over the forget set.", hi=500)
    lr: float = lr_field(1e-5, "SGD learning rate (authors 1e-5, SalUn scripts 5e-6; digits cnn_small: 3e-3).", lo=1e-8)
    batch_size: int = batch_size_field(256, "Forget images per step (digits cnn_small: 32).")
    epsilon: float = param(0.1, "FGSM step (L∞ bound) on [0, 1] pixels for finding the nearest wrong class (digits cnn_small: 0.2).", min=0.0, max=1.0)


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
    y_nbr = nearest_wrong_class(ctx, ctx.original, ctx.x_forget, ctx.y_forget, p.epsilon)  # (N_f,)
    moved = float((y_nbr != torch.as_tensor(ctx.y_forget)).float().mean())
    yield Log(f"Boundary Shrink: FGSM moved {moved:.0%} of the forget images to another class")
    model = ctx.copy_original()
    forget, gen = forget_rows(ctx, y_nbr), augment_generator(ctx)  # clean forget images, neighbour labels
    phase = Phase(lambda idx: forget.cross_entropy(model, idx, gen), forget.batches(p.batch_size, ctx.seed), p.sgd())
    yield from optimise(ctx, model, [phase], mask=p)
    return model

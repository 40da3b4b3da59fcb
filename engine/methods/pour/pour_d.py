"""POUR-D: projection-guided distillation of the encoder (Le et al., CVPR 2026, arXiv 2511.19339;
pour.md "POUR-D").

The student (a copy of the original, head frozen, BatchNorm statistics frozen) is trained on the
forget set only so that θ_s(x) ≈ P θ_o(x): loss = mean ‖θ_s(x) − P θ_o(x)‖² over elements. SGD with
Nesterov momentum and cosine annealing, as in the authors' port.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import torch
import torch.nn.functional as F

from engine._core.events import Event, Log
from engine.train.features import extract
from engine.methods._loops import cycle_batches, forget_accuracy, optimise, sgd, steps_for
from engine.methods.base import MethodContext, param
from engine.methods.pour.common import DIRECTIONS, projector, require_class_forgetting
from engine.methods.registry import register
from engine.models.base import LetheModel, freeze_batchnorm


@dataclass(frozen=True)
class PourDParams:
    epochs: int = param(10, "Passes over the forget set (but see min_steps).", min=1, max=500)
    min_steps: int = param(
        200, "At least this many optimiser steps: a small forget set is one step per epoch.", min=1, max=100000
    )
    lr: float = param(0.01, "SGD learning rate (Nesterov momentum 0.9, cosine annealing).", min=1e-6, max=1.0)
    momentum: float = param(0.9, "SGD momentum (Nesterov).", min=0.0, max=0.999)
    weight_decay: float = param(5e-4, "L2 weight decay.", min=0.0, max=0.1)
    batch_size: int = param(128, "Forget images per step.", min=2, max=4096)
    early_stop_acc: float = param(
        0.01, "Stop once forget-set training accuracy is at or below this (negative: never).", min=-1.0, max=1.0
    )
    direction: str = param("head", "Forget direction: the classifier row (paper) or the class mean feature.", choices=DIRECTIONS)
    retain_weight: float = param(
        0.0, "Lethe extension (off in the paper): weight of ‖θ_s(x_r) − θ_o(x_r)‖² on retain images.", min=0.0, max=100.0
    )
    project_head: bool = param(False, "Also fold P into the head after distillation (W ← W P).")


@register(
    "pour_d",
    PourDParams,
    description="POUR-D: distil the encoder so its features match the projected original (forget set only).",
    kinds=("class",),
    needs=("forget",),
    label="POUR-D",
)
def unlearn(ctx: MethodContext, p: PourDParams) -> Generator[Event, None, LetheModel]:
    classes = require_class_forgetting(ctx, "POUR-D")
    P = projector(ctx, classes, p.direction, False).to(ctx.device, torch.float32)  # (d, d)
    x_f = ctx.x_forget
    z_o = extract(ctx.original, x_f, ctx.bundle.mean, ctx.bundle.std, device=ctx.device, token=ctx.token).features
    targets = torch.as_tensor(z_o, device=ctx.device) @ P  # (N_f, d): teacher P θ_o(x)

    student = ctx.copy_original()
    student.requires_grad_(True)
    student.head.requires_grad_(False)  # head frozen
    student.train()
    freeze_batchnorm(student)  # BatchNorm statistics frozen

    forget_batches = cycle_batches(len(x_f), p.batch_size, ctx.seed)
    retain_batches = cycle_batches(len(ctx.split.retain_idx), p.batch_size, ctx.seed + 1) if p.retain_weight > 0 else None
    x_r = ctx.x_retain if retain_batches is not None else None

    def loss_fn(step: int) -> torch.Tensor:
        idx = next(forget_batches)
        loss = F.mse_loss(student.features(ctx.normalise(x_f[idx])), targets[idx])
        if retain_batches is not None and x_r is not None:
            ridx = next(retain_batches)
            xr = ctx.normalise(x_r[ridx])
            with torch.no_grad():
                zr_o = ctx.original.features(xr)
            loss = loss + p.retain_weight * F.mse_loss(student.features(xr), zr_o)
        return loss

    def early_stop(model: LetheModel) -> bool:
        return p.early_stop_acc >= 0 and forget_accuracy(ctx, model) <= p.early_stop_acc

    opt = sgd(student, p.lr, p.momentum, p.weight_decay, nesterov=True)
    steps = steps_for(len(x_f), p.batch_size, p.epochs, p.min_steps)
    ran = yield from optimise(ctx, student, loss_fn, opt, steps, schedule="cosine", early_stop=early_stop)
    if ran < steps:
        yield Log(f"POUR-D: early stop after {ran} of {steps} steps (forget accuracy <= {p.early_stop_acc:.0%})")
    if p.project_head:
        with torch.no_grad():
            student.head.weight.copy_(student.head.weight @ P)
    student.requires_grad_(True)
    return student.eval()

"""POUR-D: projection-guided distillation of the encoder (Le et al., CVPR 2026, arXiv 2511.19339;
pour.md "POUR-D").

The student (a copy of the original, head frozen, BatchNorm statistics frozen) is trained on the
forget set only so that θ_s(x) ≈ P θ_o(x): loss = mean ‖θ_s(x) − P θ_o(x)‖² over elements. SGD with
Nesterov momentum and cosine annealing, as in the authors' port.

Departures: with ``direction = class_mean`` the direction is centred by the global mean, as POUR-P's default.
Epochs, learning rate, the step floor and the early stop are Lethe's choices (the paper does not give them;
see pour.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F

from engine._core.events import Event
from engine.train.features import extract
from engine.methods._common import stop_at_forget_accuracy
from engine.methods._loops import optimise
from engine.methods._params import SGDParams, batch_size_field, early_stop_acc_field, epochs_field, lr_field, min_steps_field, momentum_field
from engine.methods.base import MethodContext, param
from engine.methods.pour.common import DIRECTIONS, projector, require_class_forgetting
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import IndexBatches, Phase, Zipped


@dataclass(frozen=True)
class PourDParams(SGDParams):
    epochs: int = epochs_field(10, "Passes over the forget set (but see min_steps).", hi=500)
    lr: float = lr_field(0.01, "SGD learning rate (Nesterov momentum 0.9, cosine annealing).", lo=1e-6)
    momentum: float = momentum_field(0.9, "SGD momentum (Nesterov).")
    batch_size: int = batch_size_field(128, "Forget images per step.")
    min_steps: int = min_steps_field(200, "At least this many optimiser steps: a small forget set is one step per epoch.", lo=1)
    early_stop_acc: float = early_stop_acc_field(0.01, "Stop once forget-set training accuracy is at or below this (negative: never).")
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
    P = projector(ctx, classes, p.direction, True).to(ctx.device, torch.float32)  # (d, d); class_mean centred, as POUR-P
    x_f = ctx.x_forget
    z_o = extract(ctx.original, x_f, ctx.bundle.mean, ctx.bundle.std, device=ctx.device, token=ctx.token).features
    targets = torch.as_tensor(z_o, device=ctx.device) @ P  # (N_f, d): teacher P θ_o(x)

    student = ctx.copy_original()
    student.head.requires_grad_(False)  # head frozen; BatchNorm statistics frozen (mode below)
    x_r = ctx.x_retain

    def loss(batch: tuple[np.ndarray, np.ndarray | None]) -> torch.Tensor:
        idx, ridx = batch
        out = F.mse_loss(student.features(ctx.normalise(x_f[idx])), targets[idx])
        if ridx is not None:
            xr = ctx.normalise(x_r[ridx])
            with torch.no_grad():
                zr_o = ctx.original.features(xr)
            out = out + p.retain_weight * F.mse_loss(student.features(xr), zr_o)
        return out

    forget_batches = IndexBatches(len(x_f), p.batch_size, ctx.seed)
    retain_batches = IndexBatches(len(x_r), p.batch_size, ctx.seed + 1) if p.retain_weight > 0 else [None]
    phase = Phase(loss, Zipped(forget_batches, retain_batches), p.sgd(schedule="cosine", nesterov=True, min_steps=p.min_steps))
    stop = stop_at_forget_accuracy(ctx, p.early_stop_acc, 10, "POUR-D")
    yield from optimise(ctx, student, [phase], mode="frozen_bn", early_stop=stop)
    if p.project_head:
        with torch.no_grad():
            student.head.weight.copy_(student.head.weight @ P)
    student.requires_grad_(True)
    return student

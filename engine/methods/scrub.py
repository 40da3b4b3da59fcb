"""SCRUB (Kurmanji et al., NeurIPS 2023, "Towards Unbounded Machine Unlearning"; methods.md A7;
``SCRUB/thirdparty/repdistiller/helper/loops.py:train_distill``, ``distiller_zoo/KD.py``).

Teacher = the frozen original, student = a copy. For epoch e = 1..E: while e ≤ msteps, a **max-step**
pass over D_f with loss −KL_T(teacher ‖ student); then a **min-step** pass over D_r with
loss γ·CE(student, y) + α·KL_T(teacher ‖ student). KL_T is Hinton's KD:
``kl_div(log_softmax(s/T), softmax(t/T), reduction="sum")·T²/B`` (the ×T² scale that α = 0.001
assumes; pitfall D5). Defaults (``large_scale_unlearning.ipynb``): T = 4, γ = 0.99, α = 0.001,
msteps = 2, E = 3, SGD lr 5e-4 (mom 0.9, wd 5e-4), lr ×0.1 after epochs 3, 5, 9, forget batch 512,
retain batch 256.

Digits scale (cnn_small; the ``small`` preset): lr 0.01, 5 epochs, msteps 3, retain batch 32 (many min-steps per max-step, as on
CIFAR; forget batch 32 or lr 0.05 lets the unbounded max-step collapse the model).
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

LR_DECAY_EPOCHS = (3, 5, 9)  # lr x0.1 after these epochs (SCRUB's sgda_lr_decay_epochs)


@dataclass(frozen=True)
class ScrubParams:
    epochs: int = param(3, "Epochs E (each: a max-step pass over D_f while e ≤ msteps, then a min-step pass over D_r).", min=1, max=200)
    msteps: int = param(2, "Epochs that include the max-step over the forget set.", min=0, max=200)
    temperature: float = param(4.0, "Distillation temperature T.", min=0.1, max=100.0)
    gamma: float = param(0.99, "γ: weight of the retain cross-entropy in the min-step.", min=0.0, max=100.0)
    alpha: float = param(0.001, "α: weight of the retain KL to the teacher in the min-step.", min=0.0, max=100.0)
    lr: float = param(5e-4, "SGD learning rate (×0.1 after epochs 3, 5, 9; digits cnn_small: 0.01).", min=1e-7, max=1.0)
    momentum: float = param(0.9, "SGD momentum.", min=0.0, max=0.999)
    weight_decay: float = param(5e-4, "L2 weight decay.", min=0.0, max=0.1)
    forget_batch_size: int = param(512, "Forget images per max-step.", min=2, max=4096)
    retain_batch_size: int = param(256, "Retain images per min-step.", min=2, max=4096)
    mask: str = mask_field()
    mask_ratio: float = mask_ratio_field()
    mask_delta: float = mask_delta_field()
    mask_micro: int = mask_micro_field()


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float) -> torch.Tensor:
    """Hinton KD, KL(teacher ‖ student) at temperature T: sum-reduced, ×T², divided by the batch size."""
    log_s = F.log_softmax(student_logits / T, dim=1)  # (B, C)
    p_t = F.softmax(teacher_logits / T, dim=1)  # (B, C)
    return F.kl_div(log_s, p_t, reduction="sum") * T**2 / student_logits.shape[0]


@register(
    "scrub",
    ScrubParams,
    description="SCRUB: the student moves away from the original teacher on the forget set and stays close on the retain set.",
    needs=("forget", "retain"),
    label="SCRUB",
    presets={"small": {"lr": 0.01, "epochs": 5, "msteps": 3, "retain_batch_size": 32}},
)
def unlearn(ctx: MethodContext, p: ScrubParams) -> Generator[Event, None, LetheModel]:
    teacher = ctx.original
    student = ctx.copy_original().train()
    x_f, x_r = ctx.x_forget, ctx.x_retain
    y_r = torch.as_tensor(ctx.y_retain, dtype=torch.long)
    gen = torch.Generator().manual_seed(ctx.seed)
    plan: list[tuple[str, int, np.ndarray]] = []  # (part, epoch, rows)
    for e in range(p.epochs):
        if e < p.msteps:
            plan += [("max", e, idx) for idx in epoch_batches(len(x_f), min(p.forget_batch_size, len(x_f)), gen)]
        plan += [("min", e, idx) for idx in epoch_batches(len(x_r), min(p.retain_batch_size, len(x_r)), gen)]

    def loss_fn(step: int) -> torch.Tensor:
        part, epoch, idx = plan[step - 1]
        decay = 0.1 ** sum(epoch >= d for d in LR_DECAY_EPOCHS)
        for g in opt.param_groups:
            g["lr"] = p.lr * decay
        xb = augment_batch(ctx.normalise((x_f if part == "max" else x_r)[idx]), ctx.recipe.augment, gen)
        s = student(xb)  # (B, C)
        with torch.no_grad():
            t = teacher(xb)  # (B, C)
        if part == "max":
            return -kd_loss(s, t, p.temperature)
        return p.gamma * F.cross_entropy(s, y_r[idx].to(ctx.device)) + p.alpha * kd_loss(s, t, p.temperature)

    opt = sgd(student, p.lr, p.momentum, p.weight_decay)
    mask = build_mask(ctx, student, opt, p.mask, ratio=p.mask_ratio, delta=p.mask_delta, micro=p.mask_micro)
    yield from optimise(ctx, student, loss_fn, opt, len(plan), **mask_hooks(mask))
    return student

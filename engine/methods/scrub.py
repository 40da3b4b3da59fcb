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

Departures: none by default. Selectable: ``augment`` (default False, as the reference's
``train_distill`` loaders, which use the un-augmented unlearning sets) applies the original's
training augmentation to every batch; earlier Lethe versions always augmented. A batch of a single image passes BatchNorm with the layer's running statistics
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
from engine.methods._params import MaskParams, batch_size_field, epochs_field, lr_field, momentum_field, weight_decay_field
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import OptimSpec, Phase, epoch_batches

LR_DECAY_EPOCHS = (3, 5, 9)  # lr x0.1 after these epochs (SCRUB's sgda_lr_decay_epochs)


@dataclass(frozen=True)
class ScrubParams(MaskParams):
    epochs: int = epochs_field(3, "Epochs E (each: a max-step pass over D_f while e ≤ msteps, then a min-step pass over D_r).")
    msteps: int = param(2, "Epochs that include the max-step over the forget set.", min=0, max=200)
    temperature: float = param(4.0, "Distillation temperature T.", min=0.1, max=100.0)
    gamma: float = param(0.99, "γ: weight of the retain cross-entropy in the min-step.", min=0.0, max=100.0)
    alpha: float = param(0.001, "α: weight of the retain KL to the teacher in the min-step.", min=0.0, max=100.0)
    lr: float = lr_field(5e-4, "SGD learning rate (×0.1 after epochs 3, 5, 9; digits cnn_small: 0.01).")
    momentum: float = momentum_field()
    weight_decay: float = weight_decay_field()
    forget_batch_size: int = batch_size_field(512, "Forget images per max-step.")
    retain_batch_size: int = batch_size_field(256, "Retain images per min-step.")
    augment: bool = param(False, "Augment the batches with the original's training recipe (the reference code does not).")


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
    teacher, student = ctx.original, ctx.copy_original()
    forget, retain, gen = forget_rows(ctx), retain_rows(ctx), augment_generator(ctx)

    def student_teacher(rows: np.ndarray, part: str) -> tuple[torch.Tensor, torch.Tensor]:
        xb = (forget if part == "max" else retain).images(rows, gen if p.augment else None)
        with torch.no_grad():
            t = teacher(xb)  # (B, C)
        return student(xb), t  # (B, C) each

    def max_step(idx: np.ndarray) -> torch.Tensor:
        s, t = student_teacher(idx, "max")
        return -kd_loss(s, t, p.temperature)

    def min_step(idx: np.ndarray) -> torch.Tensor:
        s, t = student_teacher(idx, "min")
        return p.gamma * F.cross_entropy(s, retain.labels(idx)) + p.alpha * kd_loss(s, t, p.temperature)

    # Every epoch: a max pass over D_f (while e < msteps), then a min pass over D_r, on one SGD
    # optimiser (its momentum carries across passes) whose lr decays ×0.1 after LR_DECAY_EPOCHS.
    # The whole batch plan is drawn first (as the reference code's loaders), then the augmentation.
    phases: list[Phase[np.ndarray]] = []
    for e in range(p.epochs):
        sgd = OptimSpec("sgd", lr=p.lr * 0.1 ** sum(e >= d for d in LR_DECAY_EPOCHS), momentum=p.momentum, weight_decay=p.weight_decay)
        if e < p.msteps:
            phases.append(Phase(max_step, epoch_batches(len(forget), min(p.forget_batch_size, len(forget)), gen), sgd))
        phases.append(Phase(min_step, epoch_batches(len(retain), min(p.retain_batch_size, len(retain)), gen), sgd))
    yield from optimise(ctx, student, phases, mask=p)
    return student

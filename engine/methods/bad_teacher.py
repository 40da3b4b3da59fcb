"""Bad Teacher (Chundawat et al., AAAI 2023, "Can Bad Teaching Induce Forgetting?"; methods.md A9;
``selective-synaptic-dampening/src/unlearn.py:UnlearnerLoss, blindspot_unlearner``).

Student = a copy of the original; competent teacher = the frozen original; incompetent teacher = a
randomly initialised model of the same architecture. Every sample carries a flag u (1 = forget,
0 = retain); the target is t = u·softmax(f_inc/T) + (1 − u)·softmax(f_comp/T) and the loss is
KL(t ‖ softmax(f_student/T)) with ``F.kl_div``'s default 'mean' reduction (divided by B·C, as the
reference code does; pitfall D5). Data: all of D_f mixed with a random 30 % of D_r.
Defaults: T = 1, Adam lr 1e-4, 1 epoch, batch 256.

Digits scale (cnn_small; the ``small`` preset, ~530 images = 3 steps an epoch): Adam lr 1e-3, 10 epochs, batch 64.

Departures: none in the loss (``F.kl_div`` 'mean' as the reference, pitfall D5). The 30 % retain subset is a
seeded draw; the incompetent teacher a seeded fresh model of the same architecture. Batches are augmented with
the original's recipe (the SSD repo's unlearning loaders do not augment). A batch of a single image passes BatchNorm with the layer's running statistics
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
from engine.methods._common import augment_generator
from engine.methods._loops import optimise
from engine.methods._params import MaskParams, batch_size_field, epochs_field, lr_field
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.models.registry import model_from_config
from engine.train.loop import IndexBatches, OptimSpec, Phase, augment_batch


@dataclass(frozen=True)
class BadTeacherParams(MaskParams):
    retain_fraction: float = param(0.3, "Fraction of the retain set mixed with the forget set.", min=0.0, max=1.0)
    temperature: float = param(1.0, "Temperature T of the teachers' and the student's softmax.", min=0.1, max=100.0)
    epochs: int = epochs_field(1, "Passes over the mixed set (digits cnn_small: 10).")
    lr: float = lr_field(1e-4, "Adam learning rate (digits cnn_small: 1e-3).")
    batch_size: int = batch_size_field(256, "Images per step (digits cnn_small: 64).")


def incompetent_teacher(ctx: MethodContext) -> LetheModel:
    """A randomly initialised model of the original's architecture (seeded, global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.seed + 104729)
        model = model_from_config(ctx.original.config)
    return model.to(ctx.device).eval().requires_grad_(False)


def bad_teacher_loss(
    student: torch.Tensor, competent: torch.Tensor, incompetent: torch.Tensor, u: torch.Tensor, T: float
) -> torch.Tensor:
    """KL(t ‖ softmax(student/T)), t = u·softmax(inc/T) + (1−u)·softmax(comp/T); 'mean' over B·C."""
    u = u.float().unsqueeze(1)  # (B, 1)
    target = u * F.softmax(incompetent / T, dim=1) + (1 - u) * F.softmax(competent / T, dim=1)  # (B, C)
    log_s = F.log_softmax(student / T, dim=1)  # (B, C)
    # F.kl_div(log_s, target, reduction="mean") written out (that reduction warns it will change).
    return (torch.xlogy(target, target) - target * log_s).mean()


@register(
    "bad_teacher",
    BadTeacherParams,
    description="Bad Teacher: distil from the original on retain data and from a random network on the forget set.",
    needs=("forget", "retain"),
    label="Bad Teacher",
    presets={"small": {"lr": 1e-3, "epochs": 10, "batch_size": 64}},
)
def unlearn(ctx: MethodContext, p: BadTeacherParams) -> Generator[Event, None, LetheModel]:
    student = ctx.copy_original()
    bad = incompetent_teacher(ctx)
    rng = np.random.default_rng(ctx.seed)
    n_r = round(p.retain_fraction * len(ctx.split.retain_idx))
    rows = np.concatenate([ctx.split.forget_idx, rng.choice(ctx.split.retain_idx, size=n_r, replace=False)])
    flags = torch.cat([torch.ones(len(ctx.split.forget_idx)), torch.zeros(n_r)])  # (N,) u: 1 = forget
    x = ctx.bundle.x_train[rows]
    gen = augment_generator(ctx)

    def loss(idx: np.ndarray) -> torch.Tensor:
        xb = augment_batch(ctx.normalise(x[idx]), ctx.recipe.augment, gen)
        with torch.no_grad():
            comp, inc = ctx.original(xb), bad(xb)  # (B, C) each
        return bad_teacher_loss(student(xb), comp, inc, flags[idx].to(ctx.device), p.temperature)

    adam = OptimSpec("adam", lr=p.lr, epochs=p.epochs)
    yield from optimise(ctx, student, [Phase(loss, IndexBatches(len(rows), p.batch_size, ctx.seed), adam)], mask=p)
    return student

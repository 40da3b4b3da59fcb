"""Gradient Ascent (methods.md A2; Unlearn-Sparse / SalUn ``unlearn/GA.py``).

Maximise the cross-entropy on the forget set: loss = −CE(f_θ(x), y), (x, y) ∈ D_f, with SGD
(momentum 0.9, weight decay 5e-4). Paper defaults (CIFAR-10 / ResNet-18): lr 1e-4, 5 epochs.
GA diverges easily, so it stops early once forget-set accuracy is at or below ``early_stop_acc``.

Digits scale (cnn_small; the ``small`` preset, ~145 forget images = one batch per epoch): lr 1e-3 with min_steps 100
stops early at forget accuracy 0 (retained-class test accuracy 0.84; 0.975 with ``mask = feasible``).

Departures: the early stop on forget-set accuracy (``early_stop_acc`` 0.01, checked every step) and
``min_steps`` are Lethe's (methods.md A2 asks for them: GA diverges); the reference runs its 5 epochs. The
forget batches are augmented with the original's recipe, as SalUn's forget loader. A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

from engine._core.events import Event
from engine.methods._common import augment_generator, forget_rows, stop_at_forget_accuracy
from engine.methods._loops import optimise
from engine.methods._params import MaskParams, SGDParams, batch_size_field, early_stop_acc_field, epochs_field, lr_field, min_steps_field
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import Phase


@dataclass(frozen=True)
class GradAscentParams(MaskParams, SGDParams):
    epochs: int = epochs_field(5, "Passes over the forget set (paper 5).", hi=500)
    lr: float = lr_field(1e-4, "SGD learning rate (paper 1e-4 for CIFAR-10/ResNet-18; digits cnn_small: 1e-3).")
    batch_size: int = batch_size_field(256, "Forget images per step.")
    min_steps: int = min_steps_field(0, "At least this many steps (a small forget set is one step per epoch; digits: 100).")
    early_stop_acc: float = early_stop_acc_field(0.01, "Stop once forget-set accuracy is at or below this (negative: never). GA diverges without it.")
    early_stop_every: int = param(1, "Check the early-stop criterion every this many steps.", min=1, max=1000)


@register(
    "grad_ascent",
    GradAscentParams,
    description="Gradient ascent on the forget set (maximise its cross-entropy), with early stopping.",
    needs=("forget",),
    label="Gradient Ascent",
    presets={"small": {"lr": 1e-3, "min_steps": 100}},
)
def unlearn(ctx: MethodContext, p: GradAscentParams) -> Generator[Event, None, LetheModel]:
    model = ctx.copy_original()
    forget, gen = forget_rows(ctx), augment_generator(ctx)
    phase = Phase(lambda idx: -forget.cross_entropy(model, idx, gen), forget.batches(p.batch_size, ctx.seed), p.sgd(min_steps=p.min_steps))
    stop = stop_at_forget_accuracy(ctx, p.early_stop_acc, p.early_stop_every, "Gradient Ascent")
    yield from optimise(ctx, model, [phase], mask=p, early_stop=stop)
    return model

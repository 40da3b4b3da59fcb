"""NegGrad+ (Kurmanji et al. 2023; methods.md A4; SCRUB ``helper/loops.py:train_negrad``).

Joint descent on the retain set and ascent on the forget set in every step:
L = α·CE(B_r) − (1 − α)·CE(B_f), iterating over retain batches while cycling the forget batches.
Defaults (``small_scale_unlearning.ipynb``): α = 0.95, 10 epochs, SGD lr 0.01, weight decay 0.

Digits scale (cnn_small): the paper defaults forget class 3 (forget acc ~0) with retain acc intact.

Departures: the batches are augmented with the original's training recipe (the SCRUB repository's
``train_negrad`` loaders do not augment; not yet selectable). A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

import numpy as np
import torch

from engine._core.events import Event
from engine.methods._common import augment_generator, forget_rows, retain_rows
from engine.methods._loops import optimise
from engine.methods._params import MaskParams, SGDParams, batch_size_field, epochs_field, weight_decay_field
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import Phase, Zipped


@dataclass(frozen=True)
class NegGradPlusParams(MaskParams, SGDParams):
    epochs: int = epochs_field(10, "Passes over the retain set.")
    weight_decay: float = weight_decay_field(0.0, "L2 weight decay (SCRUB notebook: 0).")
    batch_size: int = batch_size_field(128, "Retain (and forget) images per step.")
    alpha: float = param(0.95, "α: weight of the retain CE; the forget CE is ascended with weight 1 − α.", min=0.0, max=1.0)


@register(
    "neggrad_plus",
    NegGradPlusParams,
    description="NegGrad+: descend the retain loss and ascend the forget loss in the same step.",
    needs=("forget", "retain"),
    label="NegGrad+",
)
def unlearn(ctx: MethodContext, p: NegGradPlusParams) -> Generator[Event, None, LetheModel]:
    model = ctx.copy_original()
    forget, retain, gen = forget_rows(ctx), retain_rows(ctx), augment_generator(ctx)

    def loss(batch: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:
        ir, jf = batch
        lr_ = retain.cross_entropy(model, ir, gen)
        lf_ = forget.cross_entropy(model, jf, gen)
        return p.alpha * lr_ - (1.0 - p.alpha) * lf_

    batches = Zipped(retain.batches(p.batch_size, ctx.seed), forget.batches(p.batch_size, ctx.seed + 1))
    yield from optimise(ctx, model, [Phase(loss, batches, p.sgd())], mask=p)
    return model

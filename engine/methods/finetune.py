"""Fine-tune (methods.md A1): keep training on the retain set so catastrophic forgetting erases D_f.

Defaults from SalUn / Unlearn-Sparse (``unlearn/FT.py``): 10 epochs, SGD lr 0.01, momentum 0.9,
weight decay 5e-4, batch 256, constant learning rate.

Departures: none in the update. Batches are augmented with the original's training recipe (SalUn / Unlearn-
Sparse train transform); ``schedule = cosine`` is Lethe's option (off). A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

from engine._core.events import Event
from engine.methods._common import augment_generator, retain_rows
from engine.methods._loops import optimise
from engine.methods._params import SGDParams, batch_size_field, epochs_field, lr_field
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import Phase


@dataclass(frozen=True)
class FinetuneParams(SGDParams):
    epochs: int = epochs_field(10, "Passes over the retain set.")
    lr: float = lr_field(0.01, lo=1e-6)
    batch_size: int = batch_size_field(256, "Retain images per step.")
    schedule: str = param("none", "Learning-rate schedule over the run.", choices=("none", "cosine"))


@register(
    "finetune",
    FinetuneParams,
    description="Fine-tune on the retain set only; the forget set fades by catastrophic forgetting.",
    needs=("retain",),
    label="Fine-tune",
)
def unlearn(ctx: MethodContext, p: FinetuneParams) -> Generator[Event, None, LetheModel]:
    model = ctx.copy_original()
    retain, gen = retain_rows(ctx), augment_generator(ctx)
    phase = Phase(lambda idx: retain.cross_entropy(model, idx, gen), retain.batches(p.batch_size, ctx.seed), p.sgd(schedule=p.schedule))
    yield from optimise(ctx, model, [phase])
    return model

"""Fine-tune (methods.md A1): keep training on the retain set so catastrophic forgetting erases D_f.

Defaults from SalUn / Unlearn-Sparse (``unlearn/FT.py``): 10 epochs, SGD lr 0.01, momentum 0.9,
weight decay 5e-4, batch 256, constant learning rate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import torch
import torch.nn.functional as F

from engine._core.events import Event
from engine.methods._loops import cycle_batches, optimise, sgd, steps_for
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import augment_batch


@dataclass(frozen=True)
class FinetuneParams:
    epochs: int = param(10, "Passes over the retain set.", min=1, max=200)
    lr: float = param(0.01, "SGD learning rate.", min=1e-6, max=1.0)
    momentum: float = param(0.9, "SGD momentum.", min=0.0, max=0.999)
    weight_decay: float = param(5e-4, "L2 weight decay.", min=0.0, max=0.1)
    batch_size: int = param(256, "Retain images per step.", min=2, max=4096)
    schedule: str = param("none", "Learning-rate schedule over the run.", choices=("none", "cosine"))


@register(
    "finetune",
    FinetuneParams,
    description="Fine-tune on the retain set only; the forget set fades by catastrophic forgetting.",
    needs=("retain",),
    label="Fine-tune",
)
def unlearn(ctx: MethodContext, p: FinetuneParams) -> Generator[Event, None, LetheModel]:
    model = ctx.copy_original().train()
    x, y = ctx.x_retain, torch.as_tensor(ctx.y_retain, dtype=torch.long)
    batches = cycle_batches(len(x), p.batch_size, ctx.seed)
    gen = torch.Generator().manual_seed(ctx.seed)

    def loss_fn(step: int) -> torch.Tensor:
        idx = next(batches)
        xb = augment_batch(ctx.normalise(x[idx]), ctx.recipe.augment, gen)
        return F.cross_entropy(model(xb), y[idx].to(ctx.device))

    opt = sgd(model, p.lr, p.momentum, p.weight_decay)
    yield from optimise(ctx, model, loss_fn, opt, steps_for(len(x), p.batch_size, p.epochs), schedule=p.schedule)
    return model

"""Boundary Expand (Chen et al., CVPR 2023, "Boundary Unlearning"; methods.md A11;
``Unlearn-Saliency/Classification/unlearn/boundary_ex.py``).

Widen the final Linear layer by one "shadow" output (the old rows copied, the new row default-
initialised), train CE(f_θ(x), C) — every forget image labelled as the shadow class — on D_f, then
**delete the shadow row**, so the forget images fall to whichever real class is next. The returned
model has the original C outputs (SalUn's version never prunes; pitfall D3).
Defaults: SGD lr 1e-5 (authors) or 5e-6 (scripts), momentum 0.9, 10 epochs, forget set only.

Digits scale (cnn_small; the ``small`` preset): lr 1e-3, batch 32, 10 epochs (lr 1e-2 collapses the BatchNorm statistics).

Departures: the shadow row is pruned as in the authors' code (SalUn's copy keeps C + 1 outputs, pitfall D3).
The forget batches are augmented with the original's recipe. A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

import torch
from torch import nn

from engine._core.events import Event
from engine.methods._common import augment_generator, forget_rows
from engine.methods._loops import optimise
from engine.methods._params import MaskParams, SGDParams, batch_size_field, epochs_field, lr_field
from engine.methods.base import MethodContext
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import Phase


@dataclass(frozen=True)
class BoundaryExpandParams(MaskParams, SGDParams):
    epochs: int = epochs_field(10, "Passes over the forget set.", hi=500)
    lr: float = lr_field(1e-5, "SGD learning rate (authors 1e-5, SalUn scripts 5e-6; digits cnn_small: 1e-3).", lo=1e-8)
    batch_size: int = batch_size_field(256, "Forget images per step (digits cnn_small: 32).")


def widen_head(head: nn.Linear, extra: int, seed: int) -> nn.Linear:
    """A Linear with ``extra`` more outputs: old rows copied, new rows default-initialised (seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        wide = nn.Linear(head.in_features, head.out_features + extra, bias=head.bias is not None)
    wide = wide.to(head.weight.device, head.weight.dtype)
    with torch.no_grad():
        wide.weight[: head.out_features] = head.weight
        if head.bias is not None:
            wide.bias[: head.out_features] = head.bias
    return wide


def prune_head(wide: nn.Linear, keep: int) -> nn.Linear:
    """The first ``keep`` outputs of ``wide`` as a new Linear (the shadow rows deleted)."""
    head = nn.Linear(wide.in_features, keep, bias=wide.bias is not None).to(wide.weight.device, wide.weight.dtype)
    with torch.no_grad():
        head.weight.copy_(wide.weight[:keep])
        if wide.bias is not None:
            head.bias.copy_(wide.bias[:keep])
    return head


@register(
    "boundary_expand",
    BoundaryExpandParams,
    description="Boundary Expand: push the forget set into an extra shadow class, then delete that class.",
    needs=("forget",),
    label="Boundary Expand",
    presets={"small": {"lr": 1e-3, "batch_size": 32}},
)
def unlearn(ctx: MethodContext, p: BoundaryExpandParams) -> Generator[Event, None, LetheModel]:
    model = ctx.copy_original()
    C = model.num_classes
    model.head = widen_head(model.head, 1, ctx.seed)  # (C+1, d)
    forget = forget_rows(ctx, torch.full((len(ctx.x_forget),), C))  # every forget image -> the shadow class C
    gen = augment_generator(ctx)
    phase = Phase(lambda idx: forget.cross_entropy(model, idx, gen), forget.batches(p.batch_size, ctx.seed), p.sgd())
    yield from optimise(ctx, model, [phase], mask=p)
    model.head = prune_head(model.head, C)  # back to C outputs
    return model.eval()

"""UNSC — Unlearning via Null Space Calibration (Chen et al., IJCAI 2024; methods.md A18;
``HQC-ML/Machine-Unlearning-via-Null-Space-Calibration`` notebook, cells 7 and 10). Class forgetting.

1. From one batch of retain activations, build per layer a GPM basis U_l of the retain input space
   (SVD, smallest rank keeping 99 % of the energy) and the projector P_l = U_l U_lᵀ.
2. Pseudo-label every forget image with the original's best *non-forget* class (forget logits −∞).
3. Fine-tune on D_f with CE to the pseudo-labels; every weight gradient is projected onto the retain
   null space, g ← g − g·P_l (conv weights flattened to (out, C_in·k·k)); 1-D parameters (biases,
   BatchNorm) get zero gradients and BatchNorm stays in eval mode.
Defaults (CIFAR-100 / ResNet-18): SGD lr 0.04, 20 epochs; momentum 0.9, no weight decay (a decay
term would leave the null space) and batch 64 are Lethe's choices (not stated in the spec).

Digits scale (cnn_small): the defaults work as they are.

Departures: momentum 0.9, no weight decay and batch 64 are Lethe's (the notebook's values are not stated); the
retain basis comes from one seeded retain batch of ``retain_batch`` images.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

import numpy as np
import torch

from engine._core.events import Event
from engine.methods._common import forget_rows, require_classes
from engine.methods._loops import optimise
from engine.methods._params import batch_size_field, epochs_field, lr_field, momentum_field
from engine.methods.base import MethodContext, param
from engine.methods.kodge_projection import layer_inputs, projectable_layers
from engine.methods.registry import register
from engine.models.base import MASKED_LOGIT, LetheModel
from engine.train.loop import OptimSpec, Phase, StepHook


@dataclass(frozen=True)
class UnscParams:
    energy: float = param(0.99, "Energy threshold of the retain basis per layer (GPM).", min=0.5, max=1.0)
    retain_batch: int = param(256, "Retain images in the one batch the null space is built from.", min=2, max=100000)
    max_rows: int = param(10000, "At most this many activation rows per layer (conv patches are sampled).", min=100, max=1000000)
    epochs: int = epochs_field(20, "Passes over the forget set.", hi=500)
    lr: float = lr_field(0.04)
    momentum: float = momentum_field()
    batch_size: int = batch_size_field(64, "Forget images per step.")


def gpm_projector(r: torch.Tensor, energy: float) -> torch.Tensor:
    """P = U_k U_kᵀ (d_in, d_in) for the smallest k whose singular values keep ``energy`` of Σσ²."""
    evals, evecs = torch.linalg.eigh(r.T @ r)  # ascending σ²
    evals, evecs = evals.flip(0).clamp(min=0), evecs.flip(1)
    cum = torch.cumsum(evals, 0) / evals.sum().clamp(min=1e-300)
    k = int(torch.searchsorted(cum, torch.tensor([energy], dtype=cum.dtype)).item()) + 1
    u = evecs[:, : min(k, evecs.shape[1])]  # (d_in, k)
    return u @ u.T


@torch.no_grad()
def pseudo_labels(ctx: MethodContext) -> torch.Tensor:
    """(N_f,) the original's best class among the retained ones, for every forget image."""
    out = []
    classes = list(ctx.split.forget_classes)
    for s in range(0, len(ctx.x_forget), 512):
        ctx.token.check()
        logits = ctx.original(ctx.normalise(ctx.x_forget[s : s + 512]))  # (B, C)
        logits[:, classes] = MASKED_LOGIT
        out.append(logits.argmax(1).cpu())
    return torch.cat(out)


class NullSpaceProjection(StepHook):
    """Before each step: g ← g − g·P_l for every projectable weight (flattened to (out, d_in)); every
    other gradient (biases, BatchNorm) is zeroed, so only the retain null space moves."""

    def __init__(self, params: list[torch.Tensor], projectors: dict[int, torch.Tensor]) -> None:
        self.params, self.projectors = params, projectors

    def before_step(self, optimizer: torch.optim.Optimizer) -> None:
        with torch.no_grad():
            for q in self.params:
                if q.grad is None:
                    continue
                P = self.projectors.get(id(q))
                if P is None:  # biases, BatchNorm, anything not a projectable weight: frozen
                    q.grad.zero_()
                else:
                    g = q.grad.view(q.shape[0], -1)  # (out, d_in)
                    g.sub_(g @ P)


@register(
    "unsc",
    UnscParams,
    description="UNSC: relabel the forget class to its nearest retained class, updating only in the retain null space.",
    kinds=("class",),
    needs=("forget", "retain"),
    label="UNSC",
)
def unlearn(ctx: MethodContext, p: UnscParams) -> Generator[Event, None, LetheModel]:
    require_classes(ctx, "UNSC forgets whole classes (its pseudo-labels are the nearest retained class)")
    model = ctx.copy_original()
    rng = np.random.default_rng(ctx.seed)
    rows = np.sort(rng.permutation(ctx.split.retain_idx)[: p.retain_batch])
    acts = layer_inputs(ctx, model, ctx.bundle.x_train[rows], p.max_rows, ctx.seed)
    layers = projectable_layers(model)
    projectors = {
        id(layer.weight): gpm_projector(acts[n], p.energy).to(ctx.device, layer.weight.dtype) for n, layer in layers.items()
    }
    y_pseudo = pseudo_labels(ctx)
    forget = forget_rows(ctx, y_pseudo)  # no augmentation: the null space was measured on clean images
    phase = Phase(lambda idx: forget.cross_entropy(model, idx, None), forget.batches(p.batch_size, ctx.seed),
                  OptimSpec("sgd", lr=p.lr, momentum=p.momentum, epochs=p.epochs))
    project = NullSpaceProjection(list(model.parameters()), projectors)
    yield from optimise(ctx, model, [phase], mode="frozen_bn", hooks=[project])
    return model

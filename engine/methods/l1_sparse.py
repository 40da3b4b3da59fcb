"""ℓ1-sparse unlearning (Jia et al., NeurIPS 2023, "Model Sparsity Can Simplify Machine Unlearning";
methods.md A5; Unlearn-Sparse ``unlearn/FT.py:FT_l1``).

Fine-tune on D_r with an ℓ1 penalty on all parameters whose coefficient decays linearly to 0:
L = CE + α_t·‖θ‖₁, α_t = α·(1 − t/(E − no_l1_epochs)) at epoch t (0 afterwards).
Defaults: 10 epochs, SGD lr 0.01 (mom 0.9, wd 5e-4), batch 256, α = 5e-4 (AMUN's default; the
Scissorhands scripts use 1e-4; the arg-parser's 0.2 is not a sensible ℓ1 value).

Digits scale (cnn_small; the ``small`` preset): fine-tuning keeps class 3 intact at the paper's α and lr; α = 5e-3 with lr 0.05
removes it (α = 0.05 collapses the model).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import torch
import torch.nn.functional as F

from engine._core.events import Event
from engine.methods._loops import cycle_batches, optimise, sgd, steps_for
from engine.methods.base import MethodContext, param
from engine.methods.masks import build_mask, mask_delta_field, mask_field, mask_hooks, mask_micro_field, mask_ratio_field
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import augment_batch


@dataclass(frozen=True)
class L1SparseParams:
    alpha: float = param(5e-4, "ℓ1 coefficient α at the start (decays linearly to 0; digits cnn_small: 5e-3).", min=0.0, max=1.0)
    no_l1_epochs: int = param(0, "Final epochs without the ℓ1 term.", min=0, max=200)
    epochs: int = param(10, "Passes over the retain set.", min=1, max=200)
    lr: float = param(0.01, "SGD learning rate (digits cnn_small: 0.05).", min=1e-7, max=1.0)
    momentum: float = param(0.9, "SGD momentum.", min=0.0, max=0.999)
    weight_decay: float = param(5e-4, "L2 weight decay.", min=0.0, max=0.1)
    batch_size: int = param(256, "Retain images per step.", min=2, max=4096)
    mask: str = mask_field()
    mask_ratio: float = mask_ratio_field()
    mask_delta: float = mask_delta_field()
    mask_micro: int = mask_micro_field()


def l1_coefficient(alpha: float, epoch: int, epochs: int, no_l1_epochs: int) -> float:
    """α_t = α·(1 − t/(E − no_l1_epochs)) for t < E − no_l1_epochs, else 0 (FT_l1)."""
    active = epochs - no_l1_epochs
    if active <= 0 or epoch >= active:
        return 0.0
    return alpha * (1.0 - epoch / active)


@register(
    "l1_sparse",
    L1SparseParams,
    description="Fine-tune on the retain set with a decaying ℓ1 penalty that sparsifies the weights.",
    needs=("retain",),
    label="ℓ1-sparse",
    presets={"small": {"alpha": 5e-3, "lr": 0.05}},
)
def unlearn(ctx: MethodContext, p: L1SparseParams) -> Generator[Event, None, LetheModel]:
    model = ctx.copy_original().train()
    x, y = ctx.x_retain, torch.as_tensor(ctx.y_retain, dtype=torch.long)
    batches = cycle_batches(len(x), p.batch_size, ctx.seed)
    per_epoch = steps_for(len(x), p.batch_size, 1)
    gen = torch.Generator().manual_seed(ctx.seed)
    params = [q for q in model.parameters() if q.requires_grad]

    def loss_fn(step: int) -> torch.Tensor:
        idx = next(batches)
        ce = F.cross_entropy(model(augment_batch(ctx.normalise(x[idx]), ctx.recipe.augment, gen)), y[idx].to(ctx.device))
        a = l1_coefficient(p.alpha, (step - 1) // per_epoch, p.epochs, p.no_l1_epochs)
        if a == 0.0:
            return ce
        return ce + a * sum(q.abs().sum() for q in params)

    opt = sgd(model, p.lr, p.momentum, p.weight_decay)
    mask = build_mask(ctx, model, opt, p.mask, ratio=p.mask_ratio, delta=p.mask_delta, micro=p.mask_micro)
    yield from optimise(ctx, model, loss_fn, opt, per_epoch * p.epochs, **mask_hooks(mask))
    return model

"""ℓ1-sparse unlearning (Jia et al., NeurIPS 2023, "Model Sparsity Can Simplify Machine Unlearning";
methods.md A5; Unlearn-Sparse ``unlearn/FT.py:FT_l1``).

Fine-tune on D_r with an ℓ1 penalty on all parameters whose coefficient decays linearly to 0:
L = CE + α_t·‖θ‖₁, α_t = α·(1 − t/(E − no_l1_epochs)) at epoch t (0 afterwards).
Defaults: 10 epochs, SGD lr 0.01 (mom 0.9, wd 5e-4), batch 256, α = 5e-4 (AMUN's default; the
Scissorhands scripts use 1e-4; the arg-parser's 0.2 is not a sensible ℓ1 value).

Digits scale (cnn_small; the ``small`` preset): fine-tuning keeps class 3 intact at the paper's α and lr; α = 5e-3 with lr 0.05
removes it (α = 0.05 collapses the model).

Departures: none in the update (``FT_l1``: linear decay per epoch, ℓ1 over every parameter). α defaults to
AMUN's 5e-4, not the arg-parser's 0.2 (not a sensible ℓ1 value). Retain batches are augmented as SalUn's. A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Generator

import numpy as np
import torch

from engine._core.events import Event
from engine.methods._common import augment_generator, retain_rows
from engine.methods._loops import optimise
from engine.methods._params import MaskParams, SGDParams, batch_size_field, epochs_field, lr_field
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import Phase


@dataclass(frozen=True)
class L1SparseParams(MaskParams, SGDParams):
    epochs: int = epochs_field(10, "Passes over the retain set.")
    lr: float = lr_field(0.01, "SGD learning rate (digits cnn_small: 0.05).")
    batch_size: int = batch_size_field(256, "Retain images per step.")
    alpha: float = param(5e-4, "ℓ1 coefficient α at the start (decays linearly to 0; digits cnn_small: 5e-3).", min=0.0, max=1.0)
    no_l1_epochs: int = param(0, "Final epochs without the ℓ1 term.", min=0, max=200)


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
    model = ctx.copy_original()
    retain, gen = retain_rows(ctx), augment_generator(ctx)
    batches = retain.batches(p.batch_size, ctx.seed)
    params = [q for q in model.parameters() if q.requires_grad]

    def loss_at(a: float) -> Callable[[np.ndarray], torch.Tensor]:
        def loss(idx: np.ndarray) -> torch.Tensor:
            ce = retain.cross_entropy(model, idx, gen)
            return ce if a == 0.0 else ce + a * sum(q.abs().sum() for q in params)

        return loss

    # One phase per epoch (its own α), all on one SGD optimiser.
    alphas = [l1_coefficient(p.alpha, e, p.epochs, p.no_l1_epochs) for e in range(p.epochs)]
    yield from optimise(ctx, model, [Phase(loss_at(a), batches, p.sgd(epochs=1)) for a in alphas], mask=p)
    return model

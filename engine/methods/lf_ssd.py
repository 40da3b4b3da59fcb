"""LF-SSD — label-free Selective Synaptic Dampening (Foster et al. 2024, "Loss-Free Machine
Unlearning"; methods.md A8; ``selective-synaptic-dampening`` README).

As SSD (:mod:`engine.methods.ssd`) but with no labels: the importance of θ_j is the mean over
batches of |∂ L_batch / ∂θ_j| with L_batch = mean_x ‖f_θ(x)‖₂² (the squared l2 norm of the logits),
for X = D_f and X = D; then θ_j ← min(λ·I_D[j]/I_f[j], 1)·θ_j wherever I_f[j] > α·I_D[j].
Defaults as SSD: α = 10, λ = 1, batch 64 (class) / 128 (sample).

Digits scale (cnn_small; the ``small`` preset): α = 10 forgets class 3 but keeps only ~0.64 of retained-class accuracy; α = 11
(~0.05 / 0.80) is the best trade-off found; α ≥ 15 dampens too little. LF-SSD is brittle here.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

from engine._core.events import Event
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.methods.ssd import run_ssd
from engine.models.base import LetheModel


@dataclass(frozen=True)
class LFSSDParams:
    alpha: float = param(10.0, "α, selection weighting: dampen θ_j where I_f[j] > α·I_D[j] (digits cnn_small: 11).", min=0.0, max=1e6)
    lam: float = param(1.0, "λ, dampening constant: θ_j ← min(λ·I_D[j]/I_f[j], 1)·θ_j.", min=0.0, max=1e6)
    batch_size: int = param(0, "Batch for the importances (0 = 64 for class, 128 for sample forgetting).", min=0, max=4096)


@register(
    "lf_ssd",
    LFSSDParams,
    description="Label-free SSD: importances from the gradient of the logit norm instead of the loss.",
    needs=("forget", "retain"),
    label="LF-SSD",
    presets={"small": {"alpha": 11.0}},
)
def unlearn(ctx: MethodContext, p: LFSSDParams) -> Generator[Event, None, LetheModel]:
    return (yield from run_ssd(ctx, p.alpha, p.lam, p.batch_size, label_free=True, name="LF-SSD"))

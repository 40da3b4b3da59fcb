"""LF-SSD — label-free Selective Synaptic Dampening (Foster et al. 2024, "Loss-Free Machine
Unlearning"; methods.md A8; ``selective-synaptic-dampening`` README).

As SSD (:mod:`engine.methods.ssd`) but with no labels: the importance of θ_j is the mean over
batches of |∂ L_batch / ∂θ_j| with L_batch = mean_x ‖f_θ(x)‖₂² (the squared l2 norm of the logits),
for X = D_f and X = D; then θ_j ← min(λ·I_D[j]/I_f[j], 1)·θ_j wherever I_f[j] > α·I_D[j].
Defaults as SSD: α = 10, λ = 1, batch 64 (class) / 128 (sample).

The importance batching is SSD's ``importance_batches`` (default ``class_sorted``, the reference
loaders). Digits scale (cnn_small, class 3; parameters dampened / forget-class test / retained-class
test): α = 10 class_sorted 0 (the model unchanged), shuffled 2,917 / 0.00 / 0.82, per_sample 0;
α = 4 (the ``small`` preset) class_sorted 2,309 / 0.00 / 0.994, per_sample 2,741 / 0.00 / 0.994,
shuffled 23,996 / 0.00 / 0.20. α = 3 keeps 0.963 of the retained classes, α = 6 leaves 0.89 of class 3.

Departures: as SSD (:mod:`engine.methods.ssd`). The rule (‖f_θ(x)‖₂² in place of CE, |grad| in
place of grad²) is taken from the reference README's description (methods.md A8) and applied to
SSD's loaders; Lethe did not check it against an LF-SSD script.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

from engine._core.events import Event
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.methods.ssd import importance_batches_field, run_ssd
from engine.models.base import LetheModel


@dataclass(frozen=True)
class LFSSDParams:
    alpha: float = param(10.0, "α, selection weighting: dampen θ_j where I_f[j] > α·I_D[j] (digits cnn_small: 11).", min=0.0, max=1e6)
    lam: float = param(1.0, "λ, dampening constant: θ_j ← min(λ·I_D[j]/I_f[j], 1)·θ_j.", min=0.0, max=1e6)
    batch_size: int = param(0, "Batch for the importances (0 = 64 for class, 128 for sample forgetting).", min=0, max=4096)
    importance_batches: str = importance_batches_field()


@register(
    "lf_ssd",
    LFSSDParams,
    description="Label-free SSD: importances from the gradient of the logit norm instead of the loss.",
    needs=("forget", "retain"),
    label="LF-SSD",
    presets={"small": {"alpha": 4.0}},
)
def unlearn(ctx: MethodContext, p: LFSSDParams) -> Generator[Event, None, LetheModel]:
    return (yield from run_ssd(ctx, p.alpha, p.lam, p.batch_size, label_free=True, name="LF-SSD", mode=p.importance_batches))

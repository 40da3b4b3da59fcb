"""SSD — Selective Synaptic Dampening (Foster, Schoepf, Brintrup, AAAI 2024; methods.md A8;
``selective-synaptic-dampening/src/ssd.py:ParameterPerturber.calc_importance / modify_weight``).

Retraining-free, one shot. Importance = mean over batches of the squared *batch-mean* gradient
(a diagonal Fisher of batch gradients, so it depends on the batch size; pitfall D4):
    I_X[j] = (1/#batches) Σ_batches (∂ CE_batch / ∂θ_j)²,
for X = D_f (I_f) and X = D, the **full** training set, forget rows included (I_D). Then for every
parameter j with I_f[j] > α·I_D[j]:  θ_j ← β_j·θ_j,  β_j = min(λ·I_D[j] / I_f[j], 1).
Defaults: α (selection weighting) = 10, λ (dampening constant) = 1, model in eval mode, no
augmentation, batch 64 (class forgetting) / 128 (sample forgetting). LF-SSD (label-free, see
:mod:`engine.methods.lf_ssd`) replaces CE by ‖f_θ(x)‖₂² and accumulates |grad|.

Digits scale (cnn_small; the ``small`` preset): α = 10 selects 52 % of the weights (a 100 %-accurate original has tiny mixed-batch
gradients, so I_D is small) and the model collapses; α = 150 (2.6 % dampened) forgets class 3 with
retained-class accuracy 0.988; α = 200 dampens too little. The threshold is sharp.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from engine._core.events import Event, Log, Progress
from engine.methods._common import final_frame
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel


@dataclass(frozen=True)
class SSDParams:
    alpha: float = param(10.0, "α, selection weighting: dampen θ_j where I_f[j] > α·I_D[j] (×0.5 for ViT in the paper; digits cnn_small: 150).", min=0.0, max=1e6)
    lam: float = param(1.0, "λ, dampening constant: θ_j ← min(λ·I_D[j]/I_f[j], 1)·θ_j.", min=0.0, max=1e6)
    batch_size: int = param(0, "Batch for the importances (0 = the paper's: 64 for class, 128 for sample forgetting).", min=0, max=4096)


def importance(
    ctx: MethodContext,
    model: LetheModel,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    label_free: bool,
    lo: float,
    hi: float,
) -> Generator[Event, None, dict[str, torch.Tensor]]:
    """Per-parameter importances averaged over batches (model in eval mode, no augmentation).

    SSD: mean over batches of grad² of the batch-mean CE. LF-SSD: mean of |grad| of the batch-mean
    squared logit norm. Progress fractions run from ``lo`` to ``hi``.
    """
    params = {n: q for n, q in model.named_parameters() if q.requires_grad}
    imp = {n: torch.zeros_like(q) for n, q in params.items()}
    y_t = torch.as_tensor(y, dtype=torch.long)
    starts = list(range(0, len(x), batch_size))
    model.eval()
    for b, s in enumerate(starts):
        ctx.token.check()
        out = model(ctx.normalise(x[s : s + batch_size]))  # (B, C)
        if label_free:
            loss = out.pow(2).sum(1).mean()  # ‖f_θ(x)‖₂², batch mean
        else:
            loss = F.cross_entropy(out, y_t[s : s + batch_size].to(ctx.device))
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        for n, g in zip(params, grads, strict=False):
            if g is not None:
                imp[n] += g.detach().abs() if label_free else g.detach().pow(2)
        yield Progress("unlearn", lo + (hi - lo) * (b + 1) / len(starts), f"importance {b + 1}/{len(starts)}")
    return {n: v / max(1, len(starts)) for n, v in imp.items()}


@torch.no_grad()
def dampen(
    params: Mapping[str, torch.Tensor], imp_f: dict[str, torch.Tensor], imp_d: dict[str, torch.Tensor], alpha: float, lam: float
) -> int:
    """In place: θ_j ← min(λ·I_D[j]/I_f[j], 1)·θ_j wherever I_f[j] > α·I_D[j]; returns how many were selected."""
    selected = 0
    for n, theta in params.items():
        f, d = imp_f[n], imp_d[n]
        where = f > alpha * d  # (shape of θ) bool; I_f > 0 there, so the ratio is finite
        beta = (lam * d[where] / f[where]).clamp(max=1.0)
        theta[where] = theta[where] * beta
        selected += int(where.sum())
    return selected


def run_ssd(ctx: MethodContext, alpha: float, lam: float, batch_size: int, label_free: bool, name: str) -> Generator[Event, None, LetheModel]:
    model = ctx.copy_original().eval()
    bs = batch_size or (64 if ctx.split.kind == "class" else 128)
    b = ctx.bundle
    n_f, n_d = len(ctx.x_forget), len(b.x_train)
    split = n_f / (n_f + n_d)
    imp_f = yield from importance(ctx, model, ctx.x_forget, ctx.y_forget, bs, label_free=label_free, lo=0.0, hi=split)
    imp_d = yield from importance(ctx, model, b.x_train, b.y_train, bs, label_free=label_free, lo=split, hi=1.0)
    ctx.token.check()
    params = {n: q for n, q in model.named_parameters() if q.requires_grad}
    selected = dampen(params, imp_f, imp_d, alpha, lam)
    total = sum(q.numel() for q in params.values())
    yield Log(f"{name}: dampened {selected} of {total} parameters ({selected / max(1, total):.2%})")
    yield from final_frame(ctx, model)
    return model


@register(
    "ssd",
    SSDParams,
    description="Selective Synaptic Dampening: shrink the weights far more important to the forget set than to the data.",
    needs=("forget", "retain"),
    label="SSD",
    presets={"small": {"alpha": 150.0}},
)
def unlearn(ctx: MethodContext, p: SSDParams) -> Generator[Event, None, LetheModel]:
    return (yield from run_ssd(ctx, p.alpha, p.lam, p.batch_size, label_free=False, name="SSD"))

"""Weight-update masks any first-order method accepts: ``mask = none | salun | feasible``.

- **salun** (Fan et al., ICLR 2024, "SalUn", methods.md A6 step 1; ``generate_mask.py``): with the
  model in eval mode, g = Σ_batches ∇θ[−CE(f_θ(x), y)] over D_f (summed, not averaged); rank |g|
  globally over every named parameter (BatchNorm included) and let only the top-r fraction move.
- **feasible** (Dine, Furon, Faure, arXiv 2511.02435, methods.md A16 — *Lethe's implementable design
  from the abstract, not the authors' code*): per step, with u = −∇L_method the base update and the
  retain gradient estimated from k micro-batches (per-coordinate mean ĝ_r and standard error ŝ_r),
  coordinate j may move iff u_j·ĝ_r,j ≤ 0 (the update does not raise the retain loss to first order)
  and |ĝ_r,j|/ŝ_r,j ≥ z_{1−δ} (the retain gradient there is distinguishable from batch noise).
  ``admit_neutral`` also lets coordinates whose retain gradient is *not* significant move.

Both are applied the same way (pitfall D2, SalUn "Fix weight decay (#33)"): before the optimiser step
the gradient is multiplied by m; after it, every masked coordinate is put back to its pre-step value
and the optimiser state (momentum, Adam moments) is zeroed there, so weight decay and momentum cannot
move frozen weights. :func:`build_mask` returns an :class:`UpdateMask`, a
:class:`engine.train.loop.StepHook` the loop runs around every optimiser step. The Params fields
are :class:`engine.methods._params.MaskParams`.
"""
from __future__ import annotations

from statistics import NormalDist
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from engine.methods.base import MethodContext
from engine.models.base import LetheModel, eval_mode
from engine.train.loop import IndexBatches, StepHook, forever

MASKS = ("none", "salun", "feasible")


# ---------------------------------------------------------------- the SalUn saliency mask
def salun_saliency(ctx: MethodContext, model: LetheModel, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """|Σ_batches ∇θ[−CE]| over D_f in eval mode, per named parameter (same shapes as the params)."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    x, y = ctx.x_forget, torch.as_tensor(ctx.y_forget, dtype=torch.long)
    with eval_mode(model):
        for s in range(0, len(x), batch_size):
            ctx.token.check()
            loss = -F.cross_entropy(model(ctx.normalise(x[s : s + batch_size])), y[s : s + batch_size].to(ctx.device))
            grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
            for (n, _), g in zip(params.items(), grads, strict=False):
                if g is not None:
                    total[n] += g.detach()
    return {n: g.abs() for n, g in total.items()}


def top_fraction_mask(scores: dict[str, torch.Tensor], ratio: float) -> dict[str, torch.Tensor]:
    """Global top-``ratio`` of all scores -> bool masks (SalUn ranks over every parameter at once)."""
    flat = torch.cat([s.flatten() for s in scores.values()])  # (P,)
    k = max(1, round(ratio * flat.numel()))
    if k >= flat.numel():
        return {n: torch.ones_like(s, dtype=torch.bool) for n, s in scores.items()}
    # The k-th largest value as threshold; ties broken by position so exactly k are kept.
    order = torch.argsort(flat, descending=True, stable=True)
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[order[:k]] = True
    out, start = {}, 0
    for n, s in scores.items():
        out[n] = keep[start : start + s.numel()].view_as(s)
        start += s.numel()
    return out


# ---------------------------------------------------------------- applying a mask
class UpdateMask(StepHook):
    """Applies per-parameter bool masks around an optimiser step (see the module docstring).

    ``compute(model) -> {name: bool mask}`` is called once per step, after ``backward()``.
    """

    def __init__(self, model: LetheModel, compute: Callable[[LetheModel], dict[str, torch.Tensor]], kind: str) -> None:
        self.kind = kind
        self.model = model
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self._compute = compute
        self._masks: dict[str, torch.Tensor] = {}
        self._before: dict[str, torch.Tensor] = {}
        self.kept_fraction = 1.0  # fraction of coordinates allowed to move at the last step

    def before_step(self, optimizer: torch.optim.Optimizer) -> None:
        self._masks = self._compute(self.model)
        kept, total = 0, 0
        with torch.no_grad():
            for n, p in self.params.items():
                m = self._masks.get(n)
                if m is None:
                    continue
                kept += int(m.sum())
                total += m.numel()
                self._before[n] = p.detach().clone()
                if p.grad is not None:
                    p.grad.mul_(m)
        self.kept_fraction = kept / max(1, total)

    def after_step(self, optimizer: torch.optim.Optimizer) -> None:
        with torch.no_grad():
            for n, p in self.params.items():
                m = self._masks.get(n)
                if m is None:
                    continue
                p.copy_(torch.where(m, p, self._before[n]))
                for v in optimizer.state.get(p, {}).values():
                    if torch.is_tensor(v) and v.shape == p.shape:
                        v.mul_(m)
        self._before.clear()


def build_mask(
    ctx: MethodContext,
    model: LetheModel,
    kind: str,
    *,
    ratio: float = 0.5,
    delta: float = 0.05,
    micro: int = 4,
    batch_size: int = 256,
    admit_neutral: bool = False,
) -> UpdateMask | None:
    """The mask ``kind`` for ``model`` (None for "none"), built from the model as it is now."""
    if kind == "none":
        return None
    if kind == "salun":
        fixed = top_fraction_mask(salun_saliency(ctx, model, batch_size), ratio)
        return UpdateMask(model, lambda m: fixed, kind)
    if kind == "feasible":
        return UpdateMask(model, _feasible(ctx, model, delta, micro, batch_size, admit_neutral), kind)
    raise ValueError(f"unknown mask {kind!r}; choose one of {MASKS}")


def _feasible(
    ctx: MethodContext, model: LetheModel, delta: float, micro: int, batch_size: int, admit_neutral: bool
) -> Callable[[LetheModel], dict[str, torch.Tensor]]:
    x_r, y_r = ctx.x_retain, torch.as_tensor(ctx.y_retain, dtype=torch.long)
    batches = forever(IndexBatches(len(x_r), max(batch_size, 2 * micro), ctx.seed + 7919))
    z = NormalDist().inv_cdf(1.0 - delta)

    def compute(m: LetheModel) -> dict[str, torch.Tensor]:
        names = [n for n, p in m.named_parameters() if p.requires_grad]
        params = [p for p in m.parameters() if p.requires_grad]
        u = [-(p.grad if p.grad is not None else torch.zeros_like(p)) for p in params]  # base update direction
        idx = next(batches)
        chunks = [c for c in np.array_split(idx, micro) if len(c)]
        per_chunk: list[list[torch.Tensor]] = []
        # Eval mode: the test must not move BatchNorm running statistics, nor see micro-batch statistics.
        with eval_mode(m):
            for c in chunks:
                loss = F.cross_entropy(m(ctx.normalise(x_r[c])), y_r[c].to(ctx.device))
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                per_chunk.append([torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, grads, strict=False)])
        k = len(per_chunk)
        out: dict[str, torch.Tensor] = {}
        for j, n in enumerate(names):
            g = torch.stack([pc[j] for pc in per_chunk])  # (k, *shape)
            mean = g.mean(0)
            se = g.std(0, unbiased=True) / k**0.5 if k > 1 else torch.full_like(mean, float("inf"))
            significant = mean.abs() >= z * se
            helps = u[j] * mean <= 0
            ok = helps & significant
            if admit_neutral:
                ok = ok | ~significant
            out[n] = ok
        return out

    return compute


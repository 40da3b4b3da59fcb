"""SSD — Selective Synaptic Dampening (Foster, Schoepf, Brintrup, AAAI 2024; methods.md A8;
``selective-synaptic-dampening/src/ssd.py:ParameterPerturber.calc_importance / modify_weight``).

Retraining-free, one shot. Importance = mean over batches of the squared *batch-mean* gradient
(a diagonal Fisher of batch gradients, so it depends on the batch size and on which rows share a
batch; pitfall D4):
    I_X[j] = (1/#batches) Σ_batches (∂ CE_batch / ∂θ_j)²,
for X = D_f (I_f) and X = D, the **full** training set, forget rows included (I_D). Then for every
parameter j with I_f[j] > α·I_D[j]:  θ_j ← β_j·θ_j,  β_j = min(λ·I_D[j] / I_f[j], 1).
Defaults: α (selection weighting) = 10, λ (dampening constant) = 1, model in eval mode, no
augmentation, batch 64 (class forgetting) / 128 (sample forgetting). LF-SSD (label-free, see
:mod:`engine.methods.lf_ssd`) replaces CE by ‖f_θ(x)‖₂² and accumulates |grad|.

``importance_batches`` chooses how I_D (and I_f) are batched:
- ``class_sorted`` (default; the public code): the full-data loader is
  ``ConcatDataset((retain_train, forget_train))`` unshuffled, with the retain rows grouped class by
  class (``build_retain_forget_sets``), so almost every batch holds one class and its mean gradient
  is large; the forget rows come last.
- ``shuffled``: the full data in a random order seeded by the job's seed: mixed-class batches whose
  mean gradients nearly cancel on a well-fitted model, so I_D is small and far more weights pass
  I_f > α·I_D. Earlier Lethe batched the data in dataset order, which for the shipped datasets is a
  random order (their train splits are shuffled).
- ``per_sample``: the paper's Fisher, I_X[j] = mean_x (∂ CE(x) / ∂θ_j)² over single rows (batch size
  irrelevant). Since D contains D_f, I_D ≥ (|D_f|/|D|)·I_f, so no weight can be selected once
  α ≥ |D|/|D_f| (≈ 10 for one class of ten): the paper's α = 10 sits exactly at that edge.

Measured on digits (cnn_small, 94,186 parameters, forget class 3 = 146 of 1,437 training images),
parameters dampened / forget-class test accuracy / retained-class test accuracy:
  α = 10:  class_sorted 9,508 / 0.00 / 0.30 (the public code on the same weights: 9,508);
           shuffled 56,121 / 0.00 / 0.11 (dataset order, earlier Lethe: 48,844); per_sample 0.
  α = 13: class_sorted 3,483 / 0.00 / 0.985; shuffled 51,291 / 0.00 / 0.11; per_sample 0.
  α = 6, per_sample (the ``small`` preset): 1,617 / 0.00 / 0.994 (α = 5: 3,561 / 0.00 / 0.991).
  α = 150 (the former preset): class_sorted 0 (the model unchanged); dataset order 2,451.
class_sorted's window is narrow and moves with the original's seed (forget 0 with retained ≥ 0.97:
seed 0 α ∈ [12, 13.5], seed 1 [14, 15], seed 2 [11.5, 13]; no α serves all three: α = 13 over 3 seeds
gives test-forget 0.0 ± 0.0, test-retain 92.3 ± 9.6 %), while per_sample's does not (α = 6: 1,617 /
4,083 / 2,616 dampened, retained 0.994 / 1.000 / 0.997, forget 0 on all three), hence the ``small``
preset: the paper's per-sample Fisher at α = 6 (≈ 0.6·|D|/|D_f|). ``bench methods --preset small --seeds 3
--only ssd``: test-forget 0.0 ± 0.0 %, test-retain 99.7 ± 0.3 %, time ÷ Retrain 0.49 ± 0.24 (one
backward pass per training image: ~5× the batched importances; the former α = 150 in dataset order:
0.0 / 98.6 ± 0.1 %, 0.067). It moves with the model: on the PathMNIST subset (convnet,
288,617 parameters, class 3; original 0.93 / 0.676) class_sorted dampens nothing at α = 10 or 13 and
forgets at α = 5 (5,663 / 0.00 / 0.693; α = 3: 0.47 retained), per_sample forgets at α = 4
(8,232 / 0.00 / 0.688; the preset's α = 6 dampens 180 and forgets nothing there), while shuffled collapses the model at every α tried (1–13). On the CIFAR-10 subset (convnet, 288,746
parameters, class 3; original 0.485 / 0.728): class_sorted α = 10 or 13 dampens nothing (the README's
unchanged SSD row), α = 5 forgets (10,907 / 0.00 / 0.739), α = 3 collapses (0.339); shuffled dampens
161,181 at α = 10 and collapses (0.111) at every α in 1–10. Tune α per model.

Departures: I_f in ``class_sorted`` is batched in forget-set order (the reference: the forget
class in dataset order, the same rows); in sample forgetting the reference's retain rows are in
``random_split`` order, Lethe sorts them by class as in class forgetting (one protocol for both
kinds; ``shuffled`` is the closer match there). The reference's ``lower_bound`` and ``exponent``
(both 1) are not exposed. The paper states a per-sample Fisher; its code uses batch means; the
default follows the code, since the published numbers come from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Generator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from engine._core.events import Event, Log, Progress
from engine.methods._common import final_frame
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel

IMPORTANCE_BATCHES = ("class_sorted", "shuffled", "per_sample")
PER_SAMPLE_CHUNK = 32  # at most this many rows per vmap call of the per-sample Fisher
PER_SAMPLE_FLOATS = 50_000_000  # and at most this many per-sample gradient floats at once (200 MB; ResNet-18: 4 rows)


def importance_batches_field() -> Any:
    return param(
        "class_sorted",
        "How the importances are batched: class_sorted = the reference code (full data sorted class by class, "
        "forget rows last); shuffled = full data in a seeded random order (earlier Lethe); per_sample = the "
        "paper's per-sample Fisher (batch size irrelevant).",
        choices=IMPORTANCE_BATCHES,
    )


@dataclass(frozen=True)
class SSDParams:
    alpha: float = param(10.0, "α, selection weighting: dampen θ_j where I_f[j] > α·I_D[j] (×0.5 for ViT in the paper).", min=0.0, max=1e6)
    lam: float = param(1.0, "λ, dampening constant: θ_j ← min(λ·I_D[j]/I_f[j], 1)·θ_j.", min=0.0, max=1e6)
    batch_size: int = param(0, "Batch for the importances (0 = the paper's: 64 for class, 128 for sample forgetting).", min=0, max=4096)
    importance_batches: str = importance_batches_field()


def full_data_order(ctx: MethodContext, mode: str) -> np.ndarray:
    """Row order (indices into the training set) of the full-data importance I_D.

    ``class_sorted`` (the reference code's loader): the retain rows sorted class by class (stable,
    dataset order within a class), then the forget rows, unshuffled
    (``ConcatDataset((retain_train, forget_train))`` of ``forget_*_main.py``). ``shuffled``: every
    training row in a random order seeded by ``ctx.seed``. ``per_sample``: dataset order (the
    per-sample Fisher does not depend on the order). Returns (n_train,) int64; ValueError for an
    unknown mode.
    """
    y = np.asarray(ctx.bundle.y_train)
    if mode == "class_sorted":
        retain = np.asarray(ctx.split.retain_idx, dtype=np.int64)
        retain = retain[np.argsort(y[retain], kind="stable")]
        return np.concatenate([retain, np.asarray(ctx.split.forget_idx, dtype=np.int64)])
    if mode == "shuffled":
        return np.random.default_rng(ctx.seed).permutation(len(y)).astype(np.int64)
    if mode == "per_sample":
        return np.arange(len(y), dtype=np.int64)
    raise ValueError(f"importance_batches must be one of {IMPORTANCE_BATCHES}, got {mode!r}")


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
    """Per-parameter importances averaged over batches of ``batch_size`` rows in the given order
    (model in eval mode, no augmentation).

    SSD: mean over batches of grad² of the batch-mean CE. LF-SSD: mean of |grad| of the batch-mean
    squared logit norm. Progress fractions run from ``lo`` to ``hi``.
    """
    params = {n: q for n, q in model.named_parameters() if q.requires_grad}
    imp = {n: torch.zeros_like(q) for n, q in params.items()}
    y_t = torch.as_tensor(y, dtype=torch.long)
    starts = list(range(0, len(x), batch_size))
    every = max(1, len(starts) // 200)  # at most ~200 Progress events (batches of one row are many)
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
        if (b + 1) % every == 0 or b + 1 == len(starts):
            yield Progress("unlearn", lo + (hi - lo) * (b + 1) / len(starts), f"importance {b + 1}/{len(starts)}")
    return {n: v / max(1, len(starts)) for n, v in imp.items()}


def importance_per_sample(
    ctx: MethodContext,
    model: LetheModel,
    x: np.ndarray,
    y: np.ndarray,
    *,
    label_free: bool,
    lo: float,
    hi: float,
    chunk: int = 0,
    vectorised: bool | None = None,
) -> Generator[Event, None, dict[str, torch.Tensor]]:
    """The paper's diagonal Fisher: I[j] = mean_x (∂ CE(x) / ∂θ_j)² over single rows (SSD), or
    mean_x |∂ ‖f_θ(x)‖₂² / ∂θ_j| (LF-SSD). Model in eval mode (BatchNorm uses its running
    statistics, so a row's gradient does not depend on the others); per-sample gradients come
    from ``torch.func.vmap`` over ``chunk`` rows at a time (0: as many as keep the per-sample
    gradients under :data:`PER_SAMPLE_FLOATS` floats, at most :data:`PER_SAMPLE_CHUNK`), or from
    batches of one row. ``vectorised`` None = vmap on an accelerator, batches of one on the CPU
    (measured on 2 CPU cores: 1,437 digits rows through cnn_small 6.4 s looped vs 8.1 s vmapped;
    40 rows through resnet18_cifar 4.1 s vs 21 s). Progress from ``lo`` to ``hi``.
    """
    if not (vectorised if vectorised is not None else ctx.device.type != "cpu"):
        return (yield from importance(ctx, model, x, y, 1, label_free=label_free, lo=lo, hi=hi))
    model.eval()
    params = {n: q.detach() for n, q in model.named_parameters() if q.requires_grad}
    frozen = {n: q.detach() for n, q in model.named_parameters() if not q.requires_grad}
    buffers = {n: b for n, b in model.named_buffers()}
    imp = {n: torch.zeros_like(q) for n, q in params.items()}
    n_params = sum(q.numel() for q in params.values())
    chunk = chunk or max(1, min(PER_SAMPLE_CHUNK, PER_SAMPLE_FLOATS // max(1, n_params)))

    def loss_one(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, ({**p, **frozen}, buffers), (xi.unsqueeze(0),))  # (1, C)
        if label_free:
            return out.pow(2).sum()
        return F.cross_entropy(out, yi.unsqueeze(0))

    per_row = vmap(grad(loss_one), in_dims=(None, 0, 0))
    y_t = torch.as_tensor(y, dtype=torch.long)
    starts = list(range(0, len(x), chunk))
    for b, s in enumerate(starts):
        ctx.token.check()
        xb = ctx.normalise(x[s : s + chunk])
        g = per_row(params, xb, y_t[s : s + chunk].to(xb.device))  # {name: (B, *shape)}
        for n, gn in g.items():
            imp[n] += (gn.abs() if label_free else gn.pow(2)).sum(0)
        yield Progress("unlearn", lo + (hi - lo) * (b + 1) / len(starts), f"importance {b + 1}/{len(starts)} (per sample)")
    return {n: v / max(1, len(x)) for n, v in imp.items()}


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


def importances(
    ctx: MethodContext, model: LetheModel, batch_size: int, mode: str, *, label_free: bool
) -> Generator[Event, None, tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
    """(I_f, I_D) of ``model`` under the batching ``mode`` (see :data:`IMPORTANCE_BATCHES`);
    ``batch_size`` 0 = 64 for class, 128 for sample forgetting (ignored by ``per_sample``)."""
    bs = batch_size or (64 if ctx.split.kind == "class" else 128)
    b = ctx.bundle
    order = full_data_order(ctx, mode)
    n_f, n_d = len(ctx.split.forget_idx), len(order)
    split = n_f / (n_f + n_d)
    x_d, y_d = b.x_train[order], b.y_train[order]
    if mode == "per_sample":
        imp_f = yield from importance_per_sample(ctx, model, ctx.x_forget, ctx.y_forget, label_free=label_free, lo=0.0, hi=split)
        imp_d = yield from importance_per_sample(ctx, model, x_d, y_d, label_free=label_free, lo=split, hi=1.0)
    else:
        imp_f = yield from importance(ctx, model, ctx.x_forget, ctx.y_forget, bs, label_free=label_free, lo=0.0, hi=split)
        imp_d = yield from importance(ctx, model, x_d, y_d, bs, label_free=label_free, lo=split, hi=1.0)
    return imp_f, imp_d


def run_ssd(
    ctx: MethodContext, alpha: float, lam: float, batch_size: int, label_free: bool, name: str, mode: str = "class_sorted"
) -> Generator[Event, None, LetheModel]:
    model = ctx.copy_original().eval()
    imp_f, imp_d = yield from importances(ctx, model, batch_size, mode, label_free=label_free)
    ctx.token.check()
    params = {n: q for n, q in model.named_parameters() if q.requires_grad}
    selected = dampen(params, imp_f, imp_d, alpha, lam)
    total = sum(q.numel() for q in params.values())
    yield Log(f"{name}: dampened {selected} of {total} parameters ({selected / max(1, total):.2%}; importances {mode})")
    yield from final_frame(ctx, model)
    return model


@register(
    "ssd",
    SSDParams,
    description="Selective Synaptic Dampening: shrink the weights far more important to the forget set than to the data.",
    needs=("forget", "retain"),
    label="SSD",
    presets={"small": {"alpha": 6.0, "importance_batches": "per_sample"}},
)
def unlearn(ctx: MethodContext, p: SSDParams) -> Generator[Event, None, LetheModel]:
    return (yield from run_ssd(ctx, p.alpha, p.lam, p.batch_size, label_free=False, name="SSD", mode=p.importance_batches))

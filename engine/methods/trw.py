"""TRW — Tilted ReWeighting (arXiv 2506.20893 v4; v1 "RWFT"; methods.md A13). Class forgetting.

**A reconstruction from the paper's abstract, TL;DR and reviews, not the authors' code** (none was
found; spec tag [I]). Similarity s_j (j ≠ f): cosine between class f and class j in a PCA-reduced
space of the original's per-class mean logit vectors (train set), then a sharp softmax over j ≠ f
at temperature τ (0.1; not recovered). Target for a forget image x:
    q_j(x) ∝ p_θ0,j(x)·exp(β·s_j) for j ≠ f,  q_f = 0,  β = 10
(the maximum-entropy tilt of the renormalised original prediction; β = 0 gives RWFT v1,
q_j = p_θ0,j / (1 − p_θ0,f)). Loss: KL(q ‖ p_θ) on D_f + retain_weight·CE on D_r, iterating over
retain batches and cycling forget batches. Epochs and lr were not recovered: FT-like, SGD 0.01,
5 epochs. Several forgotten classes: each forget image uses its own class's similarities, and every
forgotten class gets q = 0.

Digits scale (cnn_small): the defaults work as they are.

Departures: everything not in the abstract is Lethe's reconstruction (no code was found): τ = 0.1, the PCA of
per-class mean logits, SGD 0.01 for 5 epochs, the retain CE weight. A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F

from engine._core.events import Event
from engine.methods._common import augment_generator, forget_rows, require_classes, retain_rows
from engine.methods._loops import optimise
from engine.methods._params import MaskParams, SGDParams, batch_size_field, epochs_field
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel, eval_mode
from engine.train.loop import Phase, Zipped


@dataclass(frozen=True)
class TRWParams(MaskParams, SGDParams):
    epochs: int = epochs_field(5, "Passes over the retain set.")
    batch_size: int = batch_size_field(128, "Retain (and forget) images per step.")
    beta: float = param(10.0, "β, tilt strength towards similar classes (0 = plain renormalisation, RWFT v1).", min=0.0, max=100.0)
    tau: float = param(0.1, "Temperature of the softmax over class similarities (not recovered from the paper).", min=1e-3, max=10.0)
    pca_dims: int = param(0, "PCA components of the mean-logit space (0 = all, i.e. centring only).", min=0, max=10000)
    retain_weight: float = param(1.0, "Weight of the retain cross-entropy (0 = forget set only).", min=0.0, max=100.0)


@torch.no_grad()
def class_similarity(mean_logits: torch.Tensor, forget: list[int], pca_dims: int, tau: float) -> torch.Tensor:
    """(C, C) row f = sharp softmax over j ∉ forget of cos(μ_f, μ_j) in the PCA space (0 on forgotten j).

    mean_logits: (C, C) per-class mean logit vectors of the original.
    """
    z = mean_logits - mean_logits.mean(0, keepdim=True)  # centred (C, C)
    if pca_dims and pca_dims < z.shape[1]:
        _, _, vt = torch.linalg.svd(z, full_matrices=False)
        z = z @ vt[:pca_dims].T  # (C, k)
    zn = F.normalize(z, dim=1)
    cos = zn @ zn.T  # (C, C)
    sim = torch.zeros_like(cos)
    for f in forget:
        row = cos[f] / tau
        row[forget] = float("-inf")
        sim[f] = torch.softmax(row, 0)
    return sim


@torch.no_grad()
def tilted_targets(p0: torch.Tensor, y: torch.Tensor, sim: torch.Tensor, forget: list[int], beta: float) -> torch.Tensor:
    """(B, C) q_j ∝ p0_j·exp(β·s_{y,j}) on j ∉ forget, q = 0 on the forgotten classes."""
    w = p0 * torch.exp(beta * sim[y])  # (B, C)
    w[:, forget] = 0.0
    return w / w.sum(1, keepdim=True).clamp(min=1e-30)


@register(
    "trw",
    TRWParams,
    description="TRW: move each forget image's prediction to its similar classes (tilted re-weighting), keep the retain set.",
    kinds=("class",),
    needs=("forget", "retain"),
    label="TRW (reconstruction from the paper's abstract)",
)
def unlearn(ctx: MethodContext, p: TRWParams) -> Generator[Event, None, LetheModel]:
    forget = list(require_classes(ctx, "TRW forgets whole classes (its targets re-weight the other classes)"))
    C = ctx.bundle.num_classes
    logits_sum = torch.zeros(C, C, device=ctx.device, dtype=torch.float64)
    counts = np.bincount(ctx.bundle.y_train, minlength=C)
    probs_f = []
    with eval_mode(ctx.original), torch.no_grad():
        for s in range(0, len(ctx.bundle.x_train), 512):
            ctx.token.check()
            out = ctx.original(ctx.normalise(ctx.bundle.x_train[s : s + 512])).double()  # (B, C)
            yb = torch.as_tensor(ctx.bundle.y_train[s : s + 512], device=ctx.device)
            logits_sum.index_add_(0, yb, out)
        for s in range(0, len(ctx.x_forget), 512):
            ctx.token.check()
            probs_f.append(F.softmax(ctx.original(ctx.normalise(ctx.x_forget[s : s + 512])), 1))
    mean_logits = logits_sum / torch.as_tensor(np.maximum(counts, 1), device=ctx.device).view(-1, 1)
    sim = class_similarity(mean_logits.float(), forget, p.pca_dims, p.tau)
    y_f = torch.as_tensor(ctx.y_forget, device=ctx.device, dtype=torch.long)
    q = tilted_targets(torch.cat(probs_f), y_f, sim, forget, p.beta)  # (N_f, C) fixed targets

    model = ctx.copy_original()
    forget_set, retain_set, gen = forget_rows(ctx), retain_rows(ctx), augment_generator(ctx)

    def loss(batch: tuple[np.ndarray | None, np.ndarray]) -> torch.Tensor:
        ir, jf = batch
        log_p = F.log_softmax(model(forget_set.images(jf, gen)), 1)
        qt = q[torch.as_tensor(jf, device=ctx.device)]
        kl = (torch.xlogy(qt, qt) - qt * log_p).sum(1).mean()  # KL(q ‖ p_θ), batch mean
        return kl if ir is None else kl + p.retain_weight * retain_set.cross_entropy(model, ir, gen)

    # Steps walk the retain set while the forget batches cycle (the forget set alone without retain weight).
    forget_batches = forget_set.batches(p.batch_size, ctx.seed + 1)
    lead = retain_set.batches(p.batch_size, ctx.seed) if p.retain_weight > 0 else [None] * len(forget_batches)
    yield from optimise(ctx, model, [Phase(loss, Zipped(lead, forget_batches), p.sgd())], mask=p)
    return model

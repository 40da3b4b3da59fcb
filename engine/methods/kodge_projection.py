"""Gradient-free class forgetting by projection (Kodge, Saha, Roy, TMLR 2024, "Deep Unlearning:
Fast and Efficient Gradient-free Class Forgetting"; methods.md A18;
``sangamesh-kodge/class_forgetting/main.py:our_unlearn``, ``models/model_utils.py``).

In eval mode, take one batch of retain samples (100 per other class, 900 for CIFAR-10) and one of
forget samples (900). For every conv / linear layer form its input-activation matrix R (conv:
unfolded k×k patches at random spatial positions, ≤ 10k rows), with R = UΣVᵀ in the layer's input
space and energy ratios r_i = σ_i²/Σσ². The scaled importances λ_i = a·r_i / ((a − 1)·r_i + 1) give
M = U diag(λ) Uᵀ with a = α_r = 100 (retain) or α_f = 3 (forget) (CIFAR-100: 1000 / 30). The
projection P = I − (M_f − M_f·M_r) is applied to every layer at once: W_flat ← W_flat·Pᵀ.
Cost: two forward passes and one eigendecomposition per layer.

Digits scale (cnn_small): the CIFAR-10 defaults work (all ~145 forget images are used).

Departures: the retain samples are a seeded per-class draw from the retain training rows (the reference takes
them from a held-out index); conv patches are sampled at random positions up to ``max_rows``.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Generator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine._core.events import Event, Log, Progress
from engine.methods._common import WeightLayer, final_frame, forward_with_pre_hooks, require_classes
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel


@dataclass(frozen=True)
class KodgeParams:
    retain_per_class: int = param(100, "Retain samples per remaining class (CIFAR-10: 100, so 900 in all).", min=1, max=10000)
    forget_samples: int = param(900, "Forget samples (at most the forget set).", min=1, max=100000)
    alpha_r: float = param(100.0, "Scaling a of the retain-space importances (CIFAR-100: 1000).", min=1.0, max=1e6)
    alpha_f: float = param(3.0, "Scaling a of the forget-space importances (CIFAR-100: 30).", min=1.0, max=1e6)
    max_rows: int = param(10000, "At most this many activation rows per layer (conv patches are sampled).", min=100, max=1000000)


def projectable_layers(model: nn.Module) -> dict[str, WeightLayer]:
    """Every Conv2d (groups = 1) and Linear layer, by name (the head included)."""
    return {
        n: m
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1)
    }


def weight_matrix(layer: WeightLayer) -> torch.Tensor:
    """(out, d_in) view of a layer's weight: conv (out, C_in·k·k) in F.unfold's order."""
    return layer.weight.view(layer.weight.shape[0], -1)


@torch.no_grad()
def layer_inputs(
    ctx: MethodContext, model: LetheModel, x: np.ndarray, max_rows: int, seed: int, batch_size: int = 256
) -> dict[str, torch.Tensor]:
    """Input-activation matrices per layer, (rows, d_in) float64 on the CPU, model in eval mode.

    Conv inputs are unfolded into k×k patches at randomly chosen spatial positions so that each
    layer keeps at most ``max_rows`` rows; Linear inputs are taken as they are.
    """
    layers = projectable_layers(model)
    gen = torch.Generator().manual_seed(seed)
    rows: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    per_sample = max(1, max_rows // max(1, len(x)))

    def hook(name: str, layer: WeightLayer) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], None]:
        def fn(_m: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            a = inputs[0].detach()
            if isinstance(layer, nn.Conv2d):
                if isinstance(layer.padding, str):  # 'same' / 'valid': not in Lethe's models
                    raise ValueError(f"Kodge: layer {name} has padding={layer.padding!r}; explicit padding is needed")
                u = F.unfold(a, layer.kernel_size, layer.dilation, layer.padding, layer.stride)  # (B, d_in, L)
                L = u.shape[2]
                if per_sample < L:
                    pos = torch.stack([torch.randperm(L, generator=gen)[:per_sample] for _ in range(u.shape[0])])  # (B, k)
                    u = torch.gather(u, 2, pos.to(u.device).unsqueeze(1).expand(-1, u.shape[1], -1))
                a = u.transpose(1, 2).reshape(-1, u.shape[1])  # (B·k, d_in)
            rows[name].append(a.to("cpu", torch.float64))

        return fn

    forward_with_pre_hooks(ctx, model, {m: hook(n, m) for n, m in layers.items()}, x, batch_size)
    out = {}
    for n, parts in rows.items():
        r = torch.cat(parts)
        if len(r) > max_rows:
            r = r[torch.randperm(len(r), generator=gen)[:max_rows]]
        out[n] = r
    return out


def scaled_space(r: torch.Tensor, a: float) -> torch.Tensor:
    """M = U diag(λ) Uᵀ (d_in, d_in) with λ_i = a·r_i/((a−1)·r_i + 1), r_i = σ_i²/Σσ² of R (rows, d_in)."""
    evals, evecs = torch.linalg.eigh(r.T @ r)  # σ_i² and the right singular vectors (input space)
    evals = evals.clamp(min=0)
    ratio = evals / evals.sum().clamp(min=1e-300)
    lam = a * ratio / ((a - 1) * ratio + 1)
    return (evecs * lam) @ evecs.T


def class_sample(ctx: MethodContext, per_class: int, seed: int) -> np.ndarray:
    """Seeded rows of the retain set: up to ``per_class`` of each class present there."""
    rng = np.random.default_rng(seed)
    y = ctx.bundle.y_train[ctx.split.retain_idx]
    picks = [rng.permutation(ctx.split.retain_idx[y == c])[:per_class] for c in np.unique(y)]
    return np.sort(np.concatenate(picks))


@register(
    "kodge_projection",
    KodgeParams,
    description="Kodge et al.: project every layer's weights off the forget-class activation space, in one shot.",
    kinds=("class",),
    needs=("forget", "retain"),
    label="Kodge projection",
)
def unlearn(ctx: MethodContext, p: KodgeParams) -> Generator[Event, None, LetheModel]:
    require_classes(ctx, "Kodge projection forgets whole classes (it projects out a class's activation space)")
    model = ctx.copy_original().eval()
    rng = np.random.default_rng(ctx.seed)
    retain_rows = class_sample(ctx, p.retain_per_class, ctx.seed)
    forget_rows = np.sort(rng.permutation(ctx.split.forget_idx)[: p.forget_samples])
    acts_r = layer_inputs(ctx, model, ctx.bundle.x_train[retain_rows], p.max_rows, ctx.seed)
    yield Progress("unlearn", 0.3, "retain activations")
    acts_f = layer_inputs(ctx, model, ctx.bundle.x_train[forget_rows], p.max_rows, ctx.seed + 1)
    yield Progress("unlearn", 0.5, "forget activations")
    layers = projectable_layers(model)
    for k, (name, layer) in enumerate(layers.items()):
        ctx.token.check()
        m_r = scaled_space(acts_r[name], p.alpha_r)
        m_f = scaled_space(acts_f[name], p.alpha_f)
        proj = torch.eye(m_r.shape[0], dtype=torch.float64) - (m_f - m_f @ m_r)  # (d_in, d_in)
        with torch.no_grad():
            w = weight_matrix(layer)
            w.copy_((w.to("cpu", torch.float64) @ proj.T).to(w.device, w.dtype))
        yield Progress("unlearn", 0.5 + 0.5 * (k + 1) / len(layers), f"layer {name}")
    yield Log(f"Kodge projection: projected {len(layers)} layers from {len(retain_rows)} retain and {len(forget_rows)} forget images")
    yield from final_frame(ctx, model)
    return model

"""ModHiFi-U (Kashyap et al., NeurIPS 2025, arXiv 2511.19566, Algorithm 1 with X = Unlearn;
methods.md A17). Class forgetting without training, gradients or labels.

For layer l, output channel c and input channel i, the component A_ci(X) is input channel i's
contribution to output c (the slice W_c,i applied to input channel i), so Y_c = Σ_i A_ci (bias
excluded). Singleton fidelity s_ci = 1 − E‖Y_c − α_ci·A_ci‖² / E‖Y_c‖² with
α_ci = E⟨Y_c, A_ci⟩ / E‖A_ci‖², which simplifies to s_ci = E⟨Y_c, A_ci⟩² / (E‖A_ci‖²·E‖Y_c‖²).
The scores are estimated by forward passes on images of the **forget class only**; the top
``fraction`` of (c, i) pairs of each edited layer (the HiFi set) get W_c,i = 0. Paper: remove 1–20 %
of the components, 2 % of 10k synthetic images per class; the last 12 conv layers of VGG-19.
Lethe edits every conv layer but the first (and, for MLPs, every hidden Linear but the first), on
up to ``samples`` forget-class training images (the paper's synthetic images are not shipped).

Digits scale (cnn_small; the ``small`` preset, two edited conv layers): 0.05 removes class 3 but also most of the rest (0.67
retained-class accuracy); 0.02 gives forget 0.49 / retain 0.92 — without the paper's fine-tuning the trade-off
is poor on so small a network.

Departures: the scores use up to ``samples`` real forget-class training images (the paper's synthetic CIFAR-5M
images are not shipped); every conv layer but the first is edited (the paper: the last 12 of VGG-19;
``last_layers`` selects); the optional fine-tuning on synthetic retain data is not offered.
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
class ModHiFiParams:
    fraction: float = param(0.05, "Fraction of (output, input)-channel components zeroed per edited layer (paper 1–20 %; digits cnn_small: 0.02).", min=0.0, max=1.0)
    samples: int = param(200, "Forget-class images used to estimate the fidelity scores.", min=1, max=100000)
    last_layers: int = param(0, "Edit only the last this many eligible layers (0 = every conv layer but the first).", min=0, max=1000)
    batch_size: int = param(32, "Images per forward pass while scoring (components are memory-hungry).", min=1, max=4096)


def editable_layers(model: LetheModel, last: int) -> dict[str, WeightLayer]:
    """Conv2d (groups = 1) layers except the first; without convs, hidden Linear layers except the first (never the head)."""
    convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.groups == 1}
    if convs:
        layers = dict(list(convs.items())[1:])
    else:
        lin = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear) and m is not model.head}
        layers = dict(list(lin.items())[1:])
    if last:
        layers = dict(list(layers.items())[-last:])
    return layers


def components(layer: WeightLayer, a: torch.Tensor) -> torch.Tensor:
    """A (B, C_out, C_in, *spatial): the contribution of each input channel to each output channel (no bias)."""
    if isinstance(layer, nn.Linear):
        return a.unsqueeze(1) * layer.weight.unsqueeze(0)  # (B, O, I)
    o, i = layer.weight.shape[:2]
    w = layer.weight.transpose(0, 1).reshape(i * o, 1, *layer.weight.shape[2:])  # group i holds W[:, i]
    out = F.conv2d(a, w, None, layer.stride, layer.padding, layer.dilation, groups=i)  # (B, I·O, H', W')
    return out.view(a.shape[0], i, o, *out.shape[2:]).transpose(1, 2)  # (B, O, I, H', W')


@torch.no_grad()
def fidelity_scores(ctx: MethodContext, model: LetheModel, layers: dict[str, WeightLayer], x: np.ndarray, batch_size: int) -> dict[str, torch.Tensor]:
    """s_ci (C_out, C_in) per layer from E⟨Y_c, A_ci⟩, E‖A_ci‖², E‖Y_c‖² over the images ``x``."""
    stats: dict[str, list[torch.Tensor]] = {}

    def hook(name: str, layer: WeightLayer) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], None]:
        def fn(_m: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            A = components(layer, inputs[0].detach()).double()  # (B, O, I, ...)
            A = A.flatten(3) if A.dim() > 3 else A.unsqueeze(3)  # (B, O, I, S)
            Y = A.sum(2, keepdim=True)  # (B, O, 1, S)
            ya = (Y * A).sum((0, 3))  # (O, I)
            aa = A.pow(2).sum((0, 3))  # (O, I)
            yy = Y.pow(2).sum((0, 2, 3))  # (O,)
            if name not in stats:
                stats[name] = [ya, aa, yy]
            else:
                for acc, v in zip(stats[name], (ya, aa, yy), strict=False):
                    acc += v

        return fn

    forward_with_pre_hooks(ctx, model, {m: hook(n, m) for n, m in layers.items()}, x, batch_size)
    out = {}
    for n, (ya, aa, yy) in stats.items():
        out[n] = ya.pow(2) / (aa * yy.unsqueeze(1)).clamp(min=1e-300)  # s_ci in [0, 1]
    return out


@register(
    "modhifi_u",
    ModHiFiParams,
    description="ModHiFi-U: zero the channel-to-channel weights the forget class relies on most; forward passes only.",
    kinds=("class",),
    needs=("forget",),
    label="ModHiFi-U",
    presets={"small": {"fraction": 0.02}},
)
def unlearn(ctx: MethodContext, p: ModHiFiParams) -> Generator[Event, None, LetheModel]:
    require_classes(ctx, "ModHiFi-U forgets whole classes (its scores come from forget-class images)")
    model = ctx.copy_original().eval()
    layers = editable_layers(model, p.last_layers)
    rng = np.random.default_rng(ctx.seed)
    x = ctx.x_forget[np.sort(rng.permutation(len(ctx.x_forget))[: p.samples])]
    scores = fidelity_scores(ctx, model, layers, x, p.batch_size)
    yield Progress("unlearn", 0.8, "fidelity scores")
    ctx.token.check()
    removed = 0
    with torch.no_grad():
        for n, layer in layers.items():
            s = scores[n].flatten()
            k = round(p.fraction * s.numel())
            if k == 0:
                continue
            top = torch.topk(s, k).indices
            keep = torch.ones_like(s, dtype=torch.bool)
            keep[top] = False
            w = layer.weight  # (O, I, ...) or (O, I)
            w.mul_(keep.view(w.shape[0], w.shape[1], *([1] * (w.dim() - 2))).to(w.device, w.dtype))
            removed += k
    yield Log(f"ModHiFi-U: zeroed {removed} components in {len(layers)} layers")
    yield from final_frame(ctx, model)
    return model

"""UNSIR — error-maximising noise (Tarun et al., IEEE TNNLS 2023, "Fast Yet Effective Machine
Unlearning"; methods.md A10; ``selective-synaptic-dampening/src/unlearn.py:UNSIR_noise*``,
``forget_full_class_strategies.py:UNSIR``). Class forgetting only.

1. Noise N ∈ R^{32×C×H×W} (model-input space), initialised randn, is trained for 25 steps with Adam
   lr 0.1 on −CE(f(N), y_forget) + 0.1·mean_i(Σ N_i²) (maximise the error on the forget class).
2. Impair: 80 copies of the noise batch labelled y_forget (one noise batch per forgotten class)
   together with "retain samples" (the first 500 training images of every retained class);
   1 epoch, Adam lr 1e-4, batch 32, CE.
3. Repair: 1 epoch on the retain samples only, Adam lr 1e-4, batch 128.
No forget images are needed, only the class id.

Digits scale (cnn_small; the ``small`` preset, ≤ 146 images per class): Adam lr 1e-3 for impair and repair.

Departures: the retain samples are the first ``per_class`` training images of every retained class in dataset
order, as the reference; one noise batch per forgotten class (the reference forgets one class). The noise
lives in the normalised input space, as the reference's (no clipping to valid pixels). A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Generator

import numpy as np
import torch
import torch.nn.functional as F

from engine._core.events import Event
from engine.methods._common import require_classes
from engine.methods._loops import optimise
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import IndexBatches, OptimSpec, Phase, phased


@dataclass(frozen=True)
class UnsirParams:
    noise_batch: int = param(32, "Noise images per forgotten class.", min=1, max=1024)
    noise_steps: int = param(25, "Adam steps that train the error-maximising noise.", min=1, max=10000)
    noise_lr: float = param(0.1, "Adam learning rate of the noise.", min=1e-5, max=10.0)
    noise_l2: float = param(0.1, "Weight of the noise's L2 penalty mean_i Σ N_i².", min=0.0, max=100.0)
    noise_copies: int = param(80, "Copies of the noise batch in the impair set.", min=1, max=1000)
    per_class: int = param(500, "Retain samples: the first this many training images of every retained class.", min=1, max=100000)
    impair_epochs: int = param(1, "Impair epochs (noise + retain samples).", min=1, max=100)
    impair_lr: float = param(1e-4, "Adam learning rate of the impair step (digits cnn_small: 1e-3).", min=1e-7, max=1.0)
    impair_batch_size: int = param(32, "Impair batch size.", min=2, max=4096)
    repair_epochs: int = param(1, "Repair epochs (retain samples only).", min=0, max=100)
    repair_lr: float = param(1e-4, "Adam learning rate of the repair step (digits cnn_small: 1e-3).", min=1e-7, max=1.0)
    repair_batch_size: int = param(128, "Repair batch size.", min=2, max=4096)


def error_maximising_noise(
    ctx: MethodContext, model: LetheModel, cls: int, p: UnsirParams
) -> Generator[Event, None, torch.Tensor]:
    """(noise_batch, C, H, W) noise maximising CE on class ``cls`` (model frozen, eval mode)."""
    gen = torch.Generator().manual_seed(ctx.seed + cls)
    noise = torch.randn(p.noise_batch, *ctx.bundle.input_shape, generator=gen).to(ctx.device).requires_grad_(True)
    target = torch.full((p.noise_batch,), cls, dtype=torch.long, device=ctx.device)

    def loss(_: int) -> torch.Tensor:
        return -F.cross_entropy(model(noise), target) + p.noise_l2 * noise.pow(2).sum((1, 2, 3)).mean()

    phase = Phase(loss, range(p.noise_steps), OptimSpec("adam", lr=p.noise_lr))
    yield from optimise(ctx, model, [phase], mode="eval", params=[noise], live=False)
    return noise.detach()


@register(
    "unsir",
    UnsirParams,
    description="UNSIR: impair with error-maximising noise for the forgotten class, then repair on retain samples.",
    kinds=("class",),
    needs=("retain",),
    label="UNSIR",
    presets={"small": {"impair_lr": 1e-3, "repair_lr": 1e-3}},
)
def unlearn(ctx: MethodContext, p: UnsirParams) -> Generator[Event, None, LetheModel]:
    classes = require_classes(ctx, "UNSIR forgets whole classes: its noise is trained per class")
    model = ctx.copy_original()
    noises = []
    for k, c in enumerate(classes):
        lo, hi = 0.1 * k / len(classes), 0.1 * (k + 1) / len(classes)
        noises.append((yield from phased(error_maximising_noise(ctx, model, c, p), lo, hi)))
    # Retain samples: the first `per_class` training images of every retained class (dataset order).
    y_all = ctx.bundle.y_train
    keep = [np.flatnonzero(y_all == c)[: p.per_class] for c in range(ctx.bundle.num_classes) if c not in classes]
    rows = np.concatenate(keep)  # (R,)
    x_r = ctx.normalise(ctx.bundle.x_train[rows])  # (R, C, H, W)
    y_r = torch.as_tensor(y_all[rows], dtype=torch.long, device=ctx.device)
    x_n = torch.cat([n.repeat(p.noise_copies, 1, 1, 1) for n in noises])  # (K·copies·B, C, H, W)
    y_n = torch.cat([torch.full((len(n) * p.noise_copies,), c, dtype=torch.long) for n, c in zip(noises, classes, strict=False)]).to(ctx.device)
    x_imp, y_imp = torch.cat([x_n, x_r]), torch.cat([y_n, y_r])

    def on(x: torch.Tensor, y: torch.Tensor) -> Callable[[np.ndarray], torch.Tensor]:
        def loss(idx: np.ndarray) -> torch.Tensor:
            i = torch.as_tensor(idx, device=ctx.device)
            return F.cross_entropy(model(x[i]), y[i])

        return loss

    # Impair (noise + retain samples), then repair (retain samples): two fresh Adam optimisers.
    phases = [Phase(on(x_imp, y_imp), IndexBatches(len(x_imp), p.impair_batch_size, ctx.seed),
                    OptimSpec("adam", lr=p.impair_lr, epochs=p.impair_epochs), slot="impair")]
    if p.repair_epochs:
        phases.append(Phase(on(x_r, y_r), IndexBatches(len(x_r), p.repair_batch_size, ctx.seed + 1),
                            OptimSpec("adam", lr=p.repair_lr, epochs=p.repair_epochs), slot="repair"))
    yield from phased(optimise(ctx, model, phases), 0.1, 1.0)
    return model

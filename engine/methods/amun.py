"""AMUN — Adversarial Machine UNlearning (Ebrahimpour-Boroojeny et al., ICML 2025, "Not All Wrong is
Bad", arXiv 2503.00917; methods.md A12; ``Ali-E/AMUN/build_advdataset.py``, ``pgdl2_modified.py``,
``adversarial_unlearn.py``). Sample (random) forgetting.

1. Adversarial set: for every forget image find the *closest* misclassified point with an L2 PGD
   whose radius grows — ε starts at 0.04 on [0, 1] pixels, step ε/10, 50 normalised-gradient ascent
   steps on CE with projection onto the ε-ball and clipping to [0, 1]; an image stops as soon as it
   is misclassified, survivors get ε ← 2ε and the search repeats. y_adv = the model's prediction.
2. Fine-tune with plain CE on the shuffled union D ∪ D_A (the unfiltered train set, D_f with its
   true labels and augmented, plus the un-augmented adversarial set), or D_f ∪ D_A without retain
   data. SGD lr 0.01, momentum 0.9, wd 5e-4, batch 128, 10 epochs, lr ×0.1 after every epoch
   (StepLR(1, 0.1) of ``hyperparam_tune.py``). AMUN + the SalUn mask is ``mask = salun``.

Digits scale (cnn_small): the defaults work as they are.

Departures: ``max_rounds`` (8) caps the radius doublings (the reference loops until every image is
misclassified; survivors keep their last point). ε is on [0, 1] pixels and the attack runs through the
dataset's normalisation (pitfall D9), so it is the reference's radius whatever the normalisation. A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F

from engine._core.events import Event, Log, Progress
from engine.methods._common import augment_generator
from engine.methods._loops import optimise
from engine.methods._params import MaskParams, SGDParams, batch_size_field, epochs_field, lr_field
from engine.methods.base import MethodContext, param
from engine.methods.boundary_shrink import pixel_scale
from engine.methods.registry import register
from engine.models.base import LetheModel, eval_mode
from engine.train.loop import Phase, augment_batch, epoch_batches, phased


@dataclass(frozen=True)
class AmunParams(MaskParams, SGDParams):
    epochs: int = epochs_field(10, "Epochs over the union.")
    lr: float = lr_field(0.01, "SGD learning rate (×step_gamma after every step_epochs).")
    batch_size: int = batch_size_field(128)
    epsilon: float = param(0.04, "Initial L2 radius of the adversarial search on [0, 1] pixels (doubled for survivors).", min=1e-4, max=100.0)
    pgd_steps: int = param(50, "PGD-L2 steps per radius (step size ε/10).", min=1, max=1000)
    max_rounds: int = param(8, "At most this many radius doublings (Lethe's cap; survivors keep their last point).", min=1, max=30)
    use_retain: bool = param(True, "Fine-tune on D ∪ D_A (on) or on D_f ∪ D_A only (off).")
    step_epochs: int = param(1, "StepLR period in epochs.", min=1, max=200)
    step_gamma: float = param(0.1, "StepLR factor.", min=0.0, max=1.0)


def closest_adversarial(
    ctx: MethodContext, model: LetheModel, x_uint8: np.ndarray, y: np.ndarray, p: AmunParams
) -> Generator[Event, None, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """x_adv (N, C, H, W) in [0, 1], y_adv (N,) and the final radius ε (N,) per forget image."""
    mean, std = pixel_scale(ctx)
    x0 = torch.as_tensor(x_uint8, device=ctx.device).float().div(255.0)  # (N, C, H, W)
    yt = torch.as_tensor(y, device=ctx.device, dtype=torch.long)
    n = len(x0)
    adv, eps_used = x0.clone(), torch.full((n,), float("nan"), device=ctx.device)
    todo = torch.arange(n, device=ctx.device)
    eps = p.epsilon
    with eval_mode(model):
        for r in range(p.max_rounds):
            if len(todo) == 0:
                break
            x, yy = x0[todo], yt[todo]
            delta = torch.zeros_like(x)
            active = torch.ones(len(todo), dtype=torch.bool, device=ctx.device)
            for _t in range(p.pgd_steps):
                ctx.token.check()
                d = delta.clone().requires_grad_(True)
                loss = F.cross_entropy(model((x + d - mean) / std), yy, reduction="sum")
                (g,) = torch.autograd.grad(loss, d)
                with torch.no_grad():
                    g = g / g.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, 1, 1, 1)
                    step = delta + (eps / 10) * g
                    scale = (eps / step.flatten(1).norm(dim=1).clamp(min=1e-12)).clamp(max=1.0).view(-1, 1, 1, 1)
                    step = (x + step * scale).clamp(0, 1) - x  # onto the ε-ball, then into [0, 1]
                    delta = torch.where(active.view(-1, 1, 1, 1), step, delta)  # finished images stay put
                    pred = model((x + delta - mean) / std).argmax(1)
                    active &= pred == yy
                if not bool(active.any()):
                    break
            with torch.no_grad():
                adv[todo] = x + delta
                eps_used[todo[~active]] = eps
            todo = todo[active]
            eps *= 2
            yield Progress("unlearn", 0.2 * (r + 1) / p.max_rounds, f"adversarial search, radius {eps / 2:.3g}")
        with torch.no_grad():
            y_adv = torch.cat([model((adv[s : s + 512] - mean) / std).argmax(1) for s in range(0, n, 512)])
    return adv, y_adv, eps_used


@register(
    "amun",
    AmunParams,
    description="AMUN: fine-tune on the data plus, for each forget image, its closest misclassified neighbour.",
    kinds=("sample",),
    needs=("forget", "retain"),
    label="AMUN",
)
def unlearn(ctx: MethodContext, p: AmunParams) -> Generator[Event, None, LetheModel]:
    model = ctx.copy_original()
    x_adv, y_adv, eps = yield from closest_adversarial(ctx, model, ctx.x_forget, ctx.y_forget, p)
    found = int(torch.isfinite(eps).sum())
    yield Log(f"AMUN: {found} of {len(eps)} forget images misclassified within the search (median radius "
              f"{float(eps[torch.isfinite(eps)].median()) if found else float('nan'):.3g})")
    mean, std = pixel_scale(ctx)
    rows = np.arange(len(ctx.bundle.x_train)) if p.use_retain else ctx.split.forget_idx  # real images (train rows)
    n_real = len(rows)
    y_all = torch.as_tensor(ctx.bundle.y_train, dtype=torch.long)
    gen = augment_generator(ctx)

    def loss(idx: np.ndarray) -> torch.Tensor:
        real, fake = idx[idx < n_real], idx[idx >= n_real] - n_real
        parts, labels = [], []
        if len(real):
            parts.append(augment_batch(ctx.normalise(ctx.bundle.x_train[rows[real]]), ctx.recipe.augment, gen))
            labels.append(y_all[rows[real]].to(ctx.device))
        if len(fake):
            fake_t = torch.as_tensor(fake, device=ctx.device)
            parts.append((x_adv[fake_t] - mean) / std)  # adversarial images: no augmentation
            labels.append(y_adv[fake_t])
        return F.cross_entropy(model(torch.cat(parts)), torch.cat(labels))

    # One phase per epoch on one SGD optimiser: StepLR, lr × step_gamma every step_epochs epochs.
    # Every epoch's order is drawn first (the shuffled union's loader), then the augmentation.
    plan = [epoch_batches(n_real + len(x_adv), p.batch_size, gen) for _ in range(p.epochs)]
    phases = [
        Phase(loss, batches, p.sgd(epochs=1, lr=p.lr * p.step_gamma ** (e // p.step_epochs)))
        for e, batches in enumerate(plan)
    ]
    yield from phased(optimise(ctx, model, phases, mask=p), 0.2, 1.0)
    return model

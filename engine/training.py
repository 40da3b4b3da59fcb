"""One training loop, as an event generator, for the original model and the Retrain gold standard.

Retrain is the same :class:`Recipe` on the retain rows only, from a fresh initialisation with the
same seed, so the two differ only in the data they saw.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Generator

import numpy as np
import torch
import torch.nn.functional as F

from engine.cancel import NEVER, CancelToken
from engine.data.bundle import normalise
from engine.errors import BadSpec, Diverged
from engine.events import Event, Metrics, Progress
from engine.models.base import LetheModel

OPTIMISERS = ("sgd", "adam")
SCHEDULES = ("cosine", "step", "none")
AUGMENTATIONS = ("none", "flip_crop", "crop")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained. Defaults suit the small CPU models; see :func:`default_recipe`."""

    epochs: int = 15
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # cosine annealing to 0 over the run; "step" = x0.1 at 50 % and 75 %
    batch_size: int = 64
    augment: str = "none"  # flip_crop for natural images; never flip digits

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise BadSpec(f"recipe.epochs must be >= 1, got {self.epochs}")
        if self.optimizer not in OPTIMISERS:
            raise BadSpec(f"recipe.optimizer must be one of {OPTIMISERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise BadSpec(f"recipe.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.augment not in AUGMENTATIONS:
            raise BadSpec(f"recipe.augment must be one of {AUGMENTATIONS}, got {self.augment!r}")
        if not (self.lr > 0) or self.batch_size < 1:
            raise BadSpec("recipe.lr must be > 0 and recipe.batch_size >= 1")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> "Recipe":
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise BadSpec(f"recipe: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        try:
            return cls(**d)
        except TypeError as exc:
            raise BadSpec(f"recipe: {exc}") from None


def default_recipe(arch: str, image_size: tuple[int, int], channels: int) -> Recipe:
    """Recipes measured to train each architecture well on the CPU (digits: seconds; CIFAR subset: minutes)."""
    natural = channels == 3 and image_size[0] >= 28
    if arch == "resnet18_cifar":
        return Recipe(epochs=30, lr=0.1, batch_size=128, augment="flip_crop" if natural else "none")
    if arch == "convnet":
        return Recipe(epochs=15, lr=0.05, batch_size=128, augment="flip_crop" if natural else "none")
    return Recipe(epochs=15, lr=0.05, batch_size=64, augment="none")


def make_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, schedule: str, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-step schedulers (stepped after each optimiser step)."""
    total_steps = max(1, total_steps)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    if schedule == "step":
        milestones = [int(total_steps * 0.5), int(total_steps * 0.75)]
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    return None


def augment_batch(x: torch.Tensor, mode: str, gen: torch.Generator | None = None) -> torch.Tensor:
    """Random crop with zero padding of size/8 (the mean colour, after normalisation) and, for
    ``flip_crop``, horizontal flips; done on the device, seeded by ``gen``."""
    if mode == "none":
        return x
    n, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen).tolist()
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).tolist()
    out = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    if mode == "flip_crop":
        flip = torch.rand(n, generator=gen) < 0.5
        out[flip.to(out.device)] = out[flip.to(out.device)].flip(-1)
    return out


def epoch_batches(n: int, batch_size: int, gen: torch.Generator, shuffle: bool = True) -> list[np.ndarray]:
    """Index batches for one epoch (seeded order; the last partial batch kept unless it has 1 row,
    which would break BatchNorm in train mode)."""
    order = torch.randperm(n, generator=gen).numpy() if shuffle else np.arange(n)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2] = np.concatenate([batches[-2], batches[-1]])
        batches.pop()
    return batches


def check_finite(loss: torch.Tensor, stage: str, step: int) -> None:
    if not torch.isfinite(loss).all():
        raise Diverged(f"{stage}: the loss became {loss.item()} at step {step}")


def train(
    model: LetheModel,
    x_uint8: np.ndarray,
    y: np.ndarray,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    recipe: Recipe,
    *,
    device: torch.device,
    seed: int = 0,
    token: CancelToken = NEVER,
    stage: str = "train",
    epoch_hook: Callable[[LetheModel, int], Event | None] | None = None,
) -> Generator[Event, None, LetheModel]:
    """Train ``model`` in place on (x, y); yields Progress per step and Metrics per epoch.

    ``epoch_hook(model, step)`` may return an extra event after each epoch (a geometry frame).
    """
    if len(x_uint8) < 2:
        raise BadSpec(f"{stage}: needs at least 2 training images, got {len(x_uint8)}")
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = make_optimizer(model, recipe)
    steps_per_epoch = len(epoch_batches(len(x_uint8), recipe.batch_size, gen, shuffle=False))
    total = steps_per_epoch * recipe.epochs
    sched = make_scheduler(opt, recipe.schedule, total)
    y_all = torch.as_tensor(y, dtype=torch.long)
    step = 0
    for epoch in range(recipe.epochs):
        loss_sum, correct, seen = 0.0, 0, 0
        t0 = time.perf_counter()
        for idx in epoch_batches(len(x_uint8), recipe.batch_size, gen):
            token.check()
            xb = augment_batch(normalise(x_uint8[idx], mean, std, device), recipe.augment, gen)
            yb = y_all[idx].to(device)
            logits = model(xb)  # (B, K)
            loss = F.cross_entropy(logits, yb)
            check_finite(loss, stage, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(1) == yb).sum())
            seen += len(idx)
            yield Progress(stage, step / total, f"epoch {epoch + 1}/{recipe.epochs}")
        yield Metrics(
            stage,
            step,
            {
                "epoch": float(epoch + 1),
                "loss": loss_sum / max(seen, 1),
                "train_acc": correct / max(seen, 1),
                "seconds": time.perf_counter() - t0,
                "lr": float(opt.param_groups[0]["lr"]),
            },
        )
        if epoch_hook is not None:
            extra = epoch_hook(model, step)
            model.train()
            if extra is not None:
                yield extra
    model.eval()
    return model


def is_finite_model(model: torch.nn.Module) -> bool:
    return all(math.isfinite(float(p.detach().abs().sum())) for p in model.parameters())

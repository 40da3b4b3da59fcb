"""One training loop, as an event generator, for the original model and the Retrain gold standard.

Retrain is the same :class:`Recipe` on the retain rows only, from a fresh initialisation with the
same seed, so the two differ only in the data they saw.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Generator

import numpy as np
import torch
import torch.nn.functional as F

from engine._core.cancel import NEVER, CancelToken
from engine.data.bundle import normalise
from engine._core.errors import BadSpec, Diverged
from engine._core.events import Event, Metrics, Progress
from engine.models.base import LetheModel

from engine.train.recipe import Recipe, make_optimizer, make_scheduler


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

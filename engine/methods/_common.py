"""What several methods do alike, written once: the forget / retain rows as batch sources and
cross-entropy on them, the forget-accuracy early stop, forward passes with layer hooks, the one
geometry frame of a one-shot method, and the class-forgetting guard."""
from __future__ import annotations

from typing import TypeAlias

from dataclasses import dataclass
from collections.abc import Callable, Generator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine._core.errors import UnsupportedForgetSet
from engine._core.events import Event
from engine.methods.base import MethodContext
from engine.models.base import LetheModel, eval_mode
from engine.train.loop import EarlyStop, IndexBatches, augment_batch

WeightLayer: TypeAlias = "nn.Linear | nn.Conv2d"  # layers whose weight methods edit directly


@dataclass(frozen=True)
class Rows:
    """Training images (N, C, H, W) uint8 and their labels (N,) long (CPU) that a method trains on."""

    ctx: MethodContext
    x: np.ndarray
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def batches(self, batch_size: int, seed: int) -> IndexBatches:
        """Index batches over these rows, a fresh seeded order every epoch."""
        return IndexBatches(len(self.x), batch_size, seed)

    def images(self, idx: np.ndarray, gen: torch.Generator | None) -> torch.Tensor:
        """(B, C, H, W) normalised on the job's device; augmented as the recipe says when ``gen`` is given."""
        xb = self.ctx.normalise(self.x[idx])
        return xb if gen is None else augment_batch(xb, self.ctx.recipe.augment, gen)

    def labels(self, idx: np.ndarray) -> torch.Tensor:
        return self.y[idx].to(self.ctx.device)

    def cross_entropy(self, model: nn.Module, idx: np.ndarray, gen: torch.Generator | None) -> torch.Tensor:
        """Mean CE of ``model`` on the rows ``idx`` (augmented when ``gen`` is given)."""
        return F.cross_entropy(model(self.images(idx, gen)), self.labels(idx))


def forget_rows(ctx: MethodContext, labels: torch.Tensor | np.ndarray | None = None) -> Rows:
    """D_f with its labels, or with ``labels`` (N_f,) of the method's own (pseudo-labels, neighbours)."""
    return Rows(ctx, ctx.x_forget, torch.as_tensor(ctx.y_forget if labels is None else labels, dtype=torch.long).cpu())


def retain_rows(ctx: MethodContext) -> Rows:
    return Rows(ctx, ctx.x_retain, torch.as_tensor(ctx.y_retain, dtype=torch.long))


def augment_generator(ctx: MethodContext) -> torch.Generator:
    """The generator of a method's augmentation (and random draws), seeded by the job."""
    return torch.Generator().manual_seed(ctx.seed)


def forget_accuracy(ctx: MethodContext, model: nn.Module, max_rows: int = 2048) -> float:
    """Accuracy on (up to ``max_rows`` of) the forget set in eval mode; for early stopping."""
    x = ctx.x_forget[:max_rows]
    y = torch.as_tensor(ctx.y_forget[:max_rows], device=ctx.device)
    correct = 0
    with eval_mode(model), torch.inference_mode():
        for s in range(0, len(x), 512):
            pred = model(ctx.normalise(x[s : s + 512])).argmax(1)
            correct += int((pred == y[s : s + 512]).sum())
    return correct / max(1, len(x))


def stop_at_forget_accuracy(ctx: MethodContext, threshold: float, every: int, label: str) -> EarlyStop | None:
    """Stop once forget-set accuracy is at or below ``threshold`` (None, never, when it is negative)."""
    if threshold < 0:
        return None
    return EarlyStop(lambda m: forget_accuracy(ctx, m) <= threshold, every, label, f"forget accuracy <= {threshold:.0%}")


def forward_with_pre_hooks(
    ctx: MethodContext,
    model: LetheModel,
    hooks: dict[nn.Module, Callable[[nn.Module, tuple[torch.Tensor, ...]], None]],
    x_uint8: np.ndarray,
    batch_size: int,
) -> None:
    """Run ``x`` through ``model`` in eval mode with forward-pre-hooks on the given layers (to collect
    their inputs), checking the cancel token every batch; the hooks are always removed."""
    handles = [module.register_forward_pre_hook(fn) for module, fn in hooks.items()]
    try:
        with eval_mode(model), torch.no_grad():
            for s in range(0, len(x_uint8), batch_size):
                ctx.token.check()
                model(ctx.normalise(x_uint8[s : s + batch_size]))
    finally:
        for h in handles:
            h.remove()


def final_frame(ctx: MethodContext, model: LetheModel) -> Generator[Event, None, None]:
    """The one geometry frame of a one-shot method's result (none without a probe)."""
    frame = ctx.geometry(model, "unlearn", 1)
    if frame is not None:
        yield frame


def require_classes(ctx: MethodContext, why: str) -> tuple[int, ...]:
    """The forgotten classes; :class:`UnsupportedForgetSet` with ``why`` for a sample-level forget set."""
    if ctx.split.kind != "class" or not ctx.split.forget_classes:
        raise UnsupportedForgetSet(why)
    return tuple(ctx.split.forget_classes)

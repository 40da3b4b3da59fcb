"""The one optimisation loop every first-order method runs (as SalUn's ``iterative_unlearn``).

It owns the optimiser step, the schedule, cancel checks, progress, NaN checks, metric and geometry
events; a method supplies only ``loss_fn(step) -> loss``.
"""
from __future__ import annotations

import time
from typing import Callable, Generator, Iterator, TypeVar

import numpy as np
import torch

from engine._core.events import Event, Metrics, Progress
from engine.methods.base import MethodContext
from engine.models.base import LetheModel, eval_mode
from engine.train.loop import check_finite, epoch_batches
from engine.train.recipe import make_scheduler


MAX_FRAMES = 25
T = TypeVar("T")


def sgd(
    model: torch.nn.Module,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    nesterov: bool = False,
) -> torch.optim.SGD:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov and momentum > 0)


def cycle_batches(n: int, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    """Endless seeded index batches over ``n`` rows, epoch after epoch."""
    gen = torch.Generator().manual_seed(seed)
    while True:
        yield from epoch_batches(n, min(batch_size, max(n, 1)), gen)


def steps_for(n: int, batch_size: int, epochs: int, min_steps: int = 0) -> int:
    """Optimiser steps for ``epochs`` passes over ``n`` rows, at least ``min_steps``."""
    per_epoch = max(1, -(-n // max(1, batch_size)))
    return max(per_epoch * epochs, min_steps)


def optimise(
    ctx: MethodContext,
    model: LetheModel,
    loss_fn: Callable[[int], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    steps: int,
    *,
    schedule: str = "none",
    stage: str = "unlearn",
    early_stop: Callable[[LetheModel], bool] | None = None,
    early_stop_every: int = 10,
    after_step: Callable[[LetheModel], None] | None = None,
    before_step: Callable[[LetheModel], None] | None = None,
) -> Generator[Event, None, int]:
    """Run ``steps`` optimiser steps; returns the number actually run (early stop may end sooner).

    ``before_step`` runs between ``backward()`` and ``optimizer.step()`` (a gradient hook: masking
    or projecting ``p.grad``); ``after_step`` runs after each optimiser step (e.g. re-applying a
    weight mask, which must come after weight decay and momentum have moved the weights).
    """
    scheduler = make_scheduler(optimizer, schedule, steps)
    # Every few steps, but at most ~MAX_FRAMES frames a run: a frame is a forward pass over the probe set.
    geometry_every = max(1, ctx.geometry_every, steps // MAX_FRAMES)
    first = ctx.geometry(model, stage, 0)
    if first is not None:
        yield first
    last_metrics = time.perf_counter()
    step = 0
    for step in range(1, steps + 1):
        ctx.token.check()
        loss = loss_fn(step)
        check_finite(loss, stage, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if before_step is not None:
            before_step(model)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if after_step is not None:
            with torch.no_grad():
                after_step(model)
        yield Progress(stage, step / steps, f"step {step}/{steps}")
        now = time.perf_counter()
        if now - last_metrics > 0.1 or step == steps:
            last_metrics = now
            yield Metrics(stage, step, {"loss": float(loss.detach()), "lr": float(optimizer.param_groups[0]["lr"])})
        if step % geometry_every == 0:
            frame = ctx.geometry(model, stage, step)
            if frame is not None:
                yield frame
        if early_stop is not None and step % early_stop_every == 0 and early_stop(model):
            break
    if step % geometry_every != 0:
        frame = ctx.geometry(model, stage, step)
        if frame is not None:
            yield frame
    model.eval()
    return step


def phased(events: Generator[Event, None, T], lo: float, hi: float) -> Generator[Event, None, T]:
    """Forward a sub-stage's events with Progress fractions mapped into [lo, hi]; return its value
    (for methods that run several loops in a row, so the job's progress bar never goes back)."""
    while True:
        try:
            ev = next(events)
        except StopIteration as stop:
            return stop.value
        if isinstance(ev, Progress):
            ev = Progress(ev.stage, lo + (hi - lo) * max(0.0, min(1.0, ev.fraction)), ev.message)
        yield ev


def forget_accuracy(ctx: MethodContext, model: LetheModel, max_rows: int = 2048) -> float:
    """Accuracy on (up to ``max_rows`` of) the forget set in eval mode; for early stopping."""
    x = ctx.x_forget[:max_rows]
    y = torch.as_tensor(ctx.y_forget[:max_rows], device=ctx.device)
    correct = 0
    with eval_mode(model), torch.inference_mode():
        for s in range(0, len(x), 512):
            pred = model(ctx.normalise(x[s : s + 512])).argmax(1)
            correct += int((pred == y[s : s + 512]).sum())
    return correct / max(1, len(x))


def forward_with_pre_hooks(
    ctx: MethodContext,
    model: LetheModel,
    hooks: dict[torch.nn.Module, Callable],
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

"""What POUR-P and POUR-D share: the forget direction(s) and the projector that removes them.

pour.md: the direction of class u is the head row w_u (default) or the mean forget-class feature;
for several classes P = I - V^T (V V^T)^+ V with V the normalised directions.
"""
from __future__ import annotations

import torch

from engine._core.errors import UnsupportedForgetSet
from engine.train.features import extract
from engine.methods.base import MethodContext
from engine.live.simplex import projector_removing_torch

DIRECTIONS = ("head", "class_mean")


def require_class_forgetting(ctx: MethodContext, name: str) -> tuple[int, ...]:
    if ctx.split.kind != "class" or not ctx.split.forget_classes:
        raise UnsupportedForgetSet(
            f"{name} is class unlearning: it removes whole classes, not individual images",
            hint="tick classes to forget, or choose a sample-level method",
        )
    return tuple(ctx.split.forget_classes)


def forget_directions(ctx: MethodContext, classes: tuple[int, ...], source: str, centre: bool) -> torch.Tensor:
    """(k, d) float64 directions on the CPU, one per forgotten class."""
    if source == "head":
        return ctx.original.head.weight.detach().to("cpu", torch.float64)[list(classes)]  # (k, d)
    z = extract(
        ctx.original, ctx.bundle.x_train, ctx.bundle.mean, ctx.bundle.std, device=ctx.device, token=ctx.token
    ).features
    zt = torch.as_tensor(z, dtype=torch.float64)  # (N, d)
    y = torch.as_tensor(ctx.bundle.y_train)
    means = torch.stack([zt[y == c].mean(0) for c in classes])  # (k, d)
    if centre:
        means = means - zt.mean(0, keepdim=True)
    return means


def projector(ctx: MethodContext, classes: tuple[int, ...], source: str, centre: bool) -> torch.Tensor:
    """P (d, d) float64 on the CPU: symmetric, idempotent, P v = 0 for every forget direction v."""
    return projector_removing_torch(forget_directions(ctx, classes, source, centre))

"""Retrain from scratch on the retain set (methods.md A0): the exact, expensive reference.

Departures: the retrained model uses the original's recipe and seed (the references train their own schedules:
SalUn 160 epochs, the SSD repo resets layers with ``reset_parameters``); it is cached per (dataset, forget
set, architecture, recipe, seed). A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

from engine._core.events import Event
from engine.methods.base import MethodContext
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.pretrained import obtain_retrain


@dataclass(frozen=True)
class RetrainParams:
    """Retrain uses the original model's own recipe, so it has no hyperparameters of its own."""


def retrain_passes(ctx: MethodContext) -> float:
    """Recipe epochs over the retain rows, in training-set units (the cached model cost this once)."""
    return ctx.recipe.epochs * len(ctx.split.retain_idx) / max(1, len(ctx.bundle.x_train))


@register(
    "retrain",
    RetrainParams,
    description="Gold standard: train a fresh model on the retain set with the original recipe.",
    needs=("retain",),
    label="Retrain",
    is_reference=True,
    fb_passes=retrain_passes,
)
def unlearn(ctx: MethodContext, p: RetrainParams) -> Generator[Event, None, LetheModel]:
    frames: list[int] = []

    def per_epoch(m: LetheModel, step: int) -> Event | None:
        frames.append(step)
        return ctx.geometry(m, "unlearn", step)

    model = yield from obtain_retrain(
        ctx.bundle,
        ctx.split,
        ctx.original.config["arch"],
        ctx.recipe,
        seed=ctx.seed,
        device=ctx.device,
        token=ctx.token,
        use_cache=bool(ctx.extras.get("use_cache", True)),
        epoch_hook=per_epoch,
    )
    model = model.to(ctx.device)
    if not frames:  # loaded from the cache: show the retrained geometry once
        frame = ctx.geometry(model, "unlearn", 1)
        if frame is not None:
            yield frame
    return model

"""The method side of the one training loop: a :class:`MethodContext` -> :func:`engine.train.loop.run_phases`.

A first-order method builds its :class:`~engine.train.loop.Phase` s (``loss(batch)``, batches, an
:class:`~engine.train.loop.OptimSpec`) and calls :func:`optimise`; the loop owns optimisers, modes,
steps, cancel, finiteness and events. This adapter adds what comes from the context: the cancel
token, the "unlearn" stage, live geometry frames and the update mask of :class:`MaskParams`.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Generator, Sequence

import torch
from torch import nn

from engine._core.events import Event
from engine.methods._params import MaskParams
from engine.methods.base import MethodContext
from engine.methods.masks import build_mask
from engine.models.base import LetheModel
from engine.train.loop import EarlyStop, Phase, StepHook, run_phases


def optimise(
    ctx: MethodContext,
    model: nn.Module,
    phases: Sequence[Phase[Any]],
    *,
    mode: str = "train",
    mask: MaskParams | None = None,
    mask_batch_size: int = 256,
    hooks: Sequence[StepHook] = (),
    early_stop: EarlyStop | None = None,
    params: Sequence[torch.Tensor] | None = None,
    live: bool = True,
) -> Generator[Event, None, int]:
    """Run ``phases`` on ``model`` under the job's cancel token; returns the steps run.

    ``mask``: the method's mask fields; the mask (SalUn saliency, or the feasible test) is built
    from the model as it is when this is called and applied around every step, before ``hooks``.
    ``live``: stream Metrics and Geometry frames of ``model`` (off for helper networks: a VAE, noise).
    """
    all_hooks = list(hooks)
    if mask is not None:
        if not isinstance(model, LetheModel):
            raise TypeError("an update mask applies to a LetheModel")
        update_mask = build_mask(
            ctx, model, mask.mask, ratio=mask.mask_ratio, delta=mask.mask_delta, micro=mask.mask_micro, batch_size=mask_batch_size
        )
        if update_mask is not None:
            all_hooks.insert(0, update_mask)
    frame = None
    if live and isinstance(model, LetheModel):
        lethe_model = model

        def frame(step: int) -> Event | None:
            return ctx.geometry(lethe_model, "unlearn", step)

    return (
        yield from run_phases(
            model, phases, token=ctx.token, stage="unlearn", mode=mode, params=params, hooks=all_hooks,
            early_stop=early_stop, geometry=frame, geometry_every=ctx.geometry_every, step_metrics=live,
        )
    )

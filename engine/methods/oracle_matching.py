"""Oracle Matching (Georgiev et al., ICLR 2025, "Attribute-to-Delete: Machine Unlearning via Datamodel
Matching", arXiv 2410.23232; methods.md A15).

DMM predicts the logits a model retrained without D_f would output and fine-tunes the model to
match them; Oracle Matching (OM) is the same with an *actual* retrained model's logits as targets,
a cheap upper-bound reference available when the retrained model is cached. Loss: squared error
between the model's and the oracle's logits, mean over the batch, on a mixture of forget and
retain points (each step one forget and one retain batch). The optimiser and schedule are not
in the spec ([I]): SGD lr 0.01 (mom 0.9, wd 5e-4), 5 epochs over the retain set.

Digits scale (cnn_small; the ``small`` preset): lr 3e-3 (lr 0.01 overshoots the oracle's large logits: retained-class
accuracy 0.876 after 2 epochs vs 0.975 at 3e-3).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import torch

from engine._core.errors import BadSpec
from engine._core.events import Event
from engine.methods._loops import cycle_batches, optimise, sgd, steps_for
from engine.methods.base import MethodContext, param
from engine.methods.masks import build_mask, mask_delta_field, mask_field, mask_hooks, mask_micro_field, mask_ratio_field
from engine.methods.registry import register
from engine.models.base import LetheModel, eval_mode
from engine.train.loop import augment_batch


@dataclass(frozen=True)
class OracleMatchingParams:
    epochs: int = param(5, "Passes over the retain set (each step also takes one forget batch).", min=1, max=200)
    lr: float = param(0.01, "SGD learning rate (digits cnn_small: 3e-3).", min=1e-7, max=1.0)
    momentum: float = param(0.9, "SGD momentum.", min=0.0, max=0.999)
    weight_decay: float = param(5e-4, "L2 weight decay.", min=0.0, max=0.1)
    batch_size: int = param(128, "Retain images per step.", min=2, max=4096)
    forget_batch_size: int = param(64, "Forget images per step.", min=1, max=4096)
    mask: str = mask_field()
    mask_ratio: float = mask_ratio_field()
    mask_delta: float = mask_delta_field()
    mask_micro: int = mask_micro_field()


@register(
    "oracle_matching",
    OracleMatchingParams,
    description="Oracle Matching: fine-tune so the logits match those of the retrained model (needs the cached retrain).",
    needs=("forget", "retain"),
    label="Oracle Matching",
    presets={"small": {"lr": 3e-3}},
)
def unlearn(ctx: MethodContext, p: OracleMatchingParams) -> Generator[Event, None, LetheModel]:
    oracle = ctx.reference
    if oracle is None:
        raise BadSpec(
            "reference: Oracle Matching needs the retrained model as its oracle, but the job has none",
            hint='set "reference": "retrain" in the job spec (the retrained model is cached after its first run)',
        )
    model = ctx.copy_original().train()
    x_f, x_r = ctx.x_forget, ctx.x_retain
    forget_batches = cycle_batches(len(x_f), p.forget_batch_size, ctx.seed + 1)
    retain_batches = cycle_batches(len(x_r), p.batch_size, ctx.seed)
    gen = torch.Generator().manual_seed(ctx.seed)

    def loss_fn(step: int) -> torch.Tensor:
        xb = torch.cat([ctx.normalise(x_f[next(forget_batches)]), ctx.normalise(x_r[next(retain_batches)])])
        xb = augment_batch(xb, ctx.recipe.augment, gen)  # (B_f + B_r, C, H, W)
        with eval_mode(oracle), torch.no_grad():
            target = oracle(xb)  # (B, K) the oracle's logits
        return (model(xb) - target).pow(2).sum(1).mean()

    opt = sgd(model, p.lr, p.momentum, p.weight_decay)
    mask = build_mask(ctx, model, opt, p.mask, ratio=p.mask_ratio, delta=p.mask_delta, micro=p.mask_micro)
    yield from optimise(ctx, model, loss_fn, opt, steps_for(len(x_r), p.batch_size, p.epochs), **mask_hooks(mask))
    return model

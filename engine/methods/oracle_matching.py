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

Departures: Oracle Matching, not DMM (datamodels need many trained models); the optimiser and schedule are
Lethe's choice (SGD 0.01, 5 epochs; not in the paper's text). A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

import numpy as np
import torch

from engine._core.errors import BadSpec
from engine._core.events import Event
from engine.methods._common import augment_generator, forget_rows, retain_rows
from engine.methods._loops import optimise
from engine.methods._params import MaskParams, SGDParams, batch_size_field, epochs_field, lr_field
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel, eval_mode
from engine.train.loop import Phase, Zipped, augment_batch


@dataclass(frozen=True)
class OracleMatchingParams(MaskParams, SGDParams):
    epochs: int = epochs_field(5, "Passes over the retain set (each step also takes one forget batch).")
    lr: float = lr_field(0.01, "SGD learning rate (digits cnn_small: 3e-3).")
    batch_size: int = batch_size_field(128, "Retain images per step.")
    forget_batch_size: int = param(64, "Forget images per step.", min=1, max=4096)


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
    model = ctx.copy_original()
    forget, retain, gen = forget_rows(ctx), retain_rows(ctx), augment_generator(ctx)

    def loss(batch: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:
        ir, jf = batch
        xb = augment_batch(torch.cat([forget.images(jf, None), retain.images(ir, None)]), ctx.recipe.augment, gen)  # (B_f + B_r, C, H, W)
        with eval_mode(oracle), torch.no_grad():
            target = oracle(xb)  # (B, K) the oracle's logits
        out: torch.Tensor = (model(xb) - target).pow(2).sum(1).mean()
        return out

    batches = Zipped(retain.batches(p.batch_size, ctx.seed), forget.batches(p.forget_batch_size, ctx.seed + 1))
    yield from optimise(ctx, model, [Phase(loss, batches, p.sgd())], mask=p)
    return model

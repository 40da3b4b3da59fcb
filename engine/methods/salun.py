"""SalUn: saliency-masked Random Label (Fan et al., ICLR 2024; methods.md A6; ``generate_mask.py``,
``unlearn/RL.py``).

1. Mask: in eval mode, g = Σ_batches ∇θ[−CE(f_θ(x), y)] over D_f; m = 1 on the global top-r of |g|
   (r = 0.5), over every named parameter, BatchNorm included.
2. Random Label (A3) in which gradients are multiplied by m before each step and, after it, the
   non-salient weights are restored and their momentum zeroed (SalUn #33, pitfall D2). Both halves
   live in :mod:`engine.methods.masks` and :mod:`engine.methods.random_label`.
Defaults (README example, CIFAR-10 4,500 forgets): 10 epochs, lr 0.013, batch 256, SGD mom 0.9, wd 5e-4.

Digits scale (cnn_small; the ``small`` preset): batch 32, lr 0.05, 3 epochs (batch 256 is one forget step per epoch).

Departures: none in the mask or the update (global top-r of |Σ ∇(−CE)| over every named parameter, BatchNorm
included; weights restored and momentum masked after each step, SalUn #33). SalUn-soft (``RL_proximal``) is
not offered. A batch of a single image passes BatchNorm with the layer's running statistics
(``engine.train.loop.batchnorm_single_row``) where the reference would normalise it by its own statistics, or
raise when that leaves one value per channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

from engine._core.events import Event
from engine.methods._params import MaskParams, SGDParams, batch_size_field, epochs_field, lr_field
from engine.methods.base import MethodContext, param
from engine.methods.random_label import EPOCHS_HELP, SMALL, run_random_label
from engine.methods.registry import register
from engine.models.base import LetheModel


@dataclass(frozen=True)
class SalunParams(SGDParams):
    epochs: int = epochs_field(10, EPOCHS_HELP)
    lr: float = lr_field(0.013, "SGD learning rate (SalUn README: 0.013; digits cnn_small: 0.05).")
    batch_size: int = batch_size_field(256, "Images per step (digits cnn_small: 32).")
    ratio: float = param(0.5, "Fraction r of weights (by forget-gradient saliency, ranked globally) that may move.", min=0.01, max=1.0)
    other_classes_only: bool = param(False, "Random labels from the other classes only (off = SalUn's uniform draw).")


@register(
    "salun",
    SalunParams,
    description="SalUn: Random Label restricted to the most forget-salient half of the weights.",
    needs=("forget", "retain"),
    label="SalUn",
    presets={"small": SMALL},
)
def unlearn(ctx: MethodContext, p: SalunParams) -> Generator[Event, None, LetheModel]:
    return (yield from run_random_label(ctx, p, p.other_classes_only, MaskParams(mask="salun", mask_ratio=p.ratio)))

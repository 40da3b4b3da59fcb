"""Hyperparameters many methods share, defined once: field helpers and the dataclass mixins
:class:`SGDParams` (epochs, lr, momentum, weight decay, batch size) and :class:`MaskParams`
(``mask = none | salun | feasible`` and its options, see :mod:`engine.methods.masks`).

A method's frozen Params dataclass inherits the mixins and re-declares only the fields whose paper
default (or help text) differs, with the same helper, e.g.
``lr: float = lr_field(1e-4, "SGD learning rate (paper 1e-4; digits cnn_small: 1e-3).")``.
Inherited fields come first in ``dataclasses.fields`` (mixins in reverse order of the bases), then
the method's own; names never change, so JobSpecs, presets and the studio form are unaffected.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.methods.base import param
from engine.methods.masks import MASKS
from engine.train.loop import OptimSpec


# ---------------------------------------------------------------- field helpers (one definition each)
def epochs_field(default: int, help: str = "Passes over the method's training data.", *, hi: int = 200) -> Any:
    return param(default, help, min=1, max=hi)


def lr_field(default: float, help: str = "SGD learning rate.", *, lo: float = 1e-7) -> Any:
    return param(default, help, min=lo, max=1.0)


def momentum_field(default: float = 0.9, help: str = "SGD momentum.") -> Any:
    return param(default, help, min=0.0, max=0.999)


def weight_decay_field(default: float = 5e-4, help: str = "L2 weight decay.") -> Any:
    return param(default, help, min=0.0, max=0.1)


def batch_size_field(default: int, help: str = "Images per step.") -> Any:
    return param(default, help, min=2, max=4096)


def min_steps_field(default: int, help: str, *, lo: int = 0) -> Any:
    return param(default, help, min=lo, max=100000)


def early_stop_acc_field(default: float = 0.01, help: str = "Stop once forget-set accuracy is at or below this (negative: never).") -> Any:
    return param(default, help, min=-1.0, max=1.0)


# ---------------------------------------------------------------- the mixins
@dataclass(frozen=True)
class SGDParams:
    """Epochs, SGD learning rate, momentum, weight decay and batch size (defaults: SalUn's fine-tune)."""

    epochs: int = epochs_field(10)
    lr: float = lr_field(0.01)
    momentum: float = momentum_field()
    weight_decay: float = weight_decay_field()
    batch_size: int = batch_size_field(256)

    def sgd(
        self, *, schedule: str = "none", nesterov: bool = False, min_steps: int = 0, epochs: int | None = None, lr: float | None = None
    ) -> OptimSpec:
        """The OptimSpec of these fields; ``epochs`` / ``lr`` override the fields (a phase per epoch)."""
        return OptimSpec(
            "sgd", lr=self.lr if lr is None else lr, momentum=self.momentum, weight_decay=self.weight_decay, nesterov=nesterov,
            schedule=schedule, epochs=self.epochs if epochs is None else epochs, min_steps=min_steps,
        )


@dataclass(frozen=True)
class MaskParams:
    """The update mask every first-order method accepts (see :mod:`engine.methods.masks`)."""

    mask: str = param(
        "none",
        "Update mask: none; salun = only the top-r weights by forget-gradient saliency move (SalUn); "
        "feasible = only coordinates whose update provably does not hurt the retain loss (A16, Lethe's design).",
        choices=MASKS,
    )
    mask_ratio: float = param(0.5, "SalUn mask: fraction r of weights allowed to move (paper default 0.5).", min=0.01, max=1.0)
    mask_delta: float = param(0.05, "Feasible mask: significance level δ of the per-coordinate retain-gradient test.", min=1e-4, max=0.5)
    mask_micro: int = param(4, "Feasible mask: retain micro-batches k per step (mean and standard error of the retain gradient).", min=2, max=64)


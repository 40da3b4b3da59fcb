"""POUR-D: projection-guided distillation of the encoder (Le et al., CVPR 2026, arXiv 2511.19339;
pour.md "POUR-D").

The student (a copy of the original, head frozen, BatchNorm statistics frozen) is trained on the
forget set only so that θ_s(x) ≈ P θ_o(x): loss = mean ‖θ_s(x) − P θ_o(x)‖² over elements. SGD with
Nesterov momentum and cosine annealing over the run, as in the authors' port.

Departures: where Lethe departs from the paper (which gives neither epochs, a stopping rule nor
a step floor), and why (issue 12):

- **Direction.** With ``direction = class_mean`` the direction is centred by the global mean, as
  POUR-P's default (uncentred ReLU means point away from the head row: cos 0.63 on digits).

- **Stopping rule judged on unseen images.** A fraction ``holdout`` (default 20 %) of the forget
  set, drawn per class with the job's seed, is never trained on; the early stop fires when *those*
  images' accuracy is at or below ``early_stop_acc``. The rule before issue 12 judged the training
  forget images, which the student fits before unseen images of the class follow (digits class 3:
  ≤ 1 % on the training images, 4.5 ± 1.3 % on the class's test images). ``holdout = 0`` restores
  it. The rule also watches the feature-space target on those images, the relative error
  e = ‖θ_s − P θ_o‖ / ‖(I − P) θ_o‖ (1 at the start, 0 on the target): it stops only once e has
  plateaued (so not in the first steps' transient, where the forget logit dips while every
  class's features are disturbed: digits, step 5, 0 % forget but 91 % retain accuracy).
  :class:`HeldOutJudge`. The test split is never read: it is for evaluation only. The closing log line gives the judge's accuracy and e.
- **A step budget that scales with the forget set.** ``epochs`` passes over the trained forget
  images in batches of ``batch_size`` (defaults 30 and 32), with no floor (``min_steps`` 0). The
  former fixed floor of 200 steps cost 2.07× Retrain on the 796-image PathMNIST subset; the budget
  is (1 − ``holdout``)·``epochs``/(Retrain's epochs · C) of Retrain's image passes for C balanced
  classes (0.16 for 30 vs 15 epochs and 10 classes), plus the judge's forward passes.
  The recipe before issue 12: ``epochs=10, batch_size=128, min_steps=200, holdout=0``.
- **At small scale the paper's loss does not reach ≤ 1 % on unseen images.** The features are
  means of ReLU maps (≥ 0), so the target P θ_o(x), which has negative entries, is not reachable:
  the loss plateaus with part of the forget direction left, and more steps do not help (digits:
  a floor of ~2.7 % after 100+ steps). The option ``project_forget_rows`` (Lethe's; the ``small``
  preset) folds P into the forgotten classes' head rows only, w_u ← P w_u (= 0 for the head
  direction): the forget logit is the bias b_u on every image, the other rows stay as they were.
  pour.md's ``project_head`` (W ← W P, every row) also forgets, but moves the other classes'
  logits. Either fold is done *before* training (the head is frozen and the loss never reads it,
  so the encoder trains exactly as without it) so that the stopping rule judges the model that
  is returned.

Measured (``bench methods --forget class:3 --only retrain,pour_d,pour_d@small``, cnn_small,
test-forget / test-retain % and time ÷ Retrain in the same run; 2 shared cores under load 7–12):

| | digits (3 seeds) | PathMNIST subset (seed 0) |
|---|---|---|
| Retrain | 0.0 / 99.5 / 1 | 0.0 / 67.0 / 1 |
| paper loss (defaults) | 9.0 ± 3.4 / 98.0 / 0.18 | 14.3 / 64.8 / 0.11 |
| ``small`` (forget rows) | 0.0 ± 0.0 / 97.6 / 0.058 | 0.0 / 63.1 / 0.017 |
| ``project_head`` | 0.0 ± 0.0 / 99.4 / 0.059 | 0.0 / 56.8 / 0.023 |
| before issue 12 (README) | 4.5 ± 1.3 / – / 0.65 | – / – / 2.07 |
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F

from engine._core.events import Event, Log
from engine.train.features import extract
from engine.methods._loops import optimise
from engine.methods._params import SGDParams, batch_size_field, early_stop_acc_field, epochs_field, lr_field, min_steps_field, momentum_field
from engine.methods.base import MethodContext, param
from engine.methods.pour.common import DIRECTIONS, projector, require_class_forgetting
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import EarlyStop, IndexBatches, Phase, Zipped

JUDGE_EVERY = 5  # steps between two looks of the stopping rule (a forward pass over the held-out images)


@dataclass(frozen=True)
class PourDParams(SGDParams):
    epochs: int = epochs_field(30, "Passes over the trained forget images: the step budget scales with the forget set.", hi=500)
    lr: float = lr_field(0.01, "SGD learning rate (Nesterov momentum 0.9, cosine annealing over the budget).", lo=1e-6)
    momentum: float = momentum_field(0.9, "SGD momentum (Nesterov).")
    batch_size: int = batch_size_field(32, "Forget images per step.")
    min_steps: int = min_steps_field(0, "At least this many optimiser steps (0: the budget is epochs passes alone).", lo=0)
    holdout: float = param(
        0.2, "Fraction of the forget set never trained on: the stopping rule's judge (0: judge on the training forget images).",
        min=0.0, max=0.9,
    )
    early_stop_acc: float = early_stop_acc_field(0.01, "Stop once the held-out forget images' accuracy is at or below this (negative: never).")
    direction: str = param("head", "Forget direction: the classifier row (paper) or the class mean feature.", choices=DIRECTIONS)
    retain_weight: float = param(
        0.0, "Lethe extension (off in the paper): weight of ‖θ_s(x_r) − θ_o(x_r)‖² on retain images.", min=0.0, max=100.0
    )
    project_head: bool = param(False, "Also fold P into the frozen head (W ← W P): the forget logit becomes its bias.")
    project_forget_rows: bool = param(
        False, "Lethe option (the small preset): fold P into the forgotten classes' head rows only (w_u ← P w_u), other rows untouched."
    )


def holdout_split(y_forget: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(trained, held out) row indices of the forget set, disjoint, sorted, covering every row.

    Per class, round(fraction · n_c) rows are held out (drawn with ``seed``), never all of a class's
    rows; ``fraction`` 0, or a forget set of one image, holds out none.
    """
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for c in np.unique(y_forget):
        rows = np.flatnonzero(y_forget == c)
        k = min(round(fraction * len(rows)), len(rows) - 1)
        if k > 0:
            held.append(rng.choice(rows, size=k, replace=False))
    out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    return np.setdiff1d(np.arange(len(y_forget)), out), out


class HeldOutJudge:
    """The stopping rule: looks at the judge images' features through the student every few steps.

    Each look measures (one feature pass) their accuracy and the relative target error
    e = ‖θ_s(x) − P θ_o(x)‖_F / ‖(I − P) θ_o(x)‖_F (1 at the start, 0 on the target). It says
    stop once the accuracy is at or below ``threshold`` (negative: never) with e plateaued
    (improved by less than ``PLATEAU`` of itself since the last look).
    """

    PLATEAU = 0.02

    def __init__(
        self, ctx: MethodContext, student: LetheModel, x: np.ndarray, y: np.ndarray, z_o: torch.Tensor, P: torch.Tensor, threshold: float
    ) -> None:
        """``x`` (n, C, H, W) uint8 judge images, ``y`` (n,) their labels, ``z_o`` (n, d) their original features."""
        self.ctx, self.student, self.x, self.threshold = ctx, student, x, threshold
        self.y = torch.as_tensor(y, device=ctx.device)
        self.target = z_o @ P
        self.scale = max(float(torch.linalg.norm(z_o - self.target)), 1e-12)
        self.error, self.accuracy, self.flat = 1.0, 1.0, False

    def _pass(self, model: LetheModel) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (n, d), predictions (n,)) of the judge images through ``model`` (eval mode, cancellable)."""
        out = extract(model, self.x, self.ctx.bundle.mean, self.ctx.bundle.std, device=self.ctx.device, token=self.ctx.token)
        z = torch.as_tensor(out.features, device=self.ctx.device, dtype=torch.float32)
        return z, torch.as_tensor(out.logits, device=self.ctx.device).argmax(1)

    def look(self) -> None:
        """Measure accuracy and target error now (updates ``error``, ``accuracy``, ``flat``)."""
        z, pred = self._pass(self.student)
        self.accuracy = float((pred == self.y).float().mean())
        error = float(torch.linalg.norm(z - self.target)) / self.scale
        self.flat = error > self.error * (1 - self.PLATEAU)
        self.error = error

    def done(self, _model: object) -> bool:
        if self.threshold < 0:
            return False  # never stops: no need to look
        self.look()
        return self.flat and self.threshold >= 0 and self.accuracy <= self.threshold


@register(
    "pour_d",
    PourDParams,
    description="POUR-D: distil the encoder so its features match the projected original (forget set only).",
    kinds=("class",),
    needs=("forget",),
    label="POUR-D",
    presets={"small": {"project_forget_rows": True}},
)
def unlearn(ctx: MethodContext, p: PourDParams) -> Generator[Event, None, LetheModel]:
    classes = require_class_forgetting(ctx, "POUR-D")
    P = projector(ctx, classes, p.direction, True).to(ctx.device, torch.float32)  # (d, d); class_mean centred, as POUR-P
    trained, held = holdout_split(np.asarray(ctx.y_forget), p.holdout, ctx.seed)
    x_f = ctx.x_forget[trained]  # (N_t, C, H, W): the only forget images the student trains on
    feats = extract(ctx.original, ctx.x_forget, ctx.bundle.mean, ctx.bundle.std, device=ctx.device, token=ctx.token).features
    z_o = torch.as_tensor(feats, device=ctx.device, dtype=torch.float32)  # (N_f, d): θ_o of the whole forget set, one pass
    targets = z_o[trained] @ P  # (N_t, d): teacher P θ_o(x)

    student = ctx.copy_original()
    with torch.no_grad():  # the head is frozen and the loss never reads it: folding now = folding after
        W = student.head.weight  # (C, d)
        if p.project_head:
            W.copy_(W @ P)
        elif p.project_forget_rows:
            W[list(classes)] = W[list(classes)] @ P  # P symmetric: each forget row w_u ← P w_u
    student.requires_grad_(True)
    student.head.requires_grad_(False)  # head frozen; BatchNorm statistics frozen (mode below)
    x_r = ctx.x_retain

    def loss(batch: tuple[np.ndarray, np.ndarray | None]) -> torch.Tensor:
        idx, ridx = batch
        out = F.mse_loss(student.features(ctx.normalise(x_f[idx])), targets[idx])
        if ridx is not None:
            xr = ctx.normalise(x_r[ridx])
            with torch.no_grad():
                zr_o = ctx.original.features(xr)
            out = out + p.retain_weight * F.mse_loss(student.features(xr), zr_o)
        return out

    # the judge: held-out forget images (never trained on), or the training ones when none are held out
    x_judge, y_judge = (ctx.x_forget[held], ctx.y_forget[held]) if len(held) else (x_f, ctx.y_forget[trained])
    which = f"{len(held)} held-out forget images (not trained on)" if len(held) else "the training forget images"
    judge = HeldOutJudge(ctx, student, x_judge, y_judge, z_o[held] if len(held) else z_o[trained], P, p.early_stop_acc)
    stop = EarlyStop(judge.done, JUDGE_EVERY, "POUR-D", f"judged on {which}")
    forget_batches = IndexBatches(len(x_f), p.batch_size, ctx.seed)
    retain_batches = IndexBatches(len(x_r), p.batch_size, ctx.seed + 1) if p.retain_weight > 0 else [None]
    phase = Phase(loss, Zipped(forget_batches, retain_batches), p.sgd(schedule="cosine", nesterov=True, min_steps=p.min_steps))
    steps = yield from optimise(ctx, student, [phase], mode="frozen_bn", early_stop=stop)
    judge.look()
    yield Log(f"POUR-D: {steps} steps on {len(x_f)} forget images; judged on {which}: accuracy {judge.accuracy:.1%}, "
              f"target error ‖θ_s − P θ_o‖ {judge.error:.2f} of the original's")
    student.requires_grad_(True)
    return student

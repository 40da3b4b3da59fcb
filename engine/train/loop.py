"""The one training loop: originals, the Retrain gold standard and every first-order unlearning method.

A run is a list of :class:`Phase` s executed in order. Each phase names its loss (``loss(batch) ->
scalar``), its batches (one iteration of ``batches`` is one epoch) and an :class:`OptimSpec`
(optimiser, learning rate, momentum, weight decay, schedule, length). :func:`run_phases` owns the rest:
building the optimisers, train / eval / frozen-BatchNorm modes, drawing batches, zero_grad / backward /
step, gradient and weight hooks (``before_step`` / ``after_step``, e.g. update masks), the cancel check
before every step, finiteness of every loss (and of the trained weights at the end), and the events
(Progress every step, throttled Metrics, Geometry frames).

Phases that name the same optimiser ``slot`` share one optimiser: the first builds it, later ones
set its hyperparameters from their own spec and keep its state (momentum buffers, Adam moments), as
SCRUB's max / min passes and AMUN's epochs share one SGD. Different slots are different optimisers,
as LAF's two Adam steps per batch pair or UNSIR's impair and repair stages.

Retrain is the same :class:`Recipe` on the retain rows only, from a fresh initialisation with the
same seed, so the original and the retrained model differ only in the data they saw (:func:`train`).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine._core.cancel import NEVER, CancelToken
from engine._core.errors import BadSpec, Diverged
from engine._core.events import Event, Log, Metrics, Progress, forward
from engine.data.bundle import normalise
from engine.models.base import LetheModel, freeze_batchnorm
from engine.train.recipe import OPTIMISERS, SCHEDULES, Recipe

B = TypeVar("B")
B_co = TypeVar("B_co", covariant=True)
T = TypeVar("T")

MODES = ("train", "frozen_bn", "eval")
MAX_FRAMES = 25  # at most ~this many geometry frames a run: a frame is a forward pass over the probe set
METRICS_EVERY_S = 0.1  # step Metrics at most this often (and at the last step)


# ---------------------------------------------------------------- what to optimise, for how long
@dataclass(frozen=True)
class OptimSpec:
    """One optimiser and its schedule over one phase.

    ``optimizer``: "sgd" (momentum, weight decay, optional Nesterov) or "adam" (weight decay as
    ``torch.optim.Adam``'s L2 term). ``schedule`` runs over the phase's steps: "none"; "cosine"
    (annealed to 0); "step" (×0.1 at 50 % and 75 %). Length: ``steps`` when > 0, otherwise
    ``epochs`` passes over the phase's batches, at least ``min_steps``.
    """

    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    schedule: str = "none"
    epochs: int = 1
    min_steps: int = 0
    steps: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMISERS:
            raise BadSpec(f"optimizer must be one of {OPTIMISERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise BadSpec(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise BadSpec(f"lr must be a positive number, got {self.lr}")
        if min(self.epochs, self.min_steps, self.steps) < 0 or not (self.momentum >= 0 and self.weight_decay >= 0):
            raise BadSpec("epochs, steps, momentum and weight decay must not be negative")

    def build(self, params: Sequence[torch.Tensor]) -> torch.optim.Optimizer:
        """A fresh optimiser over ``params`` (Nesterov only with momentum > 0)."""
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(
            params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay,
            nesterov=self.nesterov and self.momentum > 0,
        )

    def apply_to(self, optimizer: torch.optim.Optimizer) -> None:
        """Set an existing optimiser's hyperparameters to this spec's, keeping its state."""
        if self.optimizer != ("adam" if isinstance(optimizer, torch.optim.Adam) else "sgd"):
            raise ValueError(f"a phase asks for {self.optimizer} on a slot that holds {type(optimizer).__name__}")
        for g in optimizer.param_groups:
            g["lr"] = g["initial_lr"] = self.lr
            g["weight_decay"] = self.weight_decay
            if self.optimizer == "sgd":
                g["momentum"] = self.momentum
                g["nesterov"] = self.nesterov and self.momentum > 0

    def scheduler(self, optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
        """A per-step scheduler over ``steps`` (stepped after each optimiser step), or None."""
        steps = max(1, steps)
        if self.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        if self.schedule == "step":
            return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[int(steps * 0.5), int(steps * 0.75)], gamma=0.1)
        return None


def recipe_spec(recipe: Recipe) -> OptimSpec:
    """The OptimSpec of a training :class:`Recipe` (originals and retrains)."""
    return OptimSpec(
        recipe.optimizer, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
        schedule=recipe.schedule, epochs=recipe.epochs,
    )


# ---------------------------------------------------------------- batches
class Batches(Protocol[B_co]):
    """What a phase draws from: iterating once is one epoch of ``len()`` batches (re-iterated as
    needed). A list of batches, :class:`IndexBatches`, :class:`Zipped`, a ``range``."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[B_co]: ...


def epoch_batches(n: int, batch_size: int, gen: torch.Generator, shuffle: bool = True) -> list[np.ndarray]:
    """Index batches for one epoch (seeded order; the last partial batch kept unless it has 1 row,
    which would break BatchNorm in train mode)."""
    order = torch.randperm(n, generator=gen).numpy() if shuffle else np.arange(n)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2] = np.concatenate([batches[-2], batches[-1]])
        batches.pop()
    return batches


class IndexBatches:
    """Index batches over ``n`` rows: each iteration is one epoch in a fresh seeded order.

    ``gen`` is a seed (a generator of its own) or a generator shared with, e.g., augmentation; the
    order of an epoch is drawn when its iteration starts. Batches of ``batch_size`` rows (``n`` when
    smaller), a final single row merged into the batch before (see :func:`epoch_batches`).
    """

    def __init__(self, n: int, batch_size: int, gen: torch.Generator | int, *, shuffle: bool = True) -> None:
        if n < 1 or batch_size < 1:
            raise BadSpec(f"batches need at least one row and one row per batch, got {n} rows, batch {batch_size}")
        self.n, self.batch_size, self.shuffle = n, min(batch_size, n), shuffle
        self.gen = torch.Generator().manual_seed(gen) if isinstance(gen, int) else gen

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (rest > 1 or (rest == 1 and full == 0))

    def __iter__(self) -> Iterator[np.ndarray]:
        yield from epoch_batches(self.n, self.batch_size, self.gen, self.shuffle)


def forever(batches: Iterable[B]) -> Iterator[B]:
    """Epoch after epoch of ``batches``, endlessly (an empty source raises at once)."""
    while True:
        empty = True
        for b in batches:
            empty = False
            yield b
        if empty:
            raise ValueError("an empty batch source")


class Zipped(Generic[B, T]):
    """Pairs (a batch of ``lead``, the next batch of ``other``): an epoch is one pass over ``lead``
    while ``other`` cycles on across epochs (as NegGrad+ walks the retain set, cycling the forget set)."""

    def __init__(self, lead: Batches[B], other: Iterable[T]) -> None:
        self.lead = lead
        self._other = forever(other)

    def __len__(self) -> int:
        return len(self.lead)

    def __iter__(self) -> Iterator[tuple[B, T]]:
        for b in self.lead:
            yield b, next(self._other)


# ---------------------------------------------------------------- phases and hooks
@dataclass(frozen=True)
class Phase(Generic[B]):
    """``loss(batch)`` minimised over ``batches`` with the optimiser of ``slot`` built / set from ``optim``."""

    loss: Callable[[B], torch.Tensor]
    batches: Batches[B]
    optim: OptimSpec
    slot: str = "main"

    @property
    def steps(self) -> int:
        if self.optim.steps:
            return self.optim.steps
        return max(len(self.batches) * self.optim.epochs, self.optim.min_steps)


class StepHook:
    """Runs around every optimiser step. ``before_step``: after ``backward()``, before the step (edit
    ``p.grad``: mask or project it). ``after_step``: after the step, under ``no_grad`` (restore frozen
    weights, clear optimiser state). Both receive the optimiser that steps."""

    def before_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Nothing by default."""

    def after_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Nothing by default."""


@dataclass(frozen=True)
class EarlyStop:
    """Stop the run once ``done(model)`` holds, checked every ``every`` steps. The run then logs
    "``label``: early stop after k of n steps (``why``)"."""

    done: Callable[[nn.Module], bool]
    every: int = 10
    label: str = ""
    why: str = ""


@dataclass
class _Slot:
    optimizer: torch.optim.Optimizer
    params: list[torch.Tensor] = field(default_factory=list)


def set_mode(model: nn.Module, mode: str) -> None:
    """``train``; ``frozen_bn`` (train mode, every BatchNorm's running statistics frozen); ``eval``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    model.train(mode != "eval")
    if mode == "frozen_bn":
        freeze_batchnorm(model)


@contextlib.contextmanager
def batchnorm_single_row(model: nn.Module) -> Iterator[None]:
    """Inside: a BatchNorm layer in train mode that receives a batch of one row normalises it with
    its running statistics (eval mode for that call) and does not update them.

    A batch of one has no batch variance: PyTorch raises "Expected more than 1 value per channel"
    when the layer's input is (1, C) or (1, C, 1, 1) (resnet18_cifar's last block on 8-px images)
    and otherwise normalises with the statistics of a single image. Unlearning a single image
    (forget set of one) draws such batches; the layer then behaves as at inference, which is also
    what a one-image fine-tune with frozen BatchNorm does. Larger batches are untouched.
    """
    handles: list[torch.utils.hooks.RemovableHandle] = []

    def pre(mod: nn.Module, args: tuple[Any, ...]) -> None:
        x = args[0] if args else None
        if mod.training and isinstance(x, torch.Tensor) and x.dim() > 0 and x.shape[0] == 1:
            mod.training = False
            mod._lethe_single_row = True  # type: ignore[assignment]

    def post(mod: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        if getattr(mod, "_lethe_single_row", False):
            mod.training = True
            mod._lethe_single_row = False  # type: ignore[assignment]

    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            handles.append(m.register_forward_pre_hook(pre))
            handles.append(m.register_forward_hook(post))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def check_finite(loss: torch.Tensor, stage: str, step: int) -> None:
    """Raise :class:`Diverged` naming ``stage`` and ``step`` when ``loss`` is NaN or infinite."""
    if not torch.isfinite(loss).all():
        raise Diverged(f"{stage}: the loss became {loss.detach().flatten()[0].item()} at step {step}")


def is_finite_model(model: torch.nn.Module) -> bool:
    return all(math.isfinite(float(p.detach().abs().sum())) for p in model.parameters())


def total_steps(phases: Sequence[Phase[Any]]) -> int:
    return sum(ph.steps for ph in phases)


# ---------------------------------------------------------------- the loop
def run_phases(
    model: nn.Module,
    phases: Sequence[Phase[Any]],
    *,
    token: CancelToken = NEVER,
    stage: str = "train",
    mode: str = "train",
    params: Sequence[torch.Tensor] | None = None,
    hooks: Sequence[StepHook] = (),
    early_stop: EarlyStop | None = None,
    geometry: Callable[[int], Event | None] | None = None,
    geometry_every: int = 5,
    each_step: Callable[[int, torch.optim.Optimizer], Iterable[Event]] | None = None,
    step_metrics: bool = True,
    message: Callable[[int, int], str] | None = None,
) -> Generator[Event, None, int]:
    """Run ``phases`` in order on ``model``; return the number of steps run (an early stop ends sooner).

    - ``params``: what the optimisers move (default: the model's parameters that require grad when
      a slot's first phase starts).
    - ``mode``: see :func:`set_mode`; re-applied after every callback (frames, early-stop checks).
    - ``hooks``: :class:`StepHook` s run around every optimiser step, in order (update masks first).
    - ``geometry(step)``: an optional frame at step 0, every ``geometry_every`` steps (at most
      ~MAX_FRAMES a run) and at the end.
    - ``each_step(step, optimizer)``: extra events after each step (the per-epoch Metrics of :func:`train`).
    - ``early_stop``: checked every ``early_stop.every`` steps; the run then logs why it stopped.
    - ``step_metrics``: a Metrics event (loss, lr) at most every 0.1 s and at the last step.
    - ``message(step, total)``: the Progress text (default "step k/n").

    Errors: :class:`Cancelled` at the step after a cancel; :class:`Diverged` naming the step when
    a loss, or at the end a trained weight, is not finite. The model is left in eval mode.
    A batch of one row passes BatchNorm layers in eval mode (:func:`batchnorm_single_row`).
    """
    with batchnorm_single_row(model):
        return (yield from _run_phases(model, phases, token=token, stage=stage, mode=mode, params=params,
                                       hooks=hooks, early_stop=early_stop, geometry=geometry,
                                       geometry_every=geometry_every, each_step=each_step,
                                       step_metrics=step_metrics, message=message))


def _run_phases(
    model: nn.Module,
    phases: Sequence[Phase[Any]],
    *,
    token: CancelToken,
    stage: str,
    mode: str,
    params: Sequence[torch.Tensor] | None,
    hooks: Sequence[StepHook],
    early_stop: EarlyStop | None,
    geometry: Callable[[int], Event | None] | None,
    geometry_every: int,
    each_step: Callable[[int, torch.optim.Optimizer], Iterable[Event]] | None,
    step_metrics: bool,
    message: Callable[[int, int], str] | None,
) -> Generator[Event, None, int]:
    total = total_steps(phases)
    slots: dict[str, _Slot] = {}
    geometry_every = max(1, geometry_every, total // MAX_FRAMES)
    set_mode(model, mode)
    if geometry is not None:
        yield from _frame(geometry, 0)
        set_mode(model, mode)
    last_metrics = time.perf_counter()
    step = 0
    stopped = False
    for phase in phases:
        slot = slots.get(phase.slot)
        if slot is None:
            moving: list[torch.Tensor] = list(params) if params is not None else [p for p in model.parameters() if p.requires_grad]
            slot = slots[phase.slot] = _Slot(phase.optim.build(moving), moving)
        else:
            phase.optim.apply_to(slot.optimizer)
        opt = slot.optimizer
        scheduler = phase.optim.scheduler(opt, phase.steps)
        batches = forever(phase.batches)
        for _ in range(phase.steps):
            token.check()
            step += 1
            loss = phase.loss(next(batches))
            check_finite(loss, stage, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for h in hooks:
                h.before_step(opt)
            opt.step()
            if scheduler is not None:
                scheduler.step()
            if hooks:
                with torch.no_grad():
                    for h in hooks:
                        h.after_step(opt)
            yield Progress(stage, step / max(1, total), message(step, total) if message else f"step {step}/{total}")
            now = time.perf_counter()
            if step_metrics and (now - last_metrics > METRICS_EVERY_S or step == total):
                last_metrics = now
                yield Metrics(stage, step, {"loss": float(loss.detach()), "lr": float(opt.param_groups[0]["lr"])})
            if each_step is not None:
                yield from each_step(step, opt)
                set_mode(model, mode)
            if geometry is not None and step % geometry_every == 0:
                yield from _frame(geometry, step)
                set_mode(model, mode)
            if early_stop is not None and step % early_stop.every == 0 and early_stop.done(model):
                stopped = True
                set_mode(model, mode)
                break
        if stopped:
            break
    if geometry is not None and step % geometry_every != 0:
        yield from _frame(geometry, step)
    model.eval()
    model.zero_grad(set_to_none=True)
    for slot in slots.values():
        if not all(bool(torch.isfinite(p).all()) for p in slot.params):
            raise Diverged(f"{stage}: the weights became NaN or infinite by step {step}")
    if stopped and early_stop is not None:
        why = f" ({early_stop.why})" if early_stop.why else ""
        yield Log(f"{early_stop.label or stage}: early stop after {step} of {total} steps{why}")
    return step


def _frame(geometry: Callable[[int], Event | None], step: int) -> Iterator[Event]:
    frame = geometry(step)
    if frame is not None:
        yield frame


def phased(events: Generator[Event, None, T], lo: float, hi: float) -> Generator[Event, None, T]:
    """Forward a sub-stage's events with Progress fractions mapped into [lo, hi]; return its value
    (for runs made of several parts, so the job's progress bar never goes back)."""
    result: T = yield from forward(
        events, lambda ev: Progress(ev.stage, lo + (hi - lo) * max(0.0, min(1.0, ev.fraction)), ev.message))
    return result


# ---------------------------------------------------------------- originals and retrains
def augment_batch(x: torch.Tensor, mode: str, gen: torch.Generator | None = None) -> torch.Tensor:
    """Random crop with zero padding of size/8 (the mean colour, after normalisation) and, for
    ``flip_crop``, horizontal flips; done on the device, seeded by ``gen``."""
    if mode == "none":
        return x
    n, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen).tolist()
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).tolist()
    out = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    if mode == "flip_crop":
        flip = torch.rand(n, generator=gen) < 0.5
        out[flip.to(out.device)] = out[flip.to(out.device)].flip(-1)
    return out


class _EpochStats:
    """Sample-weighted loss and training accuracy of the current epoch."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.loss_sum, self.correct, self.seen, self.t0 = 0.0, 0, 0, time.perf_counter()

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss_sum += float(loss.detach()) * len(y)
        self.correct += int((logits.detach().argmax(1) == y).sum())
        self.seen += len(y)


def train(
    model: LetheModel,
    x_uint8: np.ndarray,
    y: np.ndarray,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    recipe: Recipe,
    *,
    device: torch.device,
    seed: int = 0,
    token: CancelToken = NEVER,
    stage: str = "train",
    epoch_hook: Callable[[LetheModel, int], Event | None] | None = None,
) -> Generator[Event, None, LetheModel]:
    """Train ``model`` in place on (x, y) with cross-entropy; yields Progress per step and Metrics
    per epoch (epoch, loss, train_acc, seconds, lr).

    ``epoch_hook(model, step)`` may return an extra event after each epoch (a geometry frame).
    """
    if len(x_uint8) < 2:
        raise BadSpec(f"{stage}: needs at least 2 training images, got {len(x_uint8)}")
    gen = torch.Generator().manual_seed(seed)  # batch order and augmentation, in that order each epoch
    model.to(device)
    batches = IndexBatches(len(x_uint8), recipe.batch_size, gen)
    per_epoch = len(batches)
    y_all = torch.as_tensor(y, dtype=torch.long)
    stats = _EpochStats()

    def loss(idx: np.ndarray) -> torch.Tensor:
        xb = augment_batch(normalise(x_uint8[idx], mean, std, device), recipe.augment, gen)
        yb = y_all[idx].to(device)
        logits = model(xb)  # (B, K)
        out = F.cross_entropy(logits, yb)
        stats.add(out, logits, yb)
        return out

    phase = Phase(loss, batches, recipe_spec(recipe))

    def end_of_epoch(step: int, opt: torch.optim.Optimizer) -> Iterator[Event]:
        if step % per_epoch:
            return
        values = {
            "epoch": float(step // per_epoch),
            "loss": stats.loss_sum / max(stats.seen, 1),
            "train_acc": stats.correct / max(stats.seen, 1),
            "seconds": time.perf_counter() - stats.t0,
            "lr": float(opt.param_groups[0]["lr"]),
        }
        yield Metrics(stage, step, values)
        stats.reset()
        if epoch_hook is not None:
            extra = epoch_hook(model, step)
            if extra is not None:
                yield extra

    def epoch_message(step: int, total: int) -> str:
        epoch, batch = divmod(step - 1, per_epoch)
        return f"epoch {epoch + 1}/{recipe.epochs} · batch {batch + 1}/{per_epoch}"

    yield from run_phases(
        model, [phase], token=token, stage=stage, each_step=end_of_epoch,
        step_metrics=False, message=epoch_message,
    )
    return model


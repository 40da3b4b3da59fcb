"""K models of one architecture trained together: ``torch.func.stack_module_state`` + ``vmap``.

Shadow ensembles (KLoM, U-LiRA) train many small models with one :class:`Recipe`. Here the K
models' parameters and buffers are stacked along a new leading axis (K, ...) and one vmapped
forward pass runs all of them, each on its own batch; the loss is the sum of the K per-model
mean cross-entropies, so each model's gradient is exactly its own. SGD / Adam act elementwise
and the schedule is per step, so one optimiser over the stacked tensors is K optimisers. The
steps run through the one training loop (:func:`engine.train.loop.run_phases`: cancel check
every step, finiteness, Progress).

Equivalence with :func:`engine.train.loop.train` (one model alone): model k gets the same
initial weights (the caller builds it), its own ``torch.Generator(seed_k)`` drawing its batch
order and augmentation in the same sequence, and BatchNorm in train mode with its own running
statistics (stacked buffers, updated in place through vmap). With identical seeds the weights
match a model trained alone up to float rounding (~1e-5 after a short run; tested).

Not every architecture can be vmapped (data-dependent control flow, dropout under
``randomness="error"``, in-place updates of unbatched state, foreign code): :func:`why_not_vmappable`
runs a two-model probe step and returns the reason, and callers fall back to one-by-one training.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable, Generator, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from engine._core.cancel import NEVER, CancelToken
from engine._core.errors import BadSpec
from engine._core.events import Event, Metrics
from engine.data.bundle import normalise
from engine.models.base import LetheModel
from engine.train.loop import IndexBatches, Phase, augment_batch, recipe_spec, run_phases
from engine.train.recipe import Recipe


class StackedEnsemble(nn.Module):
    """K models of one architecture as stacked parameters / buffers (K, ...) and a vmapped forward.

    ``forward(x)``: (K, B, C, H, W) -> logits (K, B, classes), model k on ``x[k]``. The train /
    eval flag is passed to the (meta-device) template the functional call runs. :meth:`unstack`
    copies the trained tensors back into K ordinary models.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(models) < 1:
            raise BadSpec("a stacked ensemble needs at least one model")
        params, buffers = stack_module_state(list(models))
        self.k = len(models)
        self._param_names = list(params)
        self._buffer_names = list(buffers)
        self.stacked = nn.ParameterList([nn.Parameter(params[n].detach().clone()) for n in self._param_names])
        for i, n in enumerate(self._buffer_names):
            self.register_buffer(f"b{i}", buffers[n].detach().clone())
        template = copy.deepcopy(models[0]).to("meta")
        self._template: nn.Module
        object.__setattr__(self, "_template", template)  # not a submodule: its meta tensors are not state

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(template, (p, b), (x,))

        self._vmapped: Callable[..., torch.Tensor] = vmap(one, in_dims=(0, 0, 0), randomness="error")

    def _buffers_dict(self) -> dict[str, torch.Tensor]:
        return {n: getattr(self, f"b{i}") for i, n in enumerate(self._buffer_names)}

    def train(self, mode: bool = True) -> StackedEnsemble:
        super().train(mode)
        self._template.train(mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (K, B, C, H, W) -> (K, B, classes)
        params = dict(zip(self._param_names, self.stacked, strict=True))
        return self._vmapped(params, self._buffers_dict(), x)

    @torch.no_grad()
    def unstack(self, models: Sequence[nn.Module]) -> None:
        """Copy slice k of every stacked parameter and buffer into ``models[k]`` (same architecture)."""
        if len(models) != self.k:
            raise ValueError(f"unstack: {self.k} stacked models, {len(models)} targets")
        buffers = self._buffers_dict()
        for k, model in enumerate(models):
            own_p, own_b = dict(model.named_parameters()), dict(model.named_buffers())
            for n, t in zip(self._param_names, self.stacked, strict=True):
                own_p[n].copy_(t[k])
            for n, t in buffers.items():
                own_b[n].copy_(t[k])


def why_not_vmappable(model: nn.Module, sample: torch.Tensor) -> str | None:
    """None when ``model`` trains under vmap, otherwise why not (one line, for the Log / record).

    Probe: two copies stacked, one train-mode forward + backward on ``sample`` (B ≥ 2 rows,
    (B, C, H, W), normalised) repeated for each copy. The copies are throw-away; ``model`` is untouched.
    """
    if sample.dim() < 2 or sample.shape[0] < 2:
        return "the probe needs a batch of at least 2 rows"
    try:
        copies = [copy.deepcopy(model).to(sample.device) for _ in range(2)]
        stacked = StackedEnsemble(copies).train()
        out = stacked(torch.stack([sample, sample]))
        if out.dim() != 3 or out.shape[:2] != (2, sample.shape[0]):
            return f"vmapped output has shape {tuple(out.shape)}, expected (2, {sample.shape[0]}, classes)"
        out.float().sum().backward()
        if any(p.grad is None for p in stacked.stacked):
            return "some stacked parameters receive no gradient under vmap"
    except Exception as exc:  # noqa: BLE001 - any failure means "train these one by one"
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0][:200] if text else ''}".rstrip(": ")
    return None


class _StackedBatches:
    """K :class:`IndexBatches` of the same size advanced together: each item is a tuple of K index arrays."""

    def __init__(self, members: Sequence[IndexBatches]) -> None:
        self.members = list(members)

    def __len__(self) -> int:
        return len(self.members[0])

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        yield from zip(*self.members, strict=True)


def train_stacked(
    models: Sequence[LetheModel],
    x_uint8: np.ndarray,
    y: np.ndarray,
    rows: Sequence[np.ndarray] | None,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    recipe: Recipe,
    *,
    seeds: Sequence[int],
    device: torch.device,
    token: CancelToken = NEVER,
    stage: str = "train",
) -> Generator[Event, None, list[LetheModel]]:
    """Train ``models`` (K, one architecture, freshly initialised) together with ``recipe``.

    Model k trains on rows ``rows[k]`` of (``x_uint8`` (N, C, H, W) uint8, ``y`` (N,)) — all of
    them when ``rows`` is None — with seed ``seeds[k]`` for its batch order and augmentation,
    exactly as :func:`engine.train.loop.train` (``x_uint8[rows[k]]``, seed k) would train it alone.
    Every ``rows[k]`` must have the same length (equal batch shapes for vmap); group by length.

    Yields Progress every step (message with the ETA) and per-epoch Metrics (mean loss and training
    accuracy over the K models). Returns the models, trained in place, in eval mode on the CPU.
    Errors: :class:`BadSpec` for mismatched inputs; :class:`Cancelled` within one step of a cancel;
    :class:`Diverged` when a loss or weight is not finite.
    """
    k = len(models)
    if k < 1 or len(seeds) != k or (rows is not None and len(rows) != k):
        raise BadSpec(f"{stage}: {k} models, {len(seeds)} seeds and {'all' if rows is None else len(rows)} row sets")
    row_sets = [np.arange(len(x_uint8))] * k if rows is None else [np.asarray(r, dtype=np.int64) for r in rows]
    n = len(row_sets[0])
    if any(len(r) != n for r in row_sets):
        raise BadSpec(f"{stage}: stacked training needs row sets of one length, got {sorted({len(r) for r in row_sets})}")
    if n < 2:
        raise BadSpec(f"{stage}: needs at least 2 training images, got {n}")
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    batches = _StackedBatches([IndexBatches(n, recipe.batch_size, g) for g in gens])
    per_epoch = len(batches)
    stacked = StackedEnsemble([m.to(device) for m in models]).to(device)
    y_all = torch.as_tensor(y, dtype=torch.long)
    loss_sum = torch.zeros(k)
    correct = torch.zeros(k)
    seen = [0]

    def loss(idxs: tuple[np.ndarray, ...]) -> torch.Tensor:
        picked = np.stack([r[i] for r, i in zip(row_sets, idxs, strict=True)])  # (K, B) row numbers
        if recipe.augment == "none":
            xb = normalise(x_uint8[picked.reshape(-1)], mean, std, device)
            xb = xb.view(k, picked.shape[1], *xb.shape[1:])
        else:  # each model's generator draws its own augmentation, as when trained alone
            xb = torch.stack([augment_batch(normalise(x_uint8[p], mean, std, device), recipe.augment, g)
                              for p, g in zip(picked, gens, strict=True)])
        yb = y_all[torch.as_tensor(picked)].to(device)  # (K, B)
        logits = stacked(xb)  # (K, B, classes)
        per_model = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(k, -1).mean(1)
        with torch.no_grad():
            b = picked.shape[1]
            loss_sum.add_(per_model.detach().cpu() * b)
            correct.add_((logits.argmax(-1) == yb).sum(1).cpu().float())
            seen[0] += b
        return per_model.sum()

    t0 = time.perf_counter()
    epoch_t0 = [t0]

    def end_of_epoch(step: int, opt: torch.optim.Optimizer) -> Iterator[Event]:
        if step % per_epoch:
            return
        s = max(seen[0], 1)
        yield Metrics(stage, step, {
            "epoch": float(step // per_epoch), "loss": float(loss_sum.sum()) / (k * s),
            "train_acc": float(correct.sum()) / (k * s), "seconds": time.perf_counter() - epoch_t0[0],
            "lr": float(opt.param_groups[0]["lr"]), "models": float(k),
        })
        loss_sum.zero_()
        correct.zero_()
        seen[0] = 0
        epoch_t0[0] = time.perf_counter()

    def message(step: int, total: int) -> str:
        elapsed = time.perf_counter() - t0
        eta = elapsed / step * (total - step)
        return f"{k} models together: epoch {(step - 1) // per_epoch + 1}/{recipe.epochs}, ETA {eta:.0f} s"

    phase = Phase(loss, batches, recipe_spec(recipe))
    yield from run_phases(stacked, [phase], token=token, stage=stage, each_step=end_of_epoch,
                          step_metrics=False, message=message)
    stacked.to("cpu")
    out = [m.to("cpu") for m in models]
    stacked.unstack(out)
    for m in out:
        m.eval()
    return out


def stack_sample(x_uint8: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device,
                 rows: int = 2) -> torch.Tensor:
    """A normalised probe batch for :func:`why_not_vmappable` (the first ``rows`` images)."""
    return normalise(x_uint8[:rows], mean, std, device)


def describe(reason: str | None, k: int) -> str:
    """The Log line saying how K models are trained."""
    if reason is None:
        return f"training {k} models together (vmap)"
    return f"training {k} models one by one: {reason}"


__all__ = ["StackedEnsemble", "describe", "stack_sample", "train_stacked", "why_not_vmappable"]

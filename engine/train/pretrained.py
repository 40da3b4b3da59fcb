"""Originals and retrains: trained once, then loaded from the cache.

Both are generators (training reports progress and can be cancelled); a cache hit yields one Log.
A half-trained model is never cached: the checkpoint is written only after training finishes, and
only when every weight and buffer is finite (a NaN model is a :class:`Diverged` failure, never a
cache entry). Workers sharing the cache take a per-entry lock
(:func:`engine._core.cache.entry_lock`): one trains, the others wait, then load. A cache that
cannot be written (full, read-only, no permission) costs a warning in the Log and the run goes on
uncached; a cached checkpoint that cannot be read is trained again.

Every model these functions return carries its :class:`Provenance` (:func:`provenance`): trained
now (with the training's wall seconds) or loaded from the cache (with the training seconds recorded
in the entry's sidecar when it was trained, ``train_seconds``; None for an entry cached before
the time was recorded). A run's record shows that training time for the Original and Retrain,
never the cache's load time as if it were the model's cost.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine._core.cache import entry_lock, model_key, model_path
from engine._core.cancel import NEVER, CancelToken
from engine.models.checkpoints import check_finite, load_checkpoint, save_checkpoint
from engine.data.bundle import DatasetBundle
from engine.data.forget import ForgetSplit
from engine._core.device import seed_everything
from engine._core.errors import BadSpec, LetheError
from engine._core.events import Event, Log, Progress, forward
from engine.models import create_model
from engine.models.base import LetheModel
from engine.models.input_norm import InputNorm
from engine.train.ensemble_vmap import describe, stack_sample, train_stacked, why_not_vmappable
from engine.train.loop import train
from engine.train.recipe import Recipe


TRAINED = "trained"  # Provenance.source: trained by this call
CACHED = "cache"  # Provenance.source: loaded from the model cache


@dataclass(frozen=True)
class Provenance:
    """Where a model from :func:`obtain_original` / :func:`obtain_retrain` / :func:`obtain_many`
    came from. ``source``: :data:`TRAINED` or :data:`CACHED`; ``train_seconds``: the training's
    wall seconds, measured now (trained) or recorded in the cache sidecar when the entry was trained
    (cached; None when the entry predates the record; a model trained with others under vmap gets
    its share of the stack's time); ``load_seconds``: the seconds the cache load took (cached only)."""

    source: str
    train_seconds: float | None
    load_seconds: float | None = None


PROVENANCE_ATTR = "lethe_provenance"


def provenance(model: Any) -> Provenance | None:
    """The :class:`Provenance` a model was given by this module, or None (a model built elsewhere)."""
    p = getattr(model, PROVENANCE_ATTR, None)
    return p if isinstance(p, Provenance) else None


def _mark(model: LetheModel, p: Provenance) -> LetheModel:
    object.__setattr__(model, PROVENANCE_ATTR, p)  # a plain attribute (nn.Module keeps it; deepcopy copies it)
    return model


def fresh_model(arch: str, bundle: DatasetBundle, seed: int) -> LetheModel:
    """A newly initialised model; the seed fixes the initial weights."""
    seed_everything(seed)
    return create_model(arch, bundle.channels, bundle.image_size, bundle.num_classes)


def _stem(kind: str, bundle: DatasetBundle, arch: str, recipe: Recipe, seed: int, split: ForgetSplit | None) -> Path:
    # A model's own normalisation (an imported original's) trains another model than the dataset's.
    key = model_key(bundle.fingerprint + bundle.norm_key, arch, recipe.to_json(), seed, split.hash if split else None)
    return model_path(kind, key)


def _load_cached(kind: str, stem: Path, bundle: DatasetBundle) -> Generator[Event, None, LetheModel | None]:
    weights = stem.with_suffix(".safetensors")
    if weights.exists() and stem.with_suffix(".json").exists():
        try:
            t0 = time.perf_counter()
            model, meta = load_checkpoint(weights)
            model.input_norm = _norm_of(bundle)
            recorded = meta.get("train_seconds")
            train_s = float(recorded) if isinstance(recorded, (int, float)) and not isinstance(recorded, bool) else None
            _mark(model, Provenance(CACHED, train_s, time.perf_counter() - t0))
            when = f"trained earlier in {train_s:.2f} s" if train_s is not None else "trained earlier; time not recorded"
            yield Log(f"{kind}: loaded from cache ({weights.name}; {when})")
            return model
        except LetheError:
            yield Log(f"{kind}: cached checkpoint unreadable, training again", level="warning")
    return None


def _finish(
    kind: str, model: LetheModel, stem: Path, bundle: DatasetBundle, arch: str, recipe: Recipe, seed: int,
    split: ForgetSplit | None, use_cache: bool, train_seconds: float | None,
) -> Generator[Event, None, LetheModel]:
    """A trained model: checked finite, its normalisation set, its training time recorded (on the
    model and in the cache sidecar), cached when asked."""
    model = model.to("cpu").eval()
    check_finite(model, f"{kind}: the trained {arch}")
    model.input_norm = _norm_of(bundle)
    _mark(model, Provenance(TRAINED, train_seconds))
    if use_cache:
        meta = {
            "kind": kind,
            "classes": list(bundle.classes),
            "dataset": bundle.source,
            "dataset_fingerprint": bundle.fingerprint,
            "recipe": recipe.to_json(),
            "seed": seed,
            "forget_hash": split.hash if split else None,
            "mean": list(bundle.mean),
            "std": list(bundle.std),
            "train_seconds": train_seconds,  # wall seconds of the training (shown when later runs load it)
        }
        try:
            save_checkpoint(model, stem, meta, overwrite=True)
        except LetheError as exc:  # a full or read-only cache must not lose the trained model
            yield Log(f"{kind}: not cached, going on without the cache ({type(exc).__name__}: {exc.message})",
                      level="warning")
    return model


def _train_cached(
    kind: str,
    bundle: DatasetBundle,
    arch: str,
    recipe: Recipe,
    seed: int,
    split: ForgetSplit | None,
    device: torch.device,
    token: CancelToken,
    use_cache: bool,
    epoch_hook: Callable[[LetheModel, int], Event | None] | None = None,
) -> Generator[Event, None, LetheModel]:
    stem = _stem(kind, bundle, arch, recipe, seed, split)
    if not use_cache:
        return (yield from _train_fresh(kind, bundle, arch, recipe, seed, split, device, token, False, epoch_hook, stem))
    # Parallel workers (engine.executors) share the cache: one trains an entry, the others wait and load it.
    with entry_lock(stem, wait=token.check):
        cached = yield from _load_cached(kind, stem, bundle)
        if cached is not None:
            return cached
        return (yield from _train_fresh(kind, bundle, arch, recipe, seed, split, device, token, True, epoch_hook, stem))


def _train_fresh(
    kind: str,
    bundle: DatasetBundle,
    arch: str,
    recipe: Recipe,
    seed: int,
    split: ForgetSplit | None,
    device: torch.device,
    token: CancelToken,
    use_cache: bool,
    epoch_hook: Callable[[LetheModel, int], Event | None] | None,
    stem: Path,
) -> Generator[Event, None, LetheModel]:
    t0 = time.perf_counter()
    model = fresh_model(arch, bundle, seed)
    idx = split.retain_idx if split is not None else slice(None)
    x, y = bundle.x_train[idx], bundle.y_train[idx]
    model = yield from train(
        model, x, y, bundle.mean, bundle.std, recipe, device=device, seed=seed, token=token, stage=kind,
        epoch_hook=epoch_hook,
    )
    return (yield from _finish(kind, model, stem, bundle, arch, recipe, seed, split, use_cache, time.perf_counter() - t0))


BATCHED = ("auto", "vmap", "sequential")
MAX_STACK = 16  # models trained together at most (memory: activations grow K-fold)
# "auto" on the CPU trains one by one: a cnn_small step on digits is FLOP-bound in its convolutions
# (the loop's own overhead is ~5 %), so stacking 16 models under vmap measured 0.78x the throughput
# of one by one on the shared 2-core machine with 1 torch thread (python -m engine bench ensemble;
# 1.7x for the tiny mlp). Accelerators run many small kernels, where one vmapped pass replaces K.
VMAP_ON_CPU = False


def batch_reason(batched: str, n: int, arch: str, bundle: DatasetBundle, device: torch.device) -> str | None:
    """None when ``n`` models of ``arch`` are to be trained together (vmap), else why not (for the Log)."""
    if batched == "sequential":
        return "sequential was asked for"
    if n < 2:
        return "only one model to train"
    if batched == "auto" and device.type == "cpu" and not VMAP_ON_CPU:
        return "on the CPU one by one is as fast (FLOP-bound small convolutions; batched=\"vmap\" forces it)"
    return vmap_reason(arch, bundle, device)


def obtain_many(
    kind: str,
    bundle: DatasetBundle,
    arch: str,
    recipe: Recipe,
    seeds: Sequence[int],
    split: ForgetSplit | None = None,
    *,
    device: torch.device = torch.device("cpu"),
    token: CancelToken = NEVER,
    use_cache: bool = True,
    batched: str = "auto",
    max_stack: int = MAX_STACK,
) -> Generator[Event, None, list[LetheModel]]:
    """Originals (``kind="original"``, ``split`` None) or retrains (``"retrain"``, on ``split``'s
    retain rows) for every seed: each the same model :func:`obtain_original` / :func:`obtain_retrain`
    gives, under the same cache key.

    Cached ones are loaded; the rest are trained together, ``max_stack`` at a time, with
    :func:`engine.train.ensemble_vmap.train_stacked` when two or more are to be trained, the
    architecture passes :func:`why_not_vmappable` and ``batched`` is "vmap", or "auto" on an
    accelerator (:data:`VMAP_ON_CPU`); otherwise one by one (:func:`batch_reason`). A Log says which
    and why. Progress runs over the models to train.
    """
    if batched not in BATCHED:
        raise BadSpec(f"batched must be one of {BATCHED}, got {batched!r}")
    if kind not in ("original", "retrain") or (kind == "retrain") != (split is not None):
        raise BadSpec(f"obtain_many: kind {kind!r} needs {'a' if kind == 'retrain' else 'no'} forget split")
    out: dict[int, LetheModel] = {}
    stems = {s: _stem(kind, bundle, arch, recipe, s, split) for s in seeds}
    if use_cache:
        for s in seeds:
            cached = yield from _load_cached(kind, stems[s], bundle)
            if cached is not None:
                out[s] = cached
    todo = [s for s in dict.fromkeys(seeds) if s not in out]
    reason = batch_reason(batched, len(todo), arch, bundle, device)
    if todo:
        yield Log(f"{kind}: {describe(reason, len(todo))}")
    rows = split.retain_idx if split is not None else np.arange(len(bundle.x_train))
    done = 0

    def scaled(ev: Progress, width: int) -> Progress:
        return Progress(kind, (done + width * min(max(ev.fraction, 0.0), 1.0)) / len(todo), ev.message)

    step = max(1, max_stack) if reason is None else 1
    for i in range(0, len(todo), step):
        chunk = todo[i : i + step]
        token.check()
        width = len(chunk)
        on_progress = functools.partial(scaled, width=width)
        t0 = time.perf_counter()
        if reason is None:
            models = [fresh_model(arch, bundle, s) for s in chunk]
            trained = yield from forward(
                train_stacked(models, bundle.x_train, bundle.y_train, [rows] * width, bundle.mean, bundle.std,
                              recipe, seeds=chunk, device=device, token=token, stage=kind), on_progress)
        else:
            trained = [(yield from forward(
                _train_cached(kind, bundle, arch, recipe, chunk[0], split, device, token, use_cache=False),
                on_progress))]
        share = (time.perf_counter() - t0) / width  # stacked under vmap: each model's share of the stack's time
        for s, model in zip(chunk, trained, strict=True):
            out[s] = yield from _finish(kind, model, stems[s], bundle, arch, recipe, s, split, use_cache, share)
        done += len(chunk)
    return [out[s] for s in seeds]


def vmap_reason(arch: str, bundle: DatasetBundle, device: torch.device) -> str | None:
    """None when ``arch`` trains under vmap on ``bundle``'s images, else why not (a probe step)."""
    with torch.random.fork_rng(devices=[]):  # the probe's initialisation leaves the global RNG as it was
        probe = create_model(arch, bundle.channels, bundle.image_size, bundle.num_classes)
    return why_not_vmappable(probe, stack_sample(bundle.x_train, bundle.mean, bundle.std, device))


def _norm_of(bundle: DatasetBundle) -> InputNorm:
    """The normalisation a model trained on ``bundle`` was trained with (recorded in its sidecar)."""
    return InputNorm(tuple(bundle.mean), tuple(bundle.std), source=bundle.norm_source)


def obtain_original(
    bundle: DatasetBundle,
    arch: str,
    recipe: Recipe,
    *,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    token: CancelToken = NEVER,
    use_cache: bool = True,
) -> Generator[Event, None, LetheModel]:
    return (yield from _train_cached("original", bundle, arch, recipe, seed, None, device, token, use_cache))


def obtain_retrain(
    bundle: DatasetBundle,
    split: ForgetSplit,
    arch: str,
    recipe: Recipe,
    *,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    token: CancelToken = NEVER,
    use_cache: bool = True,
    epoch_hook: Callable[[LetheModel, int], Event | None] | None = None,
) -> Generator[Event, None, LetheModel]:
    """The gold standard: same architecture, recipe and seed, trained on the retain rows only."""
    return (
        yield from _train_cached("retrain", bundle, arch, recipe, seed, split, device, token, use_cache, epoch_hook)
    )

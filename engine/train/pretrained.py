"""Originals and retrains: trained once, then loaded from the cache.

Both are generators (training reports progress and can be cancelled); a cache hit yields one Log.
A half-trained model is never cached: the checkpoint is written only after training finishes, and
only when every weight and buffer is finite (a NaN model is a :class:`Diverged` failure, never a
cache entry). Workers sharing the cache take a per-entry lock
(:func:`engine._core.cache.entry_lock`): one trains, the others wait, then load. A cache that
cannot be written (full, read-only, no permission) costs a warning in the Log and the run goes on
uncached; a cached checkpoint that cannot be read is trained again.
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path

import torch

from engine._core.cache import entry_lock, model_key, model_path
from engine._core.cancel import NEVER, CancelToken
from engine.models.checkpoints import check_finite, load_checkpoint, save_checkpoint
from engine.data.bundle import DatasetBundle
from engine.data.forget import ForgetSplit
from engine._core.device import seed_everything
from engine._core.errors import LetheError
from engine._core.events import Event, Log
from engine.models import create_model
from engine.models.base import LetheModel
from engine.models.input_norm import InputNorm
from engine.train.loop import train
from engine.train.recipe import Recipe


def fresh_model(arch: str, bundle: DatasetBundle, seed: int) -> LetheModel:
    """A newly initialised model; the seed fixes the initial weights."""
    seed_everything(seed)
    return create_model(arch, bundle.channels, bundle.image_size, bundle.num_classes)


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
    # A model's own normalisation (an imported original's) trains another model than the dataset's.
    key = model_key(bundle.fingerprint + bundle.norm_key, arch, recipe.to_json(), seed, split.hash if split else None)
    stem = model_path(kind, key)
    if not use_cache:
        return (yield from _train_or_load(kind, bundle, arch, recipe, seed, split, device, token, False, epoch_hook, stem))
    # Parallel workers (engine.executors) share the cache: one trains an entry, the others wait and load it.
    with entry_lock(stem, wait=token.check):
        return (yield from _train_or_load(kind, bundle, arch, recipe, seed, split, device, token, True, epoch_hook, stem))


def _train_or_load(
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
    weights = stem.with_suffix(".safetensors")
    if use_cache and weights.exists() and stem.with_suffix(".json").exists():
        try:
            model, _ = load_checkpoint(weights)
            model.input_norm = _norm_of(bundle)
            yield Log(f"{kind}: loaded from cache ({weights.name})")
            return model
        except LetheError:
            yield Log(f"{kind}: cached checkpoint unreadable, training again", level="warning")
    model = fresh_model(arch, bundle, seed)
    idx = split.retain_idx if split is not None else slice(None)
    x, y = bundle.x_train[idx], bundle.y_train[idx]
    model = yield from train(
        model, x, y, bundle.mean, bundle.std, recipe, device=device, seed=seed, token=token, stage=kind,
        epoch_hook=epoch_hook,
    )
    model = model.to("cpu").eval()
    check_finite(model, f"{kind}: the trained {arch}")
    model.input_norm = _norm_of(bundle)
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
        }
        try:
            save_checkpoint(model, stem, meta, overwrite=True)
        except LetheError as exc:  # a full or read-only cache must not lose the trained model
            yield Log(f"{kind}: not cached, going on without the cache ({type(exc).__name__}: {exc.message})",
                      level="warning")
    return model


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

"""Shadow-ensemble privacy metrics: KLoM (methods.md B7) and U-LiRA (methods.md B5).

Both compare two *distributions* of models rather than one model against one retrain:

- **oracles**: K models retrained without the forget set, seeds ``seed .. seed+K−1``
  (:func:`engine.train.pretrained.obtain_retrain`, cached);
- **unlearned**: K originals with seeds ``seed+K .. seed+2K−1`` (:func:`obtain_original`, cached),
  each unlearned with the method under test (its own seed). The two seed ranges are disjoint so
  that ``method="retrain"`` is an honest baseline (independent retrains, not the same models).
  ``method="original"`` (:data:`NO_OP`) skips unlearning: the "unlearned" models are the originals.

Cost: 2K trainings (K originals + K retrains, both cached across jobs) plus K unlearning runs; see
:func:`estimate_cost`. Results are cached as JSON under ``cache_dir()/ensembles/`` by (dataset
fingerprint, forget hash, method, params, arch, recipe, seed, K). The 2K shadows are trained first,
up to :data:`MAX_STACK` at a time together with vmap (:func:`engine.train.pretrained.obtain_many`)
when :func:`engine.train.pretrained.batch_reason` allows it (``batched="vmap"``, or ``"auto"`` on an
accelerator, and an architecture that vmaps); otherwise each is trained as it is needed, one by one,
the Log saying why, or, given ``submit`` (an executor's ``submit_call``), in parallel worker processes
(:func:`train_shadow`) that share the model cache. Both jobs are event generators:
Progress over the 3K steps (retrain, original, unlearn per shadow), Logs, cancellation through the
token (checked every training / unlearning batch and every feature batch).

The statistics are pure functions (:func:`klom_scores`, :func:`ulira_attack`) on arrays of
per-model margins, testable without training.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any
from collections.abc import Callable, Generator

import numpy as np
import torch

from engine._core.cache import cache_dir, model_key, model_path
from engine._core.cancel import NEVER, CancelToken
from engine.data.bundle import DatasetBundle
from engine.data.forget import ForgetSplit
from engine._core.device import seed_everything
from engine._core.errors import BadSpec, LetheError
from engine._core.events import Event, Log, Progress, drain, forward
from engine.train.features import extract
from engine._core.fileio import atomic_write_json
from engine.methods import MethodContext, get as get_method
from engine.methods.base import params_from_json, params_to_json
from engine.models.base import LetheModel
from engine.train.pretrained import (
    BATCHED, MAX_STACK, batch_reason, fresh_model, obtain_many, obtain_original, obtain_retrain,
)
from engine.train.loop import train
from engine.train.recipe import Recipe

from engine.metrics.shadow import MIN_K, PAPER_K, klom_bins, klom_scores, margins, ulira_attack

ENSEMBLE_VERSION = 1
KINDS = ("klom", "ulira")
Submit = Callable[..., "Future[Any]"]  # an executor's submit_call: submit(fn, *args) -> Future


def train_shadow(kind: str, bundle: DatasetBundle, split: ForgetSplit | None, arch: str, recipe: Recipe, seed: int,
                 device: str) -> str:
    """Train one shadow model (``kind`` "retrain": without the forget set; "original": on all of
    the data) into the shared model cache, or find it there; returns ``kind``. Run in a worker
    through ``submit`` (the bundle and split are pickled to it); the cache's entry lock makes a
    second worker wanting the same model wait and load it."""
    dev = torch.device(device)
    if kind == "retrain":
        if split is None:
            raise BadSpec("train_shadow: a retrain needs the forget split")
        drain(obtain_retrain(bundle, split, arch, recipe, seed=seed, device=dev))
    else:
        drain(obtain_original(bundle, arch, recipe, seed=seed, device=dev))
    return kind
NO_OP = "original"  # pseudo-method: no unlearning at all (the originals themselves)
MAX_ROWS = 2000  # retain / test rows scored by KLoM (a fixed random subset beyond this)


# ------------------------------------------------------------------------------------------ cost
def estimate_cost(
    kind: str,
    k: int,
    seconds_per_training: float,
    *,
    seconds_per_unlearn: float | None = None,
    cached_trainings: int = 0,
) -> dict[str, Any]:
    """What a job will cost, for the UI to show before starting (B5: K × (train + unlearn)).

    2K trainings (K originals, K retrains) minus those already cached, plus K unlearning runs.
    ``seconds_per_unlearn`` defaults to one training (an upper bound for any method but Retrain).
    """
    if kind not in KINDS:
        raise BadSpec(f"ensemble kind must be one of {KINDS}, got {kind!r}")
    if k < MIN_K[kind]:
        raise BadSpec(f"{kind}: k must be >= {MIN_K[kind]}, got {k}")
    trainings = 2 * k
    to_train = max(0, trainings - int(cached_trainings))
    per_unlearn = float(seconds_per_training if seconds_per_unlearn is None else seconds_per_unlearn)
    seconds = to_train * float(seconds_per_training) + k * per_unlearn
    return {
        "kind": kind,
        "k": k,
        "trainings": trainings,
        "cached_trainings": trainings - to_train,
        "trainings_to_run": to_train,
        "unlearning_runs": k,
        "seconds_per_training": float(seconds_per_training),
        "seconds_per_unlearn": per_unlearn,
        "seconds": seconds,
        "minutes": seconds / 60.0,
        "approximate": k < PAPER_K[kind],
        "paper_k": PAPER_K[kind],
    }


def measure_seconds_per_training(
    bundle: DatasetBundle, arch: str, recipe: Recipe, *, device: torch.device = torch.device("cpu"), batches: int = 8
) -> float:
    """Rough seconds of one full training: time ``batches`` steps (after one warm-up) and scale up."""
    n = len(bundle.x_train)
    rows = min(n, recipe.batch_size * (batches + 1))
    model = fresh_model(arch, bundle, 0)
    probe = Recipe.from_json({**recipe.to_json(), "epochs": 1, "schedule": "none"})
    gen = train(model, bundle.x_train[:rows], bundle.y_train[:rows], bundle.mean, bundle.std, probe, device=device)
    steps, t0 = 0, 0.0
    for event in gen:
        if isinstance(event, Progress):
            steps += 1
            if steps == 1:
                t0 = time.perf_counter()  # exclude the first (warm-up) step
    elapsed = time.perf_counter() - t0
    per_step = elapsed / max(1, steps - 1)
    steps_per_epoch = math.ceil(n / recipe.batch_size)
    return per_step * steps_per_epoch * recipe.epochs


def shadow_seeds(seed: int, k: int) -> tuple[list[int], list[int]]:
    """(oracle retrain seeds, original seeds): ``seed..seed+k−1`` and ``seed+k..seed+2k−1``."""
    return [seed + i for i in range(k)], [seed + k + i for i in range(k)]


def cached_trainings(bundle: DatasetBundle, split: ForgetSplit, arch: str, recipe: Recipe, *, seed: int, k: int) -> int:
    """How many of the 2K shadow models are already in the model cache."""
    oracle_seeds, original_seeds = shadow_seeds(seed, k)
    n = 0
    for kind, seeds, fh in (("retrain", oracle_seeds, split.hash), ("original", original_seeds, None)):
        for s in seeds:
            stem = model_path(kind, model_key(bundle.fingerprint, arch, recipe.to_json(), s, fh))
            n += stem.with_suffix(".safetensors").exists()
    return n


def ensemble_preview(
    kind: str,
    bundle: DatasetBundle,
    split: ForgetSplit,
    arch: str,
    recipe: Recipe,
    method: str,
    params: Any = None,
    *,
    k: int,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    batched: str = "auto",
    seconds_per_training: float | None = None,
) -> dict[str, Any]:
    """What the studio shows before a KLoM / U-LiRA job starts (nothing is trained).

    Returns ``cost`` (:func:`estimate_cost`, cached shadows counted; ``seconds_per_training``
    measured with :func:`measure_seconds_per_training` — a few training steps — unless given),
    ``cached`` (the job's result when it is in the result cache, else None: the job would then only
    load it), ``shadow_training`` ("vmap" or "one by one") and ``why`` (None, or why not vmap).
    Errors: :class:`BadSpec` for a bad kind, k, method, params or ``batched``.
    """
    if kind not in KINDS:
        raise BadSpec(f"ensemble kind must be one of {KINDS}, got {kind!r}")
    if batched not in BATCHED:
        raise BadSpec(f"{kind}: batched must be one of {BATCHED}, got {batched!r}")
    _, p_json = _resolve_params(method, params)
    path = result_path(kind, bundle, split, arch, recipe, method, p_json, seed=seed, k=k)
    cached = _load_cached(path) if path.exists() else None
    spt = seconds_per_training
    if spt is None:
        spt = 0.0 if cached is not None else measure_seconds_per_training(bundle, arch, recipe, device=device)
    cost = estimate_cost(kind, k, spt, cached_trainings=cached_trainings(bundle, split, arch, recipe, seed=seed, k=k))
    why = batch_reason(batched, k, arch, bundle, device)
    return {"cost": cost, "cached": cached, "shadow_training": "vmap" if why is None else "one by one", "why": why}


# ----------------------------------------------------------------------------------------- cache
def _resolve_params(method: str, params: Any) -> tuple[Any, dict[str, Any]]:
    if method == NO_OP:
        return None, {}
    info = get_method(method)
    if params is None:
        p = info.params()
    elif isinstance(params, dict):
        p = params_from_json(info.params, params)
    elif dataclasses.is_dataclass(params):
        p = params
    else:
        raise BadSpec(f"params: expected a dict or {info.params.__name__}, got {type(params).__name__}")
    return p, params_to_json(p)


def result_path(kind: str, bundle: DatasetBundle, split: ForgetSplit, arch: str, recipe: Recipe, method: str,
                params_json: dict[str, Any], *, seed: int, k: int) -> Path:
    """The JSON cache file of one ensemble result."""
    payload = json.dumps(
        {"v": ENSEMBLE_VERSION, "kind": kind, "dataset": bundle.fingerprint, "forget": split.hash, "method": method,
         "params": params_json, "arch": arch, "recipe": recipe.to_json(), "seed": seed, "k": k},
        sort_keys=True,
    )
    key = hashlib.sha256(payload.encode()).hexdigest()[:24]
    return cache_dir() / "ensembles" / f"{kind}-{key}.json"


def _load_cached(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        result = data["result"] if isinstance(data.get("result"), dict) else None
        # NaN is written as null (strict JSON): read it back as NaN
        return {k: float("nan") if v is None else v for k, v in result.items()} if result is not None else None
    except (OSError, ValueError, KeyError, AttributeError):
        return None


# ------------------------------------------------------------------------------------ the shadows
def _rows(bundle: DatasetBundle, split: ForgetSplit, seed: int, with_retain_test: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)

    def cap(idx: np.ndarray) -> np.ndarray:
        return np.sort(rng.choice(idx, MAX_ROWS, replace=False)) if len(idx) > MAX_ROWS else idx

    f = split.forget_idx
    out = {"forget": (bundle.x_train[f], bundle.y_train[f])}
    if with_retain_test:
        r = cap(split.retain_idx)
        t = cap(np.arange(len(bundle.x_test)))
        out["retain"] = (bundle.x_train[r], bundle.y_train[r])
        out["test"] = (bundle.x_test[t], bundle.y_test[t])
    return out


def _shadow_margins(
    stage: str,
    bundle: DatasetBundle,
    split: ForgetSplit,
    arch: str,
    recipe: Recipe,
    method: str,
    params: Any,
    rows: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    k: int,
    seed: int,
    device: torch.device,
    token: CancelToken,
    batched: str = "auto",
    submit: Submit | None = None,
) -> Generator[Event, None, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """Margins (K, N) per row set under the K oracles and the K unlearned shadows.

    ``submit`` (an executor's ``submit_call``): when the shadows are not vmapped, the missing ones
    are trained first in parallel workers (:func:`train_shadow`) and loaded from the cache below."""
    info = None if method == NO_OP else get_method(method)
    if info is not None:
        info.check_supports(split)
    oracle_seeds, original_seeds = shadow_seeds(seed, k)
    oracle = {name: np.empty((k, len(x))) for name, (x, _) in rows.items()}
    unlearned = {name: np.empty((k, len(x))) for name, (x, _) in rows.items()}
    total = 3 * k
    unit = 0

    def relay(gen: Generator[Event, None, Any], what: str, width: int = 1) -> Generator[Event, None, Any]:
        """Forward Logs and rescaled Progress of one inner step (``width`` units); return its value."""
        return (yield from forward(
            gen, lambda ev: Progress(stage, (unit + width * min(max(ev.fraction, 0.0), 1.0)) / total,
                                     ev.message if width > 1 else what),
            keep=lambda ev: isinstance(ev, Log)))

    why_not = batch_reason(batched, k, arch, bundle, device)
    stacked = why_not is None
    if stacked:
        # Train the 2K shadows first, several together (vmap); they land in the model cache, so the
        # loop below loads them. Chunked by MAX_STACK: memory stays bounded.
        for kind_, seeds_, split_ in (("retrain", oracle_seeds, split), ("original", original_seeds, None)):
            for lo in range(0, k, MAX_STACK):
                chunk = seeds_[lo : lo + MAX_STACK]
                token.check()
                yield from relay(obtain_many(kind_, bundle, arch, recipe, chunk, split_, device=device, token=token,
                                             batched="vmap"), f"{kind_}s {lo + 1}-{lo + len(chunk)}/{k}", len(chunk))
                unit += len(chunk)
    elif submit is not None and cached_trainings(bundle, split, arch, recipe, seed=seed, k=k) < 2 * k:
        yield Log(f"{stage}: shadow models trained in parallel workers ({why_not})")
        yield from _train_in_workers(stage, submit, bundle, split, arch, recipe, oracle_seeds, original_seeds,
                                     device, token, total)
        unit += 2 * k
        stacked = True  # the loop below loads them from the cache: no progress units left for them
    elif cached_trainings(bundle, split, arch, recipe, seed=seed, k=k) < 2 * k:
        yield Log(f"{stage}: shadow models trained one by one ({why_not})")

    def score(model: LetheModel, into: dict[str, np.ndarray], i: int) -> None:
        for name, (x, y) in rows.items():
            logits = extract(model, x, bundle.mean, bundle.std, device=device, token=token).logits
            into[name][i] = margins(logits, y)

    for i in range(k):
        token.check()
        what = f"shadow {i + 1}/{k}: retrain (seed {oracle_seeds[i]})"
        retrain = yield from relay(
            obtain_retrain(bundle, split, arch, recipe, seed=oracle_seeds[i], device=device, token=token), what
        )
        score(retrain.to(device).eval(), oracle, i)
        del retrain
        unit += not stacked
        yield Progress(stage, unit / total, what)

        token.check()
        what = f"shadow {i + 1}/{k}: original (seed {original_seeds[i]})"
        original = yield from relay(
            obtain_original(bundle, arch, recipe, seed=original_seeds[i], device=device, token=token), what
        )
        original = original.to(device).eval()
        original.requires_grad_(False)
        unit += not stacked
        yield Progress(stage, unit / total, what)

        token.check()
        what = f"shadow {i + 1}/{k}: {method}"
        if info is None:
            model = original
        else:
            ctx = MethodContext(original=original, bundle=bundle, split=split, device=device, recipe=recipe,
                                seed=original_seeds[i], token=token)
            seed_everything(original_seeds[i])
            model = yield from relay(info.fn(ctx, params), what)
        score(model.eval(), unlearned, i)
        del model, original
        unit += 1
        yield Progress(stage, unit / total, what)
    return oracle, unlearned


def _train_in_workers(stage: str, submit: Submit, bundle: DatasetBundle, split: ForgetSplit, arch: str, recipe: Recipe,
                      oracle_seeds: list[int], original_seeds: list[int], device: torch.device, token: CancelToken,
                      total: int) -> Generator[Event, None, None]:
    """Submit the 2K shadow trainings (interleaved retrain / original); Progress as each ends; the
    first failure raises (the rest cancelled); ``token`` cancels the queued ones."""
    futures: list[Future[Any]] = []
    for r_seed, o_seed in zip(oracle_seeds, original_seeds, strict=True):
        futures.append(submit(train_shadow, "retrain", bundle, split, arch, recipe, r_seed, str(device)))
        futures.append(submit(train_shadow, "original", bundle, None, arch, recipe, o_seed, str(device)))
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            token.check()
            for f in done:
                f.result()  # a failed training raises here
            finished = len(futures) - len(pending)
            if done:
                yield Progress(stage, finished / total, f"shadow trainings {finished}/{len(futures)} (parallel workers)")
    except BaseException:
        for f in futures:
            f.cancel()
        raise


def _job(
    kind: str,
    bundle: DatasetBundle,
    split: ForgetSplit,
    arch: str,
    recipe: Recipe,
    method: str,
    params: Any,
    *,
    k: int,
    seed: int,
    device: torch.device,
    token: CancelToken,
    use_cache: bool,
    batched: str = "auto",
    submit: Submit | None = None,
) -> Generator[Event, None, dict[str, Any]]:
    if k < MIN_K[kind]:
        raise BadSpec(f"{kind}: k must be >= {MIN_K[kind]}, got {k}")
    if batched not in BATCHED:
        raise BadSpec(f"{kind}: batched must be one of {BATCHED}, got {batched!r}")
    p, p_json = _resolve_params(method, params)
    path = result_path(kind, bundle, split, arch, recipe, method, p_json, seed=seed, k=k)
    if use_cache and path.exists():
        cached = _load_cached(path)
        if cached is not None:
            yield Log(f"{kind}: loaded from cache ({path.name})")
            yield Progress(kind, 1.0, "cached")
            return cached
        yield Log(f"{kind}: cached result unreadable, computing again", level="warning")
    rows = _rows(bundle, split, seed, with_retain_test=(kind == "klom"))
    oracle, unlearned = yield from _shadow_margins(
        kind, bundle, split, arch, recipe, method, p, rows, k=k, seed=seed, device=device, token=token,
        batched=batched, submit=submit,
    )
    result: dict[str, Any] = {"k": k, "approximate": k < PAPER_K[kind]}
    if kind == "klom":
        bins = klom_bins(k)
        for name in rows:
            s = klom_scores(oracle[name], unlearned[name], bins=bins)
            result[f"klom_{name}_mean"] = float(s.mean()) if s.size else float("nan")
            result[f"klom_{name}_p95"] = float(np.quantile(s, 0.95)) if s.size else float("nan")
        result["klom_mean"] = result["klom_forget_mean"]
        result["bins"] = float(bins)
    else:
        result.update(ulira_attack(unlearned["forget"], oracle["forget"], holdout="rotate"))
    result["n_forget"] = float(split.n_forget)
    if use_cache:
        meta = {"kind": kind, "method": method, "params": p_json, "arch": arch, "recipe": recipe.to_json(),
                "seed": seed, "k": k, "dataset_fingerprint": bundle.fingerprint, "forget_hash": split.hash}
        try:  # strict JSON (NaN -> null); a full or read-only cache costs a warning, not the result
            atomic_write_json(path, {"meta": meta, "result": result})
        except LetheError as exc:
            yield Log(f"{kind}: result not cached ({type(exc).__name__}: {exc.message})", level="warning")
    return result


def klom_job(
    bundle: DatasetBundle,
    split: ForgetSplit,
    arch: str,
    recipe: Recipe,
    method: str,
    params: Any = None,
    *,
    k: int,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    token: CancelToken = NEVER,
    use_cache: bool = True,
    batched: str = "auto",
    submit: Submit | None = None,
) -> Generator[Event, None, dict[str, Any]]:
    """KLoM (methods.md B7) of ``method`` with K oracles and K unlearned shadows.

    Returns ``klom_{forget,retain,test}_{mean,p95}`` (per-sample KL(oracle ‖ unlearned) of margin
    histograms; retain / test capped at :data:`MAX_ROWS` rows), ``klom_mean`` (= forget mean, the
    catalog's ``klom_mean``), ``bins``, ``n_forget``, ``k`` and ``approximate`` (k < 100, the
    paper's N). 0 is perfect. ``params``: the method's Params, a dict of overrides, or None (defaults).
    ``batched``: how the shadows train ("auto", "vmap", "sequential"; see the module docstring).
    ``submit``: an executor's ``submit_call``; shadows not vmapped then train in parallel workers.
    """
    return (yield from _job("klom", bundle, split, arch, recipe, method, params, k=k, seed=seed, device=device,
                            token=token, use_cache=use_cache, batched=batched, submit=submit))


def ulira_job(
    bundle: DatasetBundle,
    split: ForgetSplit,
    arch: str,
    recipe: Recipe,
    method: str,
    params: Any = None,
    *,
    k: int,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    token: CancelToken = NEVER,
    use_cache: bool = True,
    batched: str = "auto",
    submit: Submit | None = None,
) -> Generator[Event, None, dict[str, Any]]:
    """U-LiRA (methods.md B5) of ``method``: the fixed-forget-set recipe of the class-forgetting code.

    K originals (all of D) unlearned with the method vs K retrains without D_f; per forget sample,
    Gaussians of the logit-scaled confidence φ = log(p_y/(1−p_y)) fitted on K−1 shadows of each
    kind, the last pair held out (:func:`ulira_attack`). Returns ``ulira_auc``, ``ulira_accuracy``
    (balanced, best threshold), ``per_sample_variance`` (False: the pooled "global variance"
    variant, used when K−1 < 4), ``n_forget``, ``k`` and ``approximate`` (k < 8).

    Not implemented: the random-forgetting U-LiRA with shadows on random halves and per-example
    in/out distributions (unaffordable here); for sample forget sets this job applies the same
    fixed-forget-set test, which asks "can the unlearned model be told from a retrain on *these*
    samples?". ``submit``: as for :func:`klom_job`.
    """
    return (yield from _job("ulira", bundle, split, arch, recipe, method, params, k=k, seed=seed, device=device,
                            token=token, use_cache=use_cache, batched=batched, submit=submit))

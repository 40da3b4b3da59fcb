"""Benchmarks: ratios measured in one run (never timed in tests).

``python -m engine bench pour``: POUR-P time ÷ one feature pass over the forget set, Retrain time ÷
POUR-P time, POUR-D time ÷ Retrain time, with the absolute seconds, device and core count.
``python -m engine bench methods [--preset small]``: every method's metrics and time ÷ Retrain, with
the paper defaults or a registry preset.
``python -m engine bench features``: our batched feature pass vs a bare ``torch.inference_mode``
loop over the same tensors, model and batch size.
``python -m engine bench ensemble [--k 16 --epochs 2 --repeats 2]``: K shadow models trained
together with vmap ÷ one by one (throughput), same seeds, interleaved; weights compared.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable, Generator

import numpy as np
import torch

from engine._core.cancel import NEVER
from engine.data import ForgetSpec, load_dataset
from engine._core.device import cpu_thread_budget, resolve_device, seed_everything
from engine.cli.format import COLUMNS, PERCENT_COLUMNS, ProgressPrinter
from engine.cli.outfile import output_file
from engine._core.events import Event, Log, Progress, drain
from engine.train.features import extract
from engine._core.fileio import atomic_write_json
from engine._core.errors import BadSpec, LetheError
from engine.evaluation.evaluator import Evaluator
from engine.methods import MethodContext, available as available_methods, get as get_method
from engine.methods.registry import PAPER, preset_names
from engine.train.pretrained import obtain_original, obtain_retrain
from engine.train.recipe import Recipe, default_recipe


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: torch.device, repeats: int = 1, warmup: int = 0) -> tuple[float, Any]:
    """Median wall seconds of ``repeats`` calls (after ``warmup`` untimed ones) and the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        result = fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def machine_info(device: torch.device) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {
        "device": str(device),
        "device_name": name,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


class Steps:
    """Progress of a bench on stderr: step k of n and what it does ("bench pour · 3/5 POUR-P ×6 · ETA 0:41").

    :meth:`begin` announces the next step (always printed, also in a log); :meth:`follow` drives an
    event generator with its progress shown inside the step. Timed work (a 13-minute Retrain) is
    followed with ``every_s``: an event is looked at only if ``every_s`` seconds have passed since
    the last one shown (one clock read per event), so printing stays out of a measured time."""

    def __init__(self, stage: str, total: int, printer: Callable[[Event], None] | None) -> None:
        self.stage, self.total, self.printer = stage, max(1, total), printer
        self.k = -1
        self.what = ""

    def begin(self, what: str) -> None:
        self.k += 1
        self.what = what
        self._emit(0.0, "", force=True)

    def follow(self, gen: Generator[Event, None, Any], every_s: float = 0.0) -> Any:
        """Drive ``gen`` to its end and return its value; its Progress is shown inside the step
        (at most once per ``every_s`` seconds), its Log lines always."""
        last = -math.inf
        while True:
            try:
                ev = next(gen)
            except StopIteration as stop:
                return stop.value
            if isinstance(ev, Progress):
                if every_s:
                    now = time.perf_counter()
                    if now - last < every_s:
                        continue
                    last = now
                self._emit(ev.fraction, ev.message)
            elif self.printer is not None and isinstance(ev, Log):
                self.printer(ev)

    def done(self) -> None:
        self.k = self.total - 1
        self._emit(1.0, "done")

    def _emit(self, fraction: float, detail: str, force: bool = False) -> None:
        if self.printer is None:
            return
        k = min(self.k, self.total - 1)
        f = (k + max(0.0, min(1.0, fraction))) / self.total
        text = "done" if detail == "done" else f"{k + 1}/{self.total} {self.what}" + (f": {detail}" if detail else "")
        event = Progress(self.stage, f, text)
        step = getattr(self.printer, "step", None)  # a ProgressPrinter writes a new step even between its lines
        (step if force and step is not None else self.printer)(event)


def _steps(args: argparse.Namespace, stage: str, total: int) -> Steps:
    return Steps(stage, total, getattr(args, "progress", None))


def bench_pour(args: argparse.Namespace) -> dict[str, Any]:
    steps = _steps(args, "bench pour", 6)
    device = resolve_device(args.device)
    steps.begin("load the data and the original (trained once, then cached)")
    bundle = load_dataset(args.dataset)
    split = ForgetSpec(classes=(args.forget_class,)).resolve(bundle)
    recipe = default_recipe(args.model, bundle.image_size, bundle.channels)
    original = steps.follow(obtain_original(bundle, args.model, recipe, seed=args.seed, device=device)).to(device).eval()
    original.requires_grad_(False)
    ctx = MethodContext(original=original, bundle=bundle, split=split, device=device, recipe=recipe, seed=args.seed)
    x_forget = bundle.x_train[split.forget_idx]

    steps.begin("time one feature pass over the forget set (median of 5)")
    t_feat, _ = timed(lambda: extract(original, x_forget, bundle.mean, bundle.std, device=device), device, repeats=5, warmup=1)
    pour_p = get_method("pour_p")
    steps.begin("time POUR-P (median of 5)")
    t_p, _ = timed(lambda: drain(pour_p.fn(ctx, pour_p.params())), device, repeats=5, warmup=1)
    seed_everything(args.seed)
    steps.begin("time Retrain (one training without the forget set)")
    t_r, _ = timed(
        lambda: drain(obtain_retrain(bundle, split, args.model, recipe, seed=args.seed, device=device, token=NEVER, use_cache=False)),
        device,
    )
    pour_d = get_method("pour_d")
    steps.begin("time POUR-D")
    t_d, _ = timed(lambda: drain(pour_d.fn(ctx, pour_d.params())), device)
    steps.begin("time POUR-D with its small preset (the variant that forgets unseen images at small scale)")
    t_ds, _ = timed(lambda: drain(pour_d.fn(ctx, pour_d.params_for("small"))), device)
    steps.done()
    rows = [
        ("POUR-P ÷ one feature pass over the forget set", t_p / t_feat, f"{t_p:.4f} s ÷ {t_feat:.4f} s"),
        ("Retrain ÷ POUR-P", t_r / t_p, f"{t_r:.2f} s ÷ {t_p:.4f} s"),
        ("POUR-D ÷ Retrain", t_d / t_r, f"{t_d:.2f} s ÷ {t_r:.2f} s"),
        ("POUR-D (small preset) ÷ Retrain", t_ds / t_r, f"{t_ds:.2f} s ÷ {t_r:.2f} s"),
    ]
    return {
        "suite": "pour",
        "dataset": bundle.source,
        "model": args.model,
        "forget": {"classes": [bundle.classes[args.forget_class]], "size": len(split.forget_idx)},
        "seed": args.seed,
        "machine": machine_info(device),
        "seconds": {"feature_pass_forget": t_feat, "pour_p": t_p, "retrain": t_r, "pour_d": t_d, "pour_d_small": t_ds},
        "ratios": {name: ratio for name, ratio, _ in rows},
        "table": _table(["ratio", "value", "measured"], [(n, f"{r:.3g}", m) for n, r, m in rows]),
        "note": ("single seed; POUR-P and the feature pass are medians of 5 timed runs, Retrain and POUR-D one run each. "
                 "Times are the method's function alone: no geometry frames (no probe), no evaluation, no audit, "
                 "the original already in memory."),
    }


class PeakMemory:
    """Peak extra memory during a block: CUDA allocator peak, or resident-set size sampled every 2 ms."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mb = float("nan")
        self.kind = "CUDA max_memory_allocated" if device.type == "cuda" else "process RSS sampled every 2 ms"

    @staticmethod
    def _rss() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            return 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        import threading

        self._base = self._rss()
        self._max = self._base
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(0.002):
                self._max = max(self._max, self._rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.device.type == "cuda":
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
            return
        self._stop.set()
        self._thread.join()
        self._max = max(self._max, self._rss())
        self.peak_mb = (self._max - self._base) / 2**20 if self._base else float("nan")


def bench_features(args: argparse.Namespace) -> dict[str, Any]:
    steps = _steps(args, "bench features", 2)
    device = resolve_device(args.device)
    steps.begin("load the data and the original (trained once, then cached)")
    bundle = load_dataset(args.dataset)
    recipe = default_recipe(args.model, bundle.image_size, bundle.channels)
    model = steps.follow(obtain_original(bundle, args.model, recipe, seed=args.seed, device=device)).to(device).eval()
    steps.begin("time the bare loop and ours, 5 times each")
    x = bundle.x_train
    batch = 512

    def bare() -> np.ndarray:
        outs = []
        with torch.inference_mode():
            for s in range(0, len(x), batch):
                xb = bundle.normalise(x[s : s + batch], device)
                outs.append(model(xb).float().cpu())
        return torch.cat(outs).numpy()

    def ours() -> np.ndarray:
        return extract(model, x, bundle.mean, bundle.std, device=device, batch_size=batch).logits

    # Interleaved (bare, ours, bare, ours, ...) so both see the same machine load; medians of 5.
    bare_times, our_times = [], []
    a = bare()
    b = ours()  # warm-up of both
    for _ in range(5):
        t, a = timed(bare, device)
        bare_times.append(t)
        t, b = timed(ours, device)
        our_times.append(t)
    t_bare, t_ours = statistics.median(bare_times), statistics.median(our_times)
    same = bool(np.allclose(a, b, atol=1e-4))
    with PeakMemory(device) as peak:
        result = ours()
    steps.done()
    out_mb = (result.nbytes + len(x) * model.feature_dim * 4) / 2**20
    rows = [("bare inference_mode loop ÷ our feature pass (higher is better, aim ≥ 0.9)", t_bare / t_ours,
             f"{t_bare:.3f} s ÷ {t_ours:.3f} s")]
    return {
        "suite": "features",
        "dataset": bundle.source,
        "model": args.model,
        "images": len(x),
        "batch_size": batch,
        "machine": machine_info(device),
        "seconds": {"bare": t_bare, "ours": t_ours},
        "ratios": {rows[0][0]: rows[0][1]},
        "same_logits": same,
        "peak_memory_mb": peak.peak_mb,
        "output_mb": out_mb,
        "table": _table(["ratio", "value", "measured"], [(n, f"{r:.3g}", m) for n, r, m in rows]),
        "note": (f"medians of 5 interleaved timed runs after one warm-up each; ours also returns the penultimate features. "
                 f"Peak extra memory of the pass ({peak.kind}): {peak.peak_mb:.1f} MiB for {len(x)} images, "
                 f"of which the returned features + logits are {out_mb:.1f} MiB (input batches stream)."),
    }


def parse_forget(text: str) -> ForgetSpec:
    """``class:3`` | ``class:3,5`` | ``fraction:0.1`` -> ForgetSpec (the bench's --forget)."""
    kind, _, value = text.partition(":")
    if kind == "class" and value:
        return ForgetSpec(classes=tuple(int(v) if v.isdigit() else v for v in value.split(",")))
    if kind == "fraction" and value:
        return ForgetSpec(fraction=float(value), seed=0, stratified=True)
    raise BadSpec(f"--forget: expected class:K or fraction:F, got {text!r}")


FOLLOW_EVERY_S = 2.0  # a timed job's progress is shown at most this often (one clock read per event otherwise)
METHOD_COLUMNS = [key for key, _ in COLUMNS]  # the demo's columns, in the same order


def _one_seed_methods(args: argparse.Namespace, seed: int, names: list[str], steps: Steps) -> dict[str, dict[str, float]]:
    """Every method on one original and one forget set; metrics plus time ÷ Retrain time."""
    device = resolve_device(args.device)
    steps.begin(f"seed {seed}: load the data and the original (trained once, then cached)")
    bundle = load_dataset(args.dataset)
    split = parse_forget(args.forget).resolve(bundle)
    recipe = default_recipe(args.model, bundle.image_size, bundle.channels)
    original = steps.follow(obtain_original(bundle, args.model, recipe, seed=seed, device=device)).to(device).eval()
    original.requires_grad_(False)
    seed_everything(seed)
    steps.begin(f"seed {seed}: Retrain (timed) and the references' metrics")
    t_retrain, retrain = timed(
        lambda: steps.follow(obtain_retrain(bundle, split, args.model, recipe, seed=seed, device=device, use_cache=False),
                             every_s=FOLLOW_EVERY_S), device
    )
    retrain = retrain.to(device).eval()
    evaluator = Evaluator(bundle, split, device, seed=seed)
    rows: dict[str, dict[str, float]] = {}
    preset = getattr(args, "preset", None) or PAPER
    m, _ = evaluator.evaluate(original, original, retrain)
    rows["original"] = {**m, "time_ratio": float("nan")}
    m, _ = evaluator.evaluate(retrain, original, retrain)
    rows["retrain"] = {**m, "time_ratio": 1.0, "seconds": t_retrain}
    for name in names:
        if name == "retrain":
            continue
        method, _, own_preset = name.partition("@")  # "pour_d@small": that method with its own preset
        info = get_method(method)
        steps.begin(f"seed {seed}: {info.label or name} (timed) and its metrics")
        if info.unsupported_reason(split):
            rows[name] = {"skipped": 1.0}
            continue
        ctx = MethodContext(original=original, bundle=bundle, split=split, device=device, recipe=recipe, seed=seed,
                            reference=retrain)
        seed_everything(seed)
        try:
            t, model = timed(lambda: steps.follow(info.fn(ctx, info.params_for(own_preset or preset)),  # noqa: B023 - called at once
                                                  every_s=FOLLOW_EVERY_S), device)
        except LetheError as exc:
            rows[name] = {"failed": 1.0, "error": exc.one_line()}  # type: ignore[dict-item]
            continue
        m, _ = evaluator.evaluate(model.eval(), original, retrain)
        rows[name] = {**m, "time_ratio": t / t_retrain, "seconds": t}
    return rows


def one_seed_methods_job(options: dict[str, Any], seed: int, names: list[str]) -> dict[str, dict[str, float]]:
    """:func:`_one_seed_methods` in a worker process (``executor.submit_call``): ``options`` are the
    bench's picklable arguments (no progress printer); the worker uses its own torch threads."""
    args = argparse.Namespace(**options)
    return _one_seed_methods(args, seed, names, Steps("bench methods", 1, None))


def _seeds_in_parallel(args: argparse.Namespace, seeds: list[int], names: list[str], workers: int,
                       steps: Steps) -> list[dict[str, dict[str, float]]]:
    """One seed per worker of a local executor (each seed's original, Retrain and methods in one
    process, so each ratio is measured inside one worker); results in seed order."""
    from engine.executors import make_executor

    options = {k: v for k, v in vars(args).items() if k != "progress"}
    steps.begin(f"{len(seeds)} seeds on {workers} parallel workers (each: original, Retrain, methods)")
    with make_executor("local", workers, nice=0) as ex:  # not niced: timed like the in-process seeds
        futures = [ex.submit_call(one_seed_methods_job, options, s, names) for s in seeds]
        try:
            return [f.result() for f in futures]
        except BaseException:
            ex.cancel()
            raise


def bench_methods(args: argparse.Namespace) -> dict[str, Any]:
    names = args.only.split(",") if args.only else available_methods()
    for name in names:
        method, _, own_preset = name.partition("@")
        get_method(method)  # unknown names fail before any work
        if own_preset and own_preset not in preset_names():
            raise BadSpec(f"--only: {name!r} names an unknown preset (known: {', '.join(preset_names())})")
    preset = getattr(args, "preset", None) or PAPER
    if preset not in preset_names():
        raise BadSpec(f"--preset: {preset!r} is not a known preset (known: {', '.join(preset_names())})")
    seeds = [args.seed + i for i in range(args.seeds)]
    steps = _steps(args, "bench methods", len(seeds) * (2 + len([n for n in names if n != "retrain"])))
    workers = int(getattr(args, "workers", None) or 1)
    if workers < 1:
        raise BadSpec(f"--workers must be at least 1, got {workers}")
    workers = min(workers, len(seeds))
    if workers == 1:
        per_seed = [_one_seed_methods(args, s, names, steps) for s in seeds]
    else:
        per_seed = _seeds_in_parallel(args, seeds, names, workers, steps)
    steps.done()
    device = resolve_device(args.device)
    methods = list(per_seed[0])
    header = ["method"] + [_COLUMN_TITLES[c] for c in METHOD_COLUMNS] + ["time ÷ Retrain"]
    table_rows = []
    summary: dict[str, dict[str, Any]] = {}
    for name in methods:
        runs = [rows[name] for rows in per_seed]
        if "skipped" in runs[0] or "failed" in runs[0]:
            why = "cannot handle this forget set" if "skipped" in runs[0] else runs[0].get("error", "failed")
            table_rows.append((_label(name), why) + ("",) * (len(header) - 2))
            summary[name] = {"note": why}
            continue
        cells = [_label(name)]
        summary[name] = {}
        for col in [*METHOD_COLUMNS, "time_ratio"]:
            values = [r[col] for r in runs if col in r and r[col] == r[col]]
            if not values:
                cells.append("–")
                continue
            mean = float(np.mean(values))
            std = float(np.std(values)) if len(values) > 1 else None
            summary[name][col] = {"mean": mean, "std": std, "n": len(values)}
            scale = 100.0 if col in _PERCENT else 1.0
            if col in _PERCENT:
                text = f"{mean * scale:.1f}" + (f" ± {std * scale:.1f}" if std is not None else "")
            elif col == "time_ratio":
                text = f"{mean:.3g}" + (f" ± {std:.2g}" if std is not None else "")
            else:
                text = f"{mean:.3f}" + (f" ± {std:.3f}" if std is not None else "")
            cells.append(text)
        table_rows.append(tuple(cells))
    split_desc = args.forget
    return {
        "suite": "methods",
        "dataset": args.dataset,
        "model": args.model,
        "forget": split_desc,
        "seeds": seeds,
        "workers": workers,
        "machine": machine_info(device),
        "results": summary,
        "per_seed": per_seed,
        "table": _table(header, table_rows),
        "preset": preset,
        "note": ("accuracies and rMIA in %; " + (f"mean ± std over {len(seeds)} seeds" if len(seeds) > 1 else "single seed")
                 + "; time ÷ Retrain: the method alone (no evaluation) over Retrain trained in the same run"
                 + (f" (the same worker: {workers} seeds ran in parallel, one per worker, so seconds include the "
                    "other workers' contention, which can differ between a seed's phases; --workers 1 for timings)"
                    if workers > 1 else "") + "; "
                 + _preset_text(preset, names)),
    }


def _preset_text(preset: str, names: list[str]) -> str:
    """Which hyperparameters the rows ran with: ``--preset`` where a method has it, else the paper
    defaults, except a row named ``METHOD@PRESET``, which ran with its own preset (its row says so)."""
    own = [_label(n) for n in names if "@" in n]
    with_preset = [_label(n) for n in names if "@" not in n and n != "retrain" and preset != PAPER
                   and preset in get_method(n).presets]
    if preset == PAPER or not with_preset:
        text = "hyperparameters: the paper defaults" + (" for the others" if own else "")
        if preset != PAPER:
            text += f" (no method here has the {preset!r} preset)"
    else:
        text = (f"hyperparameters: the {preset!r} preset where a method has one ({', '.join(with_preset)}), "
                f"the paper defaults for the others")
    if own:
        text = f"{', '.join(own)}: the preset named in the row; " + text
    return text


_PERCENT = PERCENT_COLUMNS
_COLUMN_TITLES = dict(COLUMNS)


def _label(name: str) -> str:
    if name == "original":
        return "Original"
    method, _, own_preset = name.partition("@")
    label = get_method(method).label or method
    return f"{label} ({own_preset} preset)" if own_preset else label


def bench_ensemble(args: argparse.Namespace) -> dict[str, Any]:
    """K shadow models of ``--model`` trained together (vmap) vs one by one, interleaved, same seeds.

    Sequential runs on the thread budget (:func:`cpu_thread_budget`, set by :func:`run_bench`); vmap
    on the same threads and, when ``--vmap-threads`` differs, on that many too (the stacked kernels
    are K times larger, so they may use cores a single small model cannot).
    """
    from engine.train.ensemble_vmap import train_stacked
    from engine.train.loop import train
    from engine.train.pretrained import fresh_model, vmap_reason

    device = resolve_device(args.device)
    bundle = load_dataset(args.dataset)
    base = default_recipe(args.model, bundle.image_size, bundle.channels)
    recipe = Recipe.from_json({**base.to_json(), "epochs": args.epochs})
    k = int(args.k)
    seeds = [args.seed + i for i in range(k)]
    reason = vmap_reason(args.model, bundle, device)
    if reason is not None:
        raise BadSpec(f"bench ensemble: {args.model} cannot be trained under vmap ({reason})")
    x, y = bundle.x_train, bundle.y_train
    threads = torch.get_num_threads()
    vmap_threads = int(args.vmap_threads or threads)

    def sequential(rows: int = len(x), n: int = k) -> list[Any]:
        return [drain(train(fresh_model(args.model, bundle, s), x[:rows], y[:rows], bundle.mean, bundle.std, recipe,
                            device=device, seed=s)) for s in seeds[:n]]

    def together(rows: int = len(x), n: int = k, n_threads: int = threads) -> list[Any]:
        models = [fresh_model(args.model, bundle, s) for s in seeds[:n]]
        torch.set_num_threads(n_threads)
        try:
            return drain(train_stacked(models, x[:rows], y[:rows], None, bundle.mean, bundle.std, recipe,
                                       seeds=seeds[:n], device=device))
        finally:
            torch.set_num_threads(threads)

    ways: dict[str, Callable[[], list[Any]]] = {"sequential": sequential, "vmap": together}
    if vmap_threads != threads:
        ways[f"vmap, {vmap_threads} threads"] = lambda: together(n_threads=vmap_threads)
    sequential(rows=4 * recipe.batch_size, n=1)  # warm-up (the first training of a process pays ~seconds)
    together(rows=4 * recipe.batch_size, n=2)
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {w: [] for w in ways}
    models: dict[str, list[Any]] = {}
    for _ in range(max(1, args.repeats)):  # interleaved: every way sees the same machine load
        for w, fn in ways.items():
            t, models[w] = timed(fn, device)
            times[w].append(t)
    load_after = os.getloadavg()
    med = {w: statistics.median(ts) for w, ts in times.items()}
    ratios = {f"{w} ÷ sequential": med["sequential"] / med[w] for w in ways if w != "sequential"}

    def rel_diff(a: list[Any], b: list[Any]) -> float:
        worst = 0.0
        for ma, mb in zip(a, b, strict=True):
            for ta, tb in zip(ma.state_dict().values(), mb.state_dict().values(), strict=True):
                if ta.is_floating_point():
                    worst = max(worst, float((ta - tb).abs().max() / ta.abs().max().clamp_min(1e-12)))
        return worst

    def test_acc(ms: list[Any]) -> float:
        return float(np.mean([(extract(m, bundle.x_test, bundle.mean, bundle.std, device=device).logits.argmax(1)
                               == bundle.y_test).mean() for m in ms]))

    diff = rel_diff(models["sequential"], models["vmap"])
    acc = {w: test_acc(ms) for w, ms in models.items()}
    rows = [(f"{name} (throughput, models per second; aim ≥ 3)", f"{r:.3g}",
             f"{k / med[name.split(' ÷ ')[0]]:.3g} ÷ {k / med['sequential']:.3g} models/s "
             f"({med[name.split(' ÷ ')[0]]:.1f} s vs {med['sequential']:.1f} s)") for name, r in ratios.items()]
    lines = "; ".join(f"{name}: {r:.2f}x" for name, r in ratios.items())
    return {
        "suite": "ensemble",
        "dataset": bundle.source,
        "model": args.model,
        "k": k,
        "epochs": recipe.epochs,
        "machine": {**machine_info(device), "vmap_threads": vmap_threads},
        "seconds": times,
        "ratios": ratios,
        "max_relative_weight_difference": diff,
        "test_accuracy": acc,
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "table": _table(["ratio", "value", "measured"], rows),
        "note": (f"{lines} — {k} {args.model} models x {recipe.epochs} epochs on all {len(x)} training images, "
                 f"same seeds every way, medians of {len(times['sequential'])} interleaved runs after a warm-up. "
                 f"vmap vs sequential weights differ by at most {diff:.1e} (relative to each tensor's largest entry); "
                 f"mean test accuracy " + ", ".join(f"{w} {a:.3f}" for w, a in acc.items()) + ". "
                 f"Load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after on "
                 f"{os.cpu_count()} cores (a shared machine inflates every time)."),
    }


SUITES = {"pour": bench_pour, "features": bench_features, "methods": bench_methods, "ensemble": bench_ensemble}


# ``bench all``: digits always; the real subsets in ../shared/data when they are there.
SHARED_DATASETS = (
    ("npz:../shared/data/cifar10_subset.npz", "convnet"),
    ("npz:../shared/data/pathmnist_subset.npz", "cnn_small"),
)


def all_targets(args: argparse.Namespace) -> list[tuple[str, str]]:
    targets = [(args.dataset, args.model)]
    for source, model in SHARED_DATASETS:
        if Path(source.split(":", 1)[1]).exists() and source != args.dataset:
            targets.append((source, model))
    return targets


def _print_result(suite: str, result: dict[str, Any]) -> None:
    m = result["machine"]
    print(f"## bench {suite}: {result['dataset']}, {result['model']} on {m['device']} "
          f"({m['device_name']}, {m['cpu_cores']} cores, {m['torch_threads']} torch threads)\n")
    print(result["table"])
    print(f"\n{result['note']}\n")


def run_bench(args: argparse.Namespace) -> int:
    out = output_file(args.out, f"bench-{args.suite}.json") if args.out else None  # refused now, not after the run
    torch.set_num_threads(cpu_thread_budget())
    printer = ProgressPrinter(quiet=args.quiet)
    args = argparse.Namespace(**{**vars(args), "progress": printer, "out": out})
    try:
        return _run_bench(args)
    finally:
        printer.close()


def _run_bench(args: argparse.Namespace) -> int:
    if args.suite == "all":
        results = []
        for dataset, model in all_targets(args):
            for suite in ("pour", "features", "methods"):
                sub = argparse.Namespace(**{**vars(args), "dataset": dataset, "model": model, "suite": suite})
                result = SUITES[suite](sub)
                args.progress.close()  # end the progress line before the table
                _print_result(suite, result)
                results.append({k: v for k, v in result.items() if k != "table"})
        payload: Any = {"suite": "all", "results": results}
    else:
        result = SUITES[args.suite](args)
        args.progress.close()  # end the progress line before the table
        _print_result(args.suite, result)
        payload = {k: v for k, v in result.items() if k != "table"}
    if args.out is not None:
        atomic_write_json(args.out, payload)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _table(header: list[str], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)

"""JobSpec and Runner: one run = load data -> original -> reference -> unlearn -> evaluate -> save.

The same JSON spec runs from the studio, from ``python -m engine unlearn spec.json`` and in tests.
``Runner.run`` is a generator of events that never raises: failures become one ``Failed`` event.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import fields, replace
from pathlib import Path
from typing import Any
from collections.abc import Callable, Generator, Iterator

import torch

from engine.evaluation.audit import Auditor, CostMeter, audit_block, relative_metrics
from engine._core.cache import cache_dir, model_key, model_path
from engine._core.cancel import NEVER, CancelToken
from engine._core.warmup import warm_up
from engine.models.checkpoints import load_checkpoint
from engine._core.fileio import check_not_input, protect_inputs, sweep_orphan_tmp
from engine._core.outputs import OutputFolder
from engine.models.checkpoints import check_finite, checkpoint_paths
from engine.data import DatasetBundle, ForgetSpec, ForgetSplit, load_dataset
from engine.data.sources import source_files
from engine._core.device import cpu_thread_budget, resolve_device, seed_everything
from engine._core.errors import BadCheckpoint, BadSpec, Cancelled, LetheError
from engine.evaluation.evaluator import Evaluator
from engine._core.events import Event, Failed, Finished, Geometry, Log, Progress, failed_event, forward
from engine._core.progress import StageEta, Throttle
from engine.train.features import FeatureCache
from engine.methods import MethodContext, get as get_method
from engine.methods.base import params_from_json, params_to_json
from engine.methods.registry import PAPER
from engine.models.base import LetheModel
from engine.models.input_norm import InputNorm
from engine.train.pretrained import CACHED, obtain_original, obtain_retrain, provenance
from engine.live.movement import MovementWatch
from engine.live.probe import GeometryProbe
from engine.runs.record import RunRecord
from engine.train.recipe import Recipe, default_recipe

from engine.runs.normalisation import bundle_for_model
from engine.runs.budget import Training, check_budget, training
from engine.runs.spec import JobSpec, _check_preset, _preset_note
from engine.runs.record import RUN_FILES, save_run


# Stage weights for one overall progress fraction (normalised over the stages a job has).
STAGE_WEIGHTS = {"data": 0.03, "original": 0.3, "reference": 0.3, "unlearn": 0.3, "evaluate": 0.07}


class _ProgressMeter:
    """Rescales stage progress to the whole job, stamps each stage's ETA and shows at most
    10 updates a second (every first update of a stage and the end always)."""

    def __init__(self, stages: list[str], clock: Callable[[], float] = time.monotonic) -> None:
        total = sum(STAGE_WEIGHTS[s] for s in stages)
        self.offsets: dict[str, float] = {}
        acc = 0.0
        for s in stages:
            self.offsets[s] = acc / total
            acc += STAGE_WEIGHTS[s]
        self.weights = {s: STAGE_WEIGHTS[s] / total for s in stages}
        self.high = 0.0
        self.stage = ""
        self.eta = StageEta(clock)
        self.throttle = Throttle(clock)

    def overall(self, stage: str, fraction: float) -> float:
        """Job fraction; never goes backwards (stages may report 1.0 twice, and rounding differs)."""
        value = min(1.0, self.offsets[stage] + self.weights[stage] * max(0.0, min(1.0, fraction)))
        if value > 1.0 - 1e-9:  # the sum of the stage weights may round to 0.99999...
            value = 1.0
        self.high = max(self.high, value)
        return self.high

    def progress(self, stage: str, fraction: float, message: str, force: bool = False) -> Progress | None:
        """The job-level Progress of ``stage`` at its own ``fraction``, or None when throttled."""
        value = self.overall(stage, fraction)
        eta = self.eta.eta(stage, fraction)
        new_stage = stage != self.stage
        self.stage = stage
        if not self.throttle.ready(force or new_stage or fraction >= 1.0):
            return None
        return Progress(stage, value, message, eta_s=eta)


class Runner:
    """Runs JobSpecs. Keeps datasets, originals and features in memory between runs of one session."""

    def __init__(self, *, use_cache: bool = True, threads: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.use_cache = use_cache
        self.threads = threads
        self.clock = clock  # seconds; the progress ETAs' clock (tests pass a fake one)
        warm_up()  # uncancellable first-use imports, off the job's path
        self.feature_cache = FeatureCache()
        self._originals: dict[tuple[str, str], LetheModel] = {}
        self._retrains: dict[tuple[str, str, str], LetheModel] = {}
        self._swept = False

    # ---------------------------------------------------------------- public
    def run(
        self,
        spec: JobSpec,
        token: CancelToken = NEVER,
        *,
        job_id: str | None = None,
        out_dir: str | Path | OutputFolder | None = None,
        overwrite: bool = False,
    ) -> Iterator[Event]:
        """Yield the job's events, each stamped with ``job_id``; ends with Finished or Failed.

        ``out_dir``: where to save the unlearned weights and record.json, claimed before any work
        (a folder holding Lethe files is refused unless ``overwrite``; the run's own inputs are
        never replaced; see :mod:`engine._core.outputs`), or an :class:`OutputFolder` claimed by
        the caller. A model with NaN or infinite weights is a ``Diverged`` failure and is never
        evaluated, cached or saved.
        """
        job_id = job_id or uuid.uuid4().hex[:8]
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            for event in self._guarded(spec, token, out_dir, overwrite):
                yield replace(event, job_id=job_id)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one Failed event, never vanishes in a thread
            yield failed_event(exc, job_id)

    def run_to_record(self, spec: JobSpec, token: CancelToken = NEVER, **kw: Any) -> RunRecord:
        """Run and return the record (raises the failure as a LetheError); for notebooks and tests."""
        for event in self.run(spec, token, **kw):
            if isinstance(event, Finished):
                return event.record
            if isinstance(event, Failed):
                if event.cancelled:
                    raise Cancelled(event.message)
                raise LetheError(f"{event.kind}: {event.message}", event.hint)
        raise RuntimeError("the runner ended without a result")  # pragma: no cover

    # ---------------------------------------------------------------- stages
    def load_inputs(self, spec: JobSpec) -> tuple[DatasetBundle, ForgetSplit]:
        bundle = load_dataset(spec.dataset)
        split = ForgetSpec.from_json(spec.forget).resolve(bundle)
        return bundle, split

    def _guarded(self, spec: JobSpec, token: CancelToken, out_dir: str | Path | OutputFolder | None,
                 overwrite: bool) -> Generator[Event, None, None]:
        """Validate the spec, protect the run's input files, claim the output folder, then run."""
        spec = spec.validated()
        if self.use_cache and not self._swept:
            self._swept = True
            sweep_orphan_tmp(cache_dir() / "models")
        inputs: list[Path] = list(source_files(spec.dataset))
        if "checkpoint" in spec.model:
            inputs.extend(checkpoint_paths(spec.model["checkpoint"]))
            inputs.append(Path(spec.model["checkpoint"]))
        with protect_inputs(inputs):
            if out_dir is None or isinstance(out_dir, OutputFolder):
                _check_targets(out_dir)
                yield from self._run(spec, token, out_dir)
                return
            with OutputFolder.claim(out_dir, overwrite=overwrite) as folder:
                _check_targets(folder)
                yield from self._run(spec, token, folder)

    def _run(self, spec: JobSpec, token: CancelToken, out_dir: OutputFolder | None) -> Generator[Event, None, None]:
        t_start = time.perf_counter()
        seconds: dict[str, float] = {}
        info = get_method(spec.method)
        _check_preset(spec.preset)
        preset = spec.preset or PAPER
        params = params_from_json(info.params, {**info.presets.get(preset, {}), **spec.params})
        preset_note = _preset_note(info.label or info.name, preset, info.presets, spec.params)
        device = resolve_device(spec.device)
        if device.type == "cpu" and self.threads is None:
            torch.set_num_threads(cpu_thread_budget())
        wants_reference = spec.reference == "retrain" and not info.is_reference
        stages = ["data", "original"] + (["reference"] if wants_reference else []) + ["unlearn", "evaluate"]
        meter = _ProgressMeter(stages, self.clock)

        def staged(events: Iterator[Event], stage: str) -> Generator[Event, None, Any]:
            """Forward a stage's events with progress rescaled to the job; return its result."""
            return (yield from forward(events, lambda ev: meter.progress(stage, ev.fraction, ev.message)))

        def at(stage: str, fraction: float, message: str) -> Iterator[Progress]:
            """One progress event of the runner's own (always shown)."""
            ev = meter.progress(stage, fraction, message, force=True)
            if ev is not None:
                yield ev

        # data
        t0 = time.perf_counter()
        yield from at("data", 0.0, f"loading {spec.dataset}")
        bundle, split = self.load_inputs(spec)
        token.check()
        info.check_supports(split)
        seconds["data"] = time.perf_counter() - t0
        yield Log(f"data: {bundle.name}, {len(bundle.x_train)} train / {len(bundle.x_test)} test images, "
                  f"forget {len(split.forget_idx)} ({split.kind}-level)")
        for note in bundle.notes:  # what the loader resized or skipped
            yield Log(f"data: {note}", level="warning")
        if preset_note:
            yield Log(preset_note)
        if "checkpoint" not in spec.model:  # the trainings this run will do, before the first one starts
            recipe = self._recipe_for(spec, bundle)
            check_budget(self._planned(spec, bundle, split, spec.model["arch"], recipe, original=True,
                                       reference=wants_reference), device, confirmed=spec.confirm_cost)

        # original
        t0 = time.perf_counter()
        original, arch, recipe, recipe_source, reused = yield from staged(
            self._load_original(spec, bundle, device, token), "original")
        original.requires_grad_(False)  # the original is read-only: methods work on ctx.copy_original()
        seconds["original"] = time.perf_counter() - t0
        imported = "checkpoint" in spec.model
        original_time = _reference_time(original, seconds["original"], "train", reused=reused, imported=imported)
        # From here on every forward pass (methods, reference, probe, evaluation, audit) uses the model's normalisation.
        bundle, norm_note = bundle_for_model(bundle, original, imported=imported)
        run_notes = [norm_note] if norm_note else []
        if imported and (wants_reference or spec.method == "retrain"):
            run_notes.append(f"reference: Retrain trained by Lethe as {arch} with {recipe_source} "
                             f"{json.dumps(recipe.to_json(), sort_keys=True)} and the model's input normalisation")
        for note in run_notes:
            yield Log(note)
        if "checkpoint" in spec.model and wants_reference:
            check_budget(self._planned(spec, bundle, split, arch, recipe, original=False, reference=True),
                         device, confirmed=spec.confirm_cost)

        # reference
        retrain: LetheModel | None = None
        retrain_time: tuple[dict[str, float], str] = ({}, "")
        if wants_reference:
            t0 = time.perf_counter()
            retrain, reused = yield from staged(self._retrain(bundle, split, arch, recipe, spec.seed, device, token), "reference")
            seconds["reference"] = time.perf_counter() - t0
            retrain_time = _reference_time(retrain, seconds["reference"], "method", reused=reused)

        # unlearn
        seed_everything(spec.seed)
        token.check()
        probe = GeometryProbe(bundle, split, original, device, seed=spec.seed, token=token) if spec.geometry else None
        ctx = MethodContext(
            original=original,
            bundle=bundle,
            split=split,
            device=device,
            recipe=recipe,
            seed=spec.seed,
            token=token,
            reference=retrain,
            probe=probe,
            extras={"use_cache": self.use_cache},
        )
        watch: MovementWatch | None = None
        if probe is not None:
            first = probe.frame(original, "original", 0, 0.0)
            yield first
            if not info.is_reference:  # "did it move?" after a quarter of the budget (issue 14)
                watch = MovementWatch(first, info.label or info.name, knobs=tuple(f.name for f in fields(info.params)),
                                      presets=tuple(info.presets))
            if retrain is not None:  # where the gold standard puts each probe image: the plot's "ghosts"
                yield probe.frame(retrain, "retrain", 0, 1.0)
        t0 = time.perf_counter()
        yield from at("unlearn", 0.0, f"running {info.label or info.name}")
        own = OwnTime(iter(info.fn(ctx, params)))
        with CostMeter(original, len(bundle.x_train), device) as cost_meter:
            method_events: Iterator[Event] = own
            if watch is not None:
                method_events = _watched(own, watch)
            unlearned = yield from staged(method_events, "unlearn")
            if device.type == "cuda":
                torch.cuda.synchronize()
        # The method alone: the time spent inside the method (never the time its events spend with
        # whoever reads them: printing, sending frames to the studio) less the live geometry frames
        # it built (seconds["geometry"]). `bench pour` times the same work without a probe.
        seconds["geometry"] = ctx.geometry_seconds
        seconds["method"] = max(0.0, own.seconds - ctx.geometry_seconds)
        seconds["unlearn_wall"] = time.perf_counter() - t0
        time_source = ""
        if info.is_reference:  # Retrain run as the method: its training time, not the cache's load time
            own_time, time_source = _reference_time(unlearned, seconds["method"], "method", reused=False,
                                                    prefer_elapsed=True)
            seconds.pop("method")
            seconds.update(own_time)
        cost_meter.detach(unlearned)
        check_finite(unlearned, f"{info.label or info.name}: the unlearned model")
        if unlearned.input_norm is None:  # the export records what the model was used with
            unlearned.input_norm = original.input_norm
        cost = cost_meter.result()
        if info.fb_passes is not None:  # a model the cost hooks never saw (Retrain's fresh one)
            cost["fb_passes"] = info.fb_passes(ctx)
        unlearned = unlearned.eval()
        token.check()

        # evaluate: accuracies and features of each model, then (audit) its attacks and probes.
        # Steps: one per model evaluated plus one per model audited; the audit's parts subdivide
        # its step, so a long audit still moves ("evaluate · 5/6 · relearning attack ...").
        t0 = time.perf_counter()
        names = ["original"] + (["retrain"] if retrain is not None else []) + [spec.method]
        titles = {"original": "the original", "retrain": "the retrained reference", spec.method: info.label or info.name}
        n_steps = len(names) * (2 if spec.audit else 1)
        evaluator = Evaluator(bundle, split, device, token=token, cache=self.feature_cache, seed=spec.seed)
        references: list[RunRecord] = []
        base: dict[str, Any] = dict(spec=spec.to_json(), forget=_forget_info(split, bundle), dataset=_dataset_info(bundle, original),
                    device=str(device))
        models = {"original": original.to(device), "retrain": retrain, spec.method: unlearned}
        results: dict[str, tuple[dict[str, float], list[float]]] = {}
        for k, name in enumerate(names):
            yield from at("evaluate", k / n_steps, f"{k + 1}/{n_steps} accuracy and features of {titles[name]}")
            results[name] = evaluator.evaluate(models[name], original, retrain, representation=spec.evaluate)
        m, per_class = results["original"]
        references.append(RunRecord("original", metrics=m, per_class_acc=per_class, label="Original",
                                    seconds=original_time[0], time_source=original_time[1], model=original, **base))
        if retrain is not None:
            m, per_class = results["retrain"]
            references.append(RunRecord("retrain", metrics=m, per_class_acc=per_class, label="Retrain",
                                        seconds=retrain_time[0], time_source=retrain_time[1], model=retrain, **base))
        m, per_class = results[spec.method]
        m.update({"fb_passes": cost["fb_passes"], "peak_memory_mb": cost["peak_memory_mb"]})
        audit_info: dict[str, Any] = {}
        if spec.audit:
            def audit_progress(k: int, title: str) -> Callable[[Progress], Progress | None]:
                first = len(names) + k
                return lambda ev: meter.progress("evaluate", (first + ev.fraction) / n_steps,
                                                 f"{first + 1}/{n_steps} audit of {title}: {ev.message}")

            audit_info = yield from _audit(bundle, split, evaluator, original, retrain, unlearned, references, m, cost,
                                           device=device, seed=spec.seed, token=token, is_retrain=info.is_reference,
                                           progress=lambda k, name: audit_progress(k, titles.get(name, info.label or info.name)))
        seconds["evaluate"] = time.perf_counter() - t0
        yield from at("evaluate", 1.0, "done")
        seconds["total"] = time.perf_counter() - t_start
        record = RunRecord(
            spec.method,
            metrics=m,
            per_class_acc=per_class,
            label=info.label or info.name,
            params=params_to_json(params),
            seconds=seconds,
            references=references,
            model=unlearned,
            audit=audit_info,
            notes=run_notes + list(getattr(unlearned, "record_notes", ())),
            time_source=time_source,
            **base,
        )
        for r in (*references, record):  # why each null metric is null (shown as "n/a" with the reason)
            r.metric_na = evaluator.reasons(r.metrics, (r.audit.get("details") or {}).get("not_applicable"))
        token.check()  # the last chance: a cancelled job writes nothing
        if out_dir is not None:
            token.check()
            save_run(record, out_dir)
        yield Finished(record)

    def load_original(
        self, spec: JobSpec, bundle: DatasetBundle, device: torch.device, token: CancelToken = NEVER
    ) -> Generator[Event, None, tuple[LetheModel, str, Recipe]]:
        """Load the spec's checkpoint or train (cached) its architecture; returns (model, arch, recipe).

        Shares this runner's in-memory originals, so the studio can prepare a model before a run."""
        model, arch, recipe, _source, _reused = yield from self._load_original(spec, bundle, device, token)
        return model, arch, recipe

    def _load_original(
        self, spec: JobSpec, bundle: DatasetBundle, device: torch.device, token: CancelToken = NEVER
    ) -> Generator[Event, None, tuple[LetheModel, str, Recipe, str, bool]]:
        """As :meth:`load_original`, plus where the recipe (the Retrain reference's) came from and
        whether the model was reused from this runner's memory (trained or loaded by an earlier run)."""
        if "checkpoint" in spec.model:
            path = spec.model["checkpoint"]
            model, meta = load_checkpoint(
                path, arch=spec.model.get("arch"), expect_num_classes=bundle.num_classes,
                expect_input_shape=bundle.input_shape,
            )
            if "input_norm" in spec.model:
                model.input_norm = InputNorm.from_json(spec.model["input_norm"], source="spec", field="model.input_norm")
            arch = model.config["arch"]
            base = default_recipe(arch, bundle.image_size, bundle.channels)
            if "recipe" in spec.model:  # the recipe the original was trained with: the gold standard's
                recipe, source = Recipe.from_json({**base.to_json(), **spec.model["recipe"]}), "the recipe given in the JobSpec"
            elif meta.get("recipe"):
                try:
                    recipe = Recipe.from_json(meta["recipe"])
                except BadSpec as exc:
                    raise BadCheckpoint(f"the sidecar of {path} has a bad recipe ({exc.message})",
                                        hint="fix or remove the sidecar's recipe") from None
                source = "the recipe from the checkpoint's sidecar"
            else:
                recipe, source = base, f"Lethe's default recipe for {arch} (the checkpoint gives none)"
            yield Log(f"original: loaded {path} as {arch} ({meta.get('dialect', 'as saved')})")
            return model.to(device).eval(), arch, recipe, source, False
        arch = spec.model["arch"]
        recipe = self._recipe_for(spec, bundle)
        key = (bundle.fingerprint, json.dumps([arch, recipe.to_json(), spec.seed], sort_keys=True))
        reused = key in self._originals
        if not reused:
            model = yield from obtain_original(bundle, arch, recipe, seed=spec.seed, device=device, token=token, use_cache=self.use_cache)
            self._originals[key] = model.eval()
        yield Progress("original", 1.0, "ready")
        return self._originals[key].to(device), arch, recipe, "the original's recipe", reused

    @staticmethod
    def _recipe_for(spec: JobSpec, bundle: DatasetBundle) -> Recipe:
        """The recipe of an ``arch`` spec: a partial recipe overrides the architecture's tested recipe
        field by field ({"epochs": 30} keeps convnet's batch size and augmentation), as `train --epochs` does."""
        arch = spec.model["arch"]
        base = default_recipe(arch, bundle.image_size, bundle.channels).to_json()
        return Recipe.from_json({**base, **spec.model.get("recipe", {})})

    def _planned(self, spec: JobSpec, bundle: DatasetBundle, split: ForgetSplit, arch: str, recipe: Recipe, *,
                 original: bool, reference: bool) -> list[Training]:
        """The trainings this run still has to do: neither in this runner's memory nor in the cache."""
        shape = (bundle.channels, bundle.image_size, bundle.num_classes)
        planned: list[Training] = []
        if original:
            key = (bundle.fingerprint, json.dumps([arch, recipe.to_json(), spec.seed], sort_keys=True))
            stem = model_path("original", model_key(bundle.fingerprint, arch, recipe.to_json(), spec.seed, None))
            if key not in self._originals and not (self.use_cache and stem.with_suffix(".safetensors").exists()):
                planned.append(training("original", arch, recipe.epochs, len(bundle.x_train), *shape))
        if reference:
            key3 = (split.hash, arch, json.dumps([recipe.to_json(), spec.seed], sort_keys=True))
            stem = model_path("retrain", model_key(bundle.fingerprint, arch, recipe.to_json(), spec.seed, split.hash))
            if key3 not in self._retrains and not (self.use_cache and stem.with_suffix(".safetensors").exists()):
                planned.append(training("retrain", arch, recipe.epochs, len(split.retain_idx), *shape))
        return planned

    def _retrain(
        self, bundle: DatasetBundle, split: ForgetSplit, arch: str, recipe: Recipe, seed: int, device: torch.device, token: CancelToken
    ) -> Generator[Event, None, tuple[LetheModel, bool]]:
        """The retrained reference and whether it was reused from this runner's memory."""
        key = (split.hash + bundle.norm_key, arch, json.dumps([recipe.to_json(), seed], sort_keys=True))
        reused = key in self._retrains
        if not reused:
            model = yield from obtain_retrain(bundle, split, arch, recipe, seed=seed, device=device, token=token, use_cache=self.use_cache)
            self._retrains[key] = model.eval()
        yield Progress("reference", 1.0, "ready")
        return self._retrains[key].to(device), reused


def _reference_time(model: LetheModel, elapsed: float, key: str, *, reused: bool,
                    imported: bool = False, prefer_elapsed: bool = False) -> tuple[dict[str, float], str]:
    """The seconds and ``time_source`` of an Original (``key`` "train") or Retrain (``key`` "method")
    record: the training time when trained now or recorded in the cache, never the load time as the
    model's cost (that goes to seconds["load"]). ``elapsed``: the wall seconds this run spent
    obtaining it; ``reused``: it came from this runner's memory; ``imported``: a checkpoint file;
    ``prefer_elapsed``: when trained now, report ``elapsed`` (Retrain run as the method: its own
    time less the live frames) rather than the training's own seconds."""
    if imported:
        return {"load": elapsed}, "checkpoint"
    prov = provenance(model)
    if prov is None:  # not from engine.train.pretrained: the time measured here is all there is
        return {key: elapsed}, ""
    if reused:
        return ({key: prov.train_seconds} if prov.train_seconds is not None else {}), "memory"
    if prov.source == CACHED:
        out = {key: prov.train_seconds} if prov.train_seconds is not None else {}
        return {**out, "load": prov.load_seconds if prov.load_seconds is not None else elapsed}, "cache"
    if prefer_elapsed or prov.train_seconds is None:
        return {key: elapsed}, "trained"
    return {key: prov.train_seconds}, "trained"  # the training alone: the time a later cache load will show


def _watched(events: Iterator[Event], watch: MovementWatch) -> Generator[Event, None, Any]:
    """Forward a method's events; after its first geometry frame past a quarter of its budget, a
    warning Log when it has moved neither the forget accuracy nor the features. Returns the model."""
    while True:
        try:
            ev = next(events)
        except StopIteration as stop:
            return stop.value
        yield ev
        if isinstance(ev, Progress):
            watch.progress(ev.fraction)
        elif isinstance(ev, Geometry) and ev.stage == "unlearn":
            warning = watch.verdict(ev)
            if warning:
                yield Log(warning, level="warning")


class OwnTime:
    """An event iterator that times only its own work: the seconds spent inside ``next()``, not
    those its consumer spends between events (a GUI drawing frames, a terminal printing)."""

    def __init__(self, events: Iterator[Event]) -> None:
        self.events = events
        self.seconds = 0.0

    def __iter__(self) -> OwnTime:
        return self

    def __next__(self) -> Event:
        t0 = time.perf_counter()
        try:
            return next(self.events)
        finally:
            self.seconds += time.perf_counter() - t0


def _check_targets(folder: OutputFolder | None) -> None:
    """Refuse at once (not after the run) when a file the run will write is one of its inputs."""
    if folder is not None:
        for name in RUN_FILES:
            check_not_input(folder.path / name)


def _audit(
    bundle: DatasetBundle,
    split: ForgetSplit,
    evaluator: Evaluator,
    original: LetheModel,
    retrain: LetheModel | None,
    unlearned: LetheModel,
    references: list[RunRecord],
    metrics: dict[str, float],
    cost: dict[str, Any],
    *,
    device: torch.device,
    seed: int,
    token: CancelToken,
    is_retrain: bool,
    progress: Callable[[int, str], Callable[[Progress], Progress | None]] | None = None,
) -> Generator[Event, None, dict[str, Any]]:
    """Audit the references and the unlearned model (engine.evaluation.audit); fill their metrics in place and
    return the unlearned record's audit block (verdicts against the retrain when there is one).

    ``progress(k, method)`` maps the k-th audited model's part-progress (``Progress("audit", f, what)``)
    to the job's; without it the parts' progress is dropped."""
    auditor = Auditor(bundle, split, evaluator, original, retrain, device=device, seed=seed, token=token)

    def measure(k: int, name: str, model: LetheModel) -> Generator[Event, None, tuple[dict[str, float], dict[str, Any]]]:
        relay = progress(k, name) if progress is not None else (lambda ev: None)
        return (yield from forward(auditor.measure_steps(model), relay))

    measured: dict[str, tuple[dict[str, float], dict[str, Any]]] = {}
    for k, ref in enumerate(references):
        mm, dd = yield from measure(k, ref.method, ref.model)
        ref.metrics.update(mm)
        measured[ref.method] = (ref.metrics, dd)
    mm, dd = yield from measure(len(references), "unlearned", unlearned)
    metrics.update(mm)
    ref_r = measured.get("retrain")
    for ref in references:
        ref.metrics.update(relative_metrics(ref.metrics, ref_r[0] if ref_r else None, None, split.kind))
        ref.audit = {"details": measured[ref.method][1]}
    metrics.update(relative_metrics(metrics, ref_r[0] if ref_r else None, None, split.kind))
    return audit_block(metrics, dd, split.kind, retrain=ref_r, original=measured.get("original"), cost=cost,
                       is_retrain=is_retrain)


def _forget_info(split: ForgetSplit, bundle: DatasetBundle) -> dict[str, Any]:
    return {
        "kind": split.kind,
        "size": len(split.forget_idx),
        "retain_size": len(split.retain_idx),
        "classes": [bundle.classes[c] for c in split.forget_classes],
        "hash": split.hash,
    }


def _dataset_info(bundle: DatasetBundle, model: LetheModel | None = None) -> dict[str, Any]:
    norm = model.input_norm if model is not None else None
    return {
        # the normalisation every forward pass used, and whose it was ("dataset" = the data's own statistics)
        "input_norm": {**norm.to_json(), "source": norm.source} if norm is not None else
        {"mean": list(bundle.mean), "std": list(bundle.std), "source": bundle.norm_source},
        "name": bundle.name,
        "source": bundle.source,
        "fingerprint": bundle.fingerprint,
        "classes": list(bundle.classes),
        "train_size": len(bundle.x_train),
        "test_size": len(bundle.x_test),
    }

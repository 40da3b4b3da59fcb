"""JobSpec and Runner: one run = load data -> original -> reference -> unlearn -> evaluate -> save.

The same JSON spec runs from the studio, from ``python -m engine unlearn spec.json`` and in tests.
``Runner.run`` is a generator of events that never raises: failures become one ``Failed`` event.
"""
from __future__ import annotations

import json
import time
import traceback
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generator, Iterator

import torch

from engine.audit import Auditor, CostMeter, audit_block, relative_metrics
from engine.cancel import NEVER, CancelToken
from engine.checkpoints import load_checkpoint, save_checkpoint
from engine.data import DatasetBundle, ForgetSpec, ForgetSplit, load_dataset
from engine.device import DEVICES, cpu_thread_budget, resolve_device, seed_everything
from engine.errors import BadSpec, Cancelled, LetheError, OutOfMemory
from engine.evaluation import Evaluator
from engine.events import Event, Failed, Finished, Log, Progress
from engine.features import FeatureCache
from engine.methods import MethodContext, get as get_method
from engine.methods.base import params_from_json, params_to_json
from engine.methods.registry import PAPER, preset_names
from engine.models.base import LetheModel
from engine.pretrained import obtain_original, obtain_retrain
from engine.probe import GeometryProbe
from engine.record import RunRecord
from engine.training import Recipe, default_recipe

SCHEMA_VERSION = 1
DEFAULT_ARCH = "cnn_small"


@dataclass(frozen=True)
class JobSpec:
    """Everything a run needs, frozen: the worker never reads a widget."""

    dataset: str = "digits"
    model: dict[str, Any] = field(default_factory=lambda: {"arch": DEFAULT_ARCH})
    forget: dict[str, Any] = field(default_factory=lambda: {"classes": [3]})
    method: str = "pour_p"
    params: dict[str, Any] = field(default_factory=dict)
    reference: str | None = "retrain"
    preset: str | None = None  # None / "paper" = the paper defaults; e.g. "small": engine.methods registry presets
    seed: int = 0
    device: str = "auto"
    evaluate: bool = True  # representation metrics (RUS, rMIA) on top of accuracies
    geometry: bool = True  # stream Geometry events of the probe set
    audit: bool = True  # attacks, probes, restoration tests and verdicts (engine.audit)
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def from_json(cls, d: Any) -> "JobSpec":
        """Validate field by field; the first bad field raises BadSpec naming it."""
        if not isinstance(d, dict):
            raise BadSpec("the job spec must be a JSON object")
        known = set(cls.__dataclass_fields__)
        for key in d:
            if key not in known:
                raise BadSpec(f"{key}: unknown field (known: {', '.join(sorted(known))})")
        version = d.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise BadSpec(f"schema_version: {version!r} is not supported (this Lethe reads {SCHEMA_VERSION})")
        _expect(d, "dataset", str)
        _expect(d, "method", str)
        _expect(d, "model", dict)
        _expect(d, "forget", dict)
        _expect(d, "params", dict)
        _expect(d, "seed", int)
        _expect(d, "device", str)
        _expect(d, "evaluate", bool)
        _expect(d, "geometry", bool)
        _expect(d, "audit", bool)
        _check_preset(d.get("preset"))
        if d.get("reference") not in (None, "retrain"):
            raise BadSpec(f"reference: must be \"retrain\" or null, got {d.get('reference')!r}")
        model = d.get("model", {"arch": DEFAULT_ARCH})
        if ("checkpoint" in model) == ("arch" in model):
            raise BadSpec('model: give exactly one of {"checkpoint": PATH} or {"arch": NAME, "recipe": {...}}')
        unknown_model = set(model) - {"checkpoint", "arch", "recipe"}
        if unknown_model:
            raise BadSpec(f"model.{sorted(unknown_model)[0]}: unknown field (known: checkpoint, arch, recipe)")
        if "recipe" in model:
            Recipe.from_json(model["recipe"])
        ForgetSpec.from_json(d.get("forget", {"classes": [3]}))
        if d.get("device", "auto") not in DEVICES:
            raise BadSpec(f"device: {d['device']!r} is not one of {', '.join(DEVICES)}")
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_json(self) -> dict[str, Any]:
        # ``preset`` is written only when set, so specs without one read the same as before it existed.
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "preset" or self.preset is not None}

    @classmethod
    def load(cls, path: str | Path) -> "JobSpec":
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise BadSpec(f"spec file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise BadSpec(f"spec file {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        return cls.from_json(raw)

    def with_changes(self, **kw: Any) -> "JobSpec":
        return replace(self, **kw)


def _check_preset(preset: Any) -> None:
    """None, "paper" or a preset name some registered method defines; otherwise BadSpec naming ``preset``."""
    if preset is None:
        return
    names = preset_names()
    if not isinstance(preset, str) or preset not in names:
        raise BadSpec(f"preset: {preset!r} is not a known preset (known: {', '.join(names)})")


def _preset_note(label: str, preset: str, presets: dict[str, dict[str, Any]], params: dict[str, Any]) -> str | None:
    """The Log line saying which preset a run uses (None for the paper defaults)."""
    if preset == PAPER:
        return None
    extra = f", overridden by {params}" if params else ""
    if preset in presets:
        return f"params: {label} with the {preset!r} preset {presets[preset]}{extra}"
    return f"params: {label} has no {preset!r} preset; using the paper defaults{extra}"


def _expect(d: dict[str, Any], key: str, typ: type) -> None:
    if key in d and (not isinstance(d[key], typ) or (typ is int and isinstance(d[key], bool))):
        raise BadSpec(f"{key}: expected {typ.__name__}, got {type(d[key]).__name__} {d[key]!r}")


# Stage weights for one overall progress fraction (normalised over the stages a job has).
STAGE_WEIGHTS = {"data": 0.03, "original": 0.3, "reference": 0.3, "unlearn": 0.3, "evaluate": 0.07}


class _ProgressMeter:
    """Rescales stage progress to the whole job and drops invisible updates (<0.5 % and <100 ms)."""

    def __init__(self, stages: list[str]) -> None:
        total = sum(STAGE_WEIGHTS[s] for s in stages)
        self.offsets: dict[str, float] = {}
        acc = 0.0
        for s in stages:
            self.offsets[s] = acc / total
            acc += STAGE_WEIGHTS[s]
        self.weights = {s: STAGE_WEIGHTS[s] / total for s in stages}
        self.last_value = -1.0
        self.last_time = 0.0
        self.high = 0.0

    def overall(self, stage: str, fraction: float) -> float:
        """Job fraction; never goes backwards (stages may report 1.0 twice, and rounding differs)."""
        value = min(1.0, self.offsets[stage] + self.weights[stage] * max(0.0, min(1.0, fraction)))
        self.high = max(self.high, value)
        return self.high

    def visible(self, value: float) -> bool:
        now = time.monotonic()
        if value >= 1.0 or value - self.last_value >= 0.005 or now - self.last_time >= 0.1:
            self.last_value, self.last_time = value, now
            return True
        return False


class Runner:
    """Runs JobSpecs. Keeps datasets, originals and features in memory between runs of one session."""

    def __init__(self, *, use_cache: bool = True, threads: int | None = None) -> None:
        self.use_cache = use_cache
        self.threads = threads
        self.feature_cache = FeatureCache()
        self._originals: dict[tuple[str, str], LetheModel] = {}
        self._retrains: dict[tuple[str, str, str], LetheModel] = {}

    # ---------------------------------------------------------------- public
    def run(
        self,
        spec: JobSpec,
        token: CancelToken = NEVER,
        *,
        job_id: str | None = None,
        out_dir: str | Path | None = None,
    ) -> Iterator[Event]:
        """Yield the job's events, each stamped with ``job_id``; ends with Finished or Failed."""
        job_id = job_id or uuid.uuid4().hex[:8]
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            for event in self._run(spec, token, out_dir):
                yield replace(event, job_id=job_id)
        except Cancelled:
            yield Failed("Cancelled", "the job was cancelled", cancelled=True, job_id=job_id)
        except LetheError as exc:
            yield Failed(type(exc).__name__, exc.message, exc.hint, job_id=job_id)
        except (torch.cuda.OutOfMemoryError, MemoryError):
            err = OutOfMemory("the device ran out of memory")
            yield Failed(type(err).__name__, err.message, err.hint, job_id=job_id)
        except Exception as exc:  # a bug: report it, never let it vanish inside a thread
            tb = traceback.format_exc(limit=8)
            yield Failed(type(exc).__name__, f"{exc}\n{tb}", "this is a bug in Lethe; please report it", internal=True, job_id=job_id)

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

    def _run(self, spec: JobSpec, token: CancelToken, out_dir: str | Path | None) -> Generator[Event, None, None]:
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
        wants_reference = spec.reference == "retrain" and spec.method != "retrain"
        stages = ["data", "original"] + (["reference"] if wants_reference else []) + ["unlearn", "evaluate"]
        meter = _ProgressMeter(stages)

        def staged(events: Iterator[Event], stage: str) -> Generator[Event, None, Any]:
            """Forward a stage's events with progress rescaled to the job; return its result."""
            while True:
                try:
                    ev = next(events)
                except StopIteration as stop:
                    return stop.value
                if isinstance(ev, Progress):
                    value = meter.overall(stage, ev.fraction)
                    if meter.visible(value):
                        yield Progress(stage, value, ev.message)
                else:
                    yield ev

        # data
        t0 = time.perf_counter()
        yield Progress("data", meter.overall("data", 0.0), f"loading {spec.dataset}")
        bundle, split = self.load_inputs(spec)
        info.check_supports(split)
        seconds["data"] = time.perf_counter() - t0
        yield Log(f"data: {bundle.name}, {len(bundle.x_train)} train / {len(bundle.x_test)} test images, "
                  f"forget {len(split.forget_idx)} ({split.kind}-level)")
        if preset_note:
            yield Log(preset_note)

        # original
        t0 = time.perf_counter()
        original, arch, recipe = yield from staged(self.load_original(spec, bundle, device, token), "original")
        original.requires_grad_(False)  # the original is read-only: methods work on ctx.copy_original()
        seconds["original"] = time.perf_counter() - t0

        # reference
        retrain: LetheModel | None = None
        if wants_reference:
            t0 = time.perf_counter()
            retrain = yield from staged(self._retrain(bundle, split, arch, recipe, spec.seed, device, token), "reference")
            seconds["reference"] = time.perf_counter() - t0

        # unlearn
        seed_everything(spec.seed)
        probe = GeometryProbe(bundle, split, original, device, seed=spec.seed) if spec.geometry else None
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
        if probe is not None:
            yield probe.frame(original, "original", 0, 0.0)
            if retrain is not None:  # where the gold standard puts each probe image: the plot's "ghosts"
                yield probe.frame(retrain, "retrain", 0, 1.0)
        t0 = time.perf_counter()
        yield Progress("unlearn", meter.overall("unlearn", 0.0), f"running {info.label or info.name}")
        with CostMeter(original, len(bundle.x_train), device) as cost_meter:
            unlearned = yield from staged(iter(info.fn(ctx, params)), "unlearn")
            if device.type == "cuda":
                torch.cuda.synchronize()
        # The method alone: the live geometry frames it streamed are timed apart (seconds["geometry"]).
        seconds["geometry"] = ctx.geometry_seconds
        seconds["method"] = time.perf_counter() - t0 - ctx.geometry_seconds
        cost_meter.detach(unlearned)
        cost = cost_meter.result()
        if spec.method == "retrain":  # a fresh model: the hook never saw it
            cost["fb_passes"] = recipe.epochs * len(split.retain_idx) / max(1, len(bundle.x_train))
        unlearned = unlearned.eval()

        # evaluate
        t0 = time.perf_counter()
        yield Progress("evaluate", meter.overall("evaluate", 0.0), "evaluating")
        evaluator = Evaluator(bundle, split, device, token=token, cache=self.feature_cache, seed=spec.seed)
        references: list[RunRecord] = []
        base = dict(spec=spec.to_json(), forget=_forget_info(split, bundle), dataset=_dataset_info(bundle), device=str(device))
        m, per_class = evaluator.evaluate(original.to(device), original, retrain, representation=spec.evaluate)
        references.append(RunRecord("original", metrics=m, per_class_acc=per_class, label="Original",
                                    seconds={"train": seconds["original"]}, model=original, **base))
        if retrain is not None:
            m, per_class = evaluator.evaluate(retrain, original, retrain, representation=spec.evaluate)
            references.append(RunRecord("retrain", metrics=m, per_class_acc=per_class, label="Retrain",
                                        seconds={"method": seconds["reference"]}, model=retrain, **base))
        m, per_class = evaluator.evaluate(unlearned, original, retrain, representation=spec.evaluate)
        m.update({"fb_passes": cost["fb_passes"], "peak_memory_mb": cost["peak_memory_mb"]})
        audit_info: dict[str, Any] = {}
        if spec.audit:
            yield Progress("evaluate", meter.overall("evaluate", 0.5), "auditing: attacks, probes, relearning")
            audit_info = _audit(bundle, split, evaluator, original, retrain, unlearned, references, m, cost,
                                device=device, seed=spec.seed, token=token, is_retrain=spec.method == "retrain")
        seconds["evaluate"] = time.perf_counter() - t0
        yield Progress("evaluate", 1.0, "done")
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
            notes=list(getattr(unlearned, "record_notes", ())),
            **base,
        )
        if out_dir is not None:
            save_run(record, out_dir)
        yield Finished(record)

    def load_original(
        self, spec: JobSpec, bundle: DatasetBundle, device: torch.device, token: CancelToken = NEVER
    ) -> Generator[Event, None, tuple[LetheModel, str, Recipe]]:
        """Load the spec's checkpoint or train (cached) its architecture; returns (model, arch, recipe).

        Shares this runner's in-memory originals, so the studio can prepare a model before a run."""
        if "checkpoint" in spec.model:
            path = spec.model["checkpoint"]
            model, meta = load_checkpoint(
                path, expect_num_classes=bundle.num_classes, expect_input_shape=bundle.input_shape
            )
            arch = model.config["arch"]
            recipe = Recipe.from_json(meta.get("recipe")) if meta.get("recipe") else default_recipe(arch, bundle.image_size, bundle.channels)
            yield Log(f"original: loaded {path}")
            return model.to(device).eval(), arch, recipe
        arch = spec.model["arch"]
        # A partial recipe overrides the architecture's tested recipe field by field ({"epochs": 30}
        # keeps convnet's batch size and augmentation), as `train --epochs` does.
        base = default_recipe(arch, bundle.image_size, bundle.channels).to_json()
        recipe = Recipe.from_json({**base, **spec.model.get("recipe", {})})
        key = (bundle.fingerprint, json.dumps([arch, recipe.to_json(), spec.seed], sort_keys=True))
        if key not in self._originals:
            model = yield from obtain_original(bundle, arch, recipe, seed=spec.seed, device=device, token=token, use_cache=self.use_cache)
            self._originals[key] = model.eval()
        yield Progress("original", 1.0, "original ready")
        return self._originals[key].to(device), arch, recipe

    def _retrain(
        self, bundle: DatasetBundle, split: ForgetSplit, arch: str, recipe: Recipe, seed: int, device: torch.device, token: CancelToken
    ) -> Generator[Event, None, LetheModel]:
        key = (split.hash, arch, json.dumps([recipe.to_json(), seed], sort_keys=True))
        if key not in self._retrains:
            model = yield from obtain_retrain(bundle, split, arch, recipe, seed=seed, device=device, token=token, use_cache=self.use_cache)
            self._retrains[key] = model.eval()
        yield Progress("reference", 1.0, "retrain reference ready")
        return self._retrains[key].to(device)


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
) -> dict[str, Any]:
    """Audit the references and the unlearned model (engine.audit); fill their metrics in place and
    return the unlearned record's audit block (verdicts against the retrain when there is one)."""
    auditor = Auditor(bundle, split, evaluator, original, retrain, device=device, seed=seed, token=token)
    measured: dict[str, tuple[dict[str, float], dict[str, Any]]] = {}
    for ref in references:
        mm, dd = auditor.measure(ref.model)
        ref.metrics.update(mm)
        measured[ref.method] = (ref.metrics, dd)
    mm, dd = auditor.measure(unlearned)
    metrics.update(mm)
    ref_r = measured.get("retrain")
    for ref in references:
        ref.metrics.update(relative_metrics(ref.metrics, ref_r[0] if ref_r else None, None, split.kind))
        ref.audit = {"details": measured[ref.method][1]}
    metrics.update(relative_metrics(metrics, ref_r[0] if ref_r else None, None, split.kind))
    return audit_block(metrics, dd, split.kind, retrain=ref_r, original=measured.get("original"), cost=cost,
                       is_retrain=is_retrain)


def save_run(record: RunRecord, out_dir: str | Path) -> RunRecord:
    """Write the unlearned weights (safetensors + sidecar) and ``record.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = record.model.exportable().to("cpu")
    meta = {
        "kind": "unlearned",
        "method": record.method,
        "params": record.params,
        "classes": record.dataset.get("classes", []),
        "dataset": record.dataset.get("source"),
        "dataset_fingerprint": record.dataset.get("fingerprint"),
        "forget_hash": record.forget.get("hash"),
        "metrics": record.metrics,
    }
    weights = save_checkpoint(model, out / "unlearned", meta, overwrite=True)
    record.weights = str(weights)
    record.save(out / "record.json")
    return record


def _forget_info(split: ForgetSplit, bundle: DatasetBundle) -> dict[str, Any]:
    return {
        "kind": split.kind,
        "size": int(len(split.forget_idx)),
        "retain_size": int(len(split.retain_idx)),
        "classes": [bundle.classes[c] for c in split.forget_classes],
        "hash": split.hash,
    }


def _dataset_info(bundle: DatasetBundle) -> dict[str, Any]:
    return {
        "name": bundle.name,
        "source": bundle.source,
        "fingerprint": bundle.fingerprint,
        "classes": list(bundle.classes),
        "train_size": int(len(bundle.x_train)),
        "test_size": int(len(bundle.x_test)),
    }

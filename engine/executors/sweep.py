"""Hyperparameter sweeps: Optuna searches a method's hyperparameters, jobs run on an executor.

**Search space**: every field of the method's Params dataclass with finite bounds (``min`` /
``max`` of :func:`engine.methods.base.param`: ints and floats, log-scaled when the range spans
100× or more and its lower end is positive) or ``choices`` (and booleans); fields the base spec
fixes in ``params`` are not searched, ``only`` narrows the search to the named fields, ``bounds``
sets a field's range (within its Params bounds), and ``span`` (default 10) keeps every other
numeric field with a positive paper default within ``[default / span, default × span]`` of its
bounds, so trials cost about what the method usually costs (``span`` 0: the full bounds).

**Objective** (minimised): the distance to the retrained model. For each seed the unlearned model
is compared with the Retrain reference of the same seed (the spec's ``reference`` must be
``"retrain"``), and each term is the mean over the trial's seeds of an absolute gap, in accuracy
units (0–1)::

    distance = |forget acc gap| + |retain acc gap| + |test acc gap| + |MIA gap|

where *forget / retain acc* are the training-set accuracies on the forget / retain set, *test acc*
the test accuracy, and the *MIA gap* ``mia_nn_gap`` = |attack accuracy of the membership-inference
attack on the unlearned model − on the Retrain model| (:mod:`engine.evaluation.audit`; measured
only when the spec's ``audit`` is on, its default: without it the term is 0 and the sweep says so).
The Pareto front uses three axes, all minimised: **forgetting gap** = |forget acc gap| + |MIA gap|,
**utility gap** = |retain acc gap| + |test acc gap|, and **cost** = forward-backward passes of the
method in training-set units (``fb_passes``, machine-independent; the method's seconds when a
method does not report it).

**Storage and resume**: the study lives in ``DIR/optuna-journal.log`` (Optuna's JournalStorage with
a file backend, an append-only log). Running the same sweep again with a larger ``trials`` runs
only the missing trials; a trial that was running when the process died is run again with the
same hyperparameters. One sweep process per folder at a time.

**Output**: ``DIR/sweep.json`` (strict JSON, written atomically after every trial) with
``"trials"`` (each: ``number``, ``state``, ``params``, ``metrics`` (means over seeds),
``metrics_std``, ``seconds``), ``"pareto"`` (indices into ``trials`` of the non-dominated
complete trials) and ``"best"`` (index of the lowest distance). :func:`save_preset` stores a
trial's hyperparameters as a named user preset that a JobSpec's ``preset`` resolves.

The studio drives :func:`run_sweep` (a generator of events: :class:`TrialDone` after each trial,
with the current Pareto indices, then :class:`SweepFinished`).
"""
from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine._core.cancel import NEVER, CancelToken
from engine._core.errors import BadSpec, Cancelled, LetheError
from engine._core.events import Event, Log, Progress
from engine._core.fileio import atomic_write_json, dumps_json
from engine.executors.base import EventCallback, Executor
from engine.methods.base import _param_kind, params_from_json, params_to_json
from engine.methods.registry import PAPER, get as get_method, preset_names, user_presets_dir
from engine.runs.record import RunRecord
from engine.runs.spec import JobSpec

SCHEMA_VERSION = 1
JOURNAL_NAME = "optuna-journal.log"
SWEEP_NAME = "sweep.json"
STUDY_NAME = "lethe-sweep"
SAMPLERS = ("tpe", "random")
PARETO_AXES = ("forgetting_gap", "utility_gap", "cost")
GAP_TERMS = ("forget_acc_gap", "retain_acc_gap", "test_acc_gap", "mia_gap")
OBJECTIVE_TEXT = ("distance to the retrained model = |forget acc gap| + |retain acc gap| + |test acc gap| + |MIA gap| "
                  "(means over seeds; accuracy units 0-1; lower is better)")
_PRESET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class TrialDone(Event):
    """One trial ended. ``index``: its place in ``summary["trials"]``; ``trial``: that entry
    (``params``, ``metrics`` with ``forgetting_gap`` / ``utility_gap`` / ``cost`` / ``distance``,
    ``seconds``); ``pareto``: indices of the non-dominated trials so far; ``done`` / ``total``:
    trials counted; ``records``: the trial's RunRecords, one per seed (with their unlearned models;
    empty for a failed trial), e.g. for the studio's runs table when a Pareto point is clicked."""

    index: int
    trial: dict[str, Any]
    pareto: list[int]
    done: int
    total: int
    records: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class SweepFinished(Event):
    """The sweep ended: ``summary`` is the content of sweep.json, ``path`` where it was written."""

    summary: dict[str, Any]
    path: str


# ---------------------------------------------------------------------------------------------
# the search space


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise LetheError("sweeps need Optuna", hint='pip install "optuna>=3.6"') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def search_space(method: str, *, fixed: Sequence[str] = (), only: Sequence[str] | None = None,
                 bounds: Mapping[str, tuple[float, float]] | None = None, span: float = 0.0) -> dict[str, Any]:
    """Optuna distributions of the method's searchable hyperparameters (see the module doc).

    ``span`` > 1 keeps a numeric field with a positive paper default ``d`` within
    ``[d / span, d × span]`` (inside its Params bounds; ``bounds`` given for it win), so a sweep
    stays near the method's usual cost; 0 searches the full Params bounds.

    Raises :class:`BadSpec` for a name in ``only`` / ``bounds`` that is no field, a bound outside the
    field's own, or a space left empty."""
    optuna = _optuna()
    dist = optuna.distributions
    info = get_method(method)
    fields = {f.name: f for f in dataclasses.fields(info.params)}
    for name in [*(only or ()), *(bounds or {})]:
        if name not in fields:
            raise BadSpec(f"sweep: {name!r} is no hyperparameter of {method} (known: {', '.join(fields)})")
    space: dict[str, Any] = {}
    for name, f in fields.items():
        if name in fixed or (only is not None and name not in only):
            continue
        kind = _param_kind(f)
        meta = f.metadata
        if kind is bool:
            space[name] = dist.CategoricalDistribution([False, True])
        elif meta.get("choices"):
            space[name] = dist.CategoricalDistribution(list(meta["choices"]))
        elif kind in (int, float) and meta.get("min") is not None and meta.get("max") is not None:
            lo, hi = float(meta["min"]), float(meta["max"])
            default = f.default
            if span > 1 and isinstance(default, (int, float)) and default > 0 and not (bounds and name in bounds):
                lo, hi = max(lo, default / span), min(hi, default * span)
            if bounds and name in bounds:
                blo, bhi = bounds[name]
                if not (lo <= blo <= bhi <= hi):
                    raise BadSpec(f"sweep: bounds of {name} must lie within [{lo:g}, {hi:g}], got [{blo:g}, {bhi:g}]")
                lo, hi = blo, bhi
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
                continue
            log = lo > 0 and hi / lo >= 100
            if kind is int:
                if math.ceil(lo) >= math.floor(hi):
                    continue
                space[name] = dist.IntDistribution(math.ceil(lo), math.floor(hi), log=log)
            else:
                space[name] = dist.FloatDistribution(lo, hi, log=log)
    if not space:
        raise BadSpec(f"sweep: {method} has no hyperparameter left to search",
                      hint="remove fixed values from the spec's params, or widen --only")
    return space


def describe_space(space: Mapping[str, Any]) -> dict[str, Any]:
    """The space as JSON (sweep.json ``space``)."""
    out: dict[str, Any] = {}
    for name, d in space.items():
        if hasattr(d, "choices"):
            out[name] = {"choices": list(d.choices)}
        else:
            out[name] = {"low": d.low, "high": d.high, "log": bool(d.log), "type": "int" if isinstance(d.low, int) else "float"}
    return out


# ---------------------------------------------------------------------------------------------
# metrics, objective, Pareto


def trial_metrics(records: Sequence[RunRecord]) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(means, standard deviations, seconds) over one trial's seeds (see the module doc).

    Raises :class:`BadSpec` when a record has no Retrain reference to compare with."""
    per_seed: list[dict[str, float]] = []
    for rec in records:
        ref = next((r for r in rec.references if r.method == "retrain"), None)
        if ref is None:
            raise BadSpec('sweep: the spec needs "reference": "retrain" (the objective is the distance to it)')
        m, r = rec.metrics, ref.metrics
        row = {
            "forget_acc": m["forget_acc"], "retain_acc": m["retain_acc"], "test_acc": m["test_acc"],
            "forget_acc_gap": abs(m["forget_acc"] - r["forget_acc"]),
            "retain_acc_gap": abs(m["retain_acc"] - r["retain_acc"]),
            "test_acc_gap": abs(m["test_acc"] - r["test_acc"]),
            "mia_gap": _finite(m.get("mia_nn_gap"), 0.0),
        }
        fb = m.get("fb_passes")
        row["cost"] = _finite(fb, float(rec.seconds.get("method", 0.0)))
        row["forgetting_gap"] = row["forget_acc_gap"] + row["mia_gap"]
        row["utility_gap"] = row["retain_acc_gap"] + row["test_acc_gap"]
        row["distance"] = sum(row[k] for k in GAP_TERMS)
        row["method_seconds"] = float(rec.seconds.get("method", 0.0))
        row["total_seconds"] = float(rec.seconds.get("total", 0.0))
        per_seed.append(row)
    keys = list(per_seed[0])
    mean = {k: sum(r[k] for r in per_seed) / len(per_seed) for k in keys}
    std = {k: (sum((r[k] - mean[k]) ** 2 for r in per_seed) / (len(per_seed) - 1)) ** 0.5 if len(per_seed) > 1 else 0.0
           for k in keys}
    seconds = {"method": mean.pop("method_seconds"), "total": mean.pop("total_seconds")}
    std.pop("method_seconds")
    std.pop("total_seconds")
    return mean, std, seconds


def _isfinite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _finite(v: Any, default: float) -> float:
    return float(v) if _isfinite(v) else default


def pareto_indices(points: Sequence[Sequence[float] | None]) -> list[int]:
    """Indices of the non-dominated points (all axes minimised); None entries never count.

    A point is dominated when another is no worse on every axis and better on one."""
    out = []
    for i, p in enumerate(points):
        if p is None:
            continue
        dominated = any(
            q is not None and j != i and all(a <= b for a, b in zip(q, p, strict=True)) and any(a < b for a, b in zip(q, p, strict=True))
            for j, q in enumerate(points)
        )
        if not dominated:
            out.append(i)
    return out


# ---------------------------------------------------------------------------------------------
# the sweep


@dataclass(frozen=True)
class SweepConfig:
    """What to search: the base ``spec`` (method, data, model, forget set), ``trials`` in total
    (earlier runs in the folder count), ``seeds`` per trial (spec.seed, spec.seed+1, ...), the Optuna
    ``sampler`` (tpe or random) and its seed, ``only`` / ``bounds`` / ``span`` to narrow the space
    (see :func:`search_space`; by default numeric fields stay within 10× of their paper default)."""

    spec: JobSpec
    trials: int
    seeds: int = 1
    sampler: str = "tpe"
    sampler_seed: int = 0
    only: tuple[str, ...] | None = None
    bounds: tuple[tuple[str, float, float], ...] = ()
    span: float = 10.0

    def check(self) -> None:
        if self.trials < 1:
            raise BadSpec(f"sweep: --trials must be at least 1, got {self.trials}")
        if self.seeds < 1:
            raise BadSpec(f"sweep: --seeds must be at least 1, got {self.seeds}")
        if not (self.span == 0 or self.span > 1) or not math.isfinite(self.span):
            raise BadSpec(f"sweep: --span must be 0 (full Params bounds) or above 1, got {self.span}")
        if self.sampler not in SAMPLERS:
            raise BadSpec(f"sweep: sampler {self.sampler!r} is not one of {', '.join(SAMPLERS)}")
        if self.spec.reference != "retrain" or get_method(self.spec.method).is_reference:
            raise BadSpec('sweep: the spec must have "reference": "retrain" and a method other than retrain',
                          hint="the objective is the distance to the retrained model")

    def identity(self) -> dict[str, Any]:
        """What must match for a folder's earlier trials to count (everything but ``trials``)."""
        return {"spec": self.spec.to_json(), "seeds": self.seeds, "sampler": self.sampler,
                "sampler_seed": self.sampler_seed, "only": list(self.only) if self.only else None,
                "bounds": [list(b) for b in self.bounds], "span": self.span}


def _open_study(config: SweepConfig, folder: Path, space: Mapping[str, Any]) -> Any:
    optuna = _optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    folder.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(folder / JOURNAL_NAME)))
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, direction="minimize", load_if_exists=True)
    # A resumed sweep must not replay the first run's random draws: the sampler's seed moves on
    # with the trials already in the journal (still reproducible from the same folder state).
    seed = config.sampler_seed + len(study.trials)
    study.sampler = (optuna.samplers.TPESampler(seed=seed) if config.sampler == "tpe"
                     else optuna.samplers.RandomSampler(seed=seed))
    identity = dumps_json(config.identity(), sort_keys=True)
    saved = study.user_attrs.get("identity")
    if saved is None:
        study.set_user_attr("identity", identity)
    elif saved != identity:
        raise BadSpec(f"sweep: {folder} holds a sweep of another spec or settings",
                      hint="use another --out folder, or the same spec, --seeds, --sampler and --only")
    return study


def _counted(trial: Any) -> bool:
    """A trial that counts towards ``trials``: complete, or failed by itself (not interrupted)."""
    state = trial.state.name
    return state == "COMPLETE" or (state == "FAIL" and not trial.user_attrs.get("interrupted"))


def _entry(trial: Any) -> dict[str, Any]:
    state = {"COMPLETE": "complete", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}.get(trial.state.name, trial.state.name.lower())
    entry: dict[str, Any] = {"number": trial.number, "state": state, "params": dict(trial.params),
                             "metrics": trial.user_attrs.get("metrics", {}), "metrics_std": trial.user_attrs.get("metrics_std", {}),
                             "seconds": trial.user_attrs.get("seconds", {})}
    if trial.user_attrs.get("error"):
        entry["error"] = trial.user_attrs["error"]
    return entry


def summarise(study: Any, config: SweepConfig, space: Mapping[str, Any]) -> dict[str, Any]:
    """sweep.json's content from the study's trials (in trial-number order)."""
    trials = [t for t in sorted(study.trials, key=lambda t: t.number) if t.state.name in ("COMPLETE", "FAIL")
              and not t.user_attrs.get("interrupted")]
    entries = [_entry(t) for t in trials]
    points = [[e["metrics"][a] for a in PARETO_AXES] if e["state"] == "complete" else None for e in entries]
    complete = [i for i, e in enumerate(entries) if e["state"] == "complete"]
    best = min(complete, key=lambda i: entries[i]["metrics"]["distance"]) if complete else None
    mia = any(e["metrics"].get("mia_gap", 0.0) > 0 for e in entries) or config.spec.audit
    return {
        "schema_version": SCHEMA_VERSION,
        "method": config.spec.method,
        "spec": config.spec.to_json(),
        "seeds": [config.spec.seed + k for k in range(config.seeds)],
        "sampler": config.sampler,
        "objective": OBJECTIVE_TEXT + ("" if mia else "; the MIA gap was not measured (the spec's audit is off)"),
        "pareto_axes": list(PARETO_AXES),
        "cost_unit": "forward-backward passes over the training set (fb_passes)",
        "space": describe_space(space),
        "trials": entries,
        "pareto": pareto_indices(points),
        "best": best,
    }


def _recover(study: Any) -> int:
    """Trials left running by a crashed sweep: mark them failed (not counted) and queue their
    hyperparameters again. Returns how many."""
    optuna = _optuna()
    stale = [t for t in study.trials if t.state.name in ("RUNNING", "WAITING") and t.params]
    for t in stale:
        study.enqueue_trial(dict(t.params), skip_if_exists=False)
        study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    return len(stale)


def run_sweep(config: SweepConfig, executor: Executor, out: str | Path, *, token: CancelToken = NEVER,
              on_job_event: EventCallback | None = None) -> Generator[Event, None, dict[str, Any]]:
    """Run the missing trials of the sweep in ``out`` on ``executor``; yield Progress / Log /
    :class:`TrialDone` events, then :class:`SweepFinished`; return the summary (sweep.json).

    Up to ``ceil(executor.workers / seeds)`` trials run at once (all seeds of a trial in parallel).
    A job that fails (e.g. a diverging learning rate) fails its trial, which is kept and reported;
    ``token`` cancels the sweep (running jobs are cancelled; finished trials stay in the journal).
    """
    config.check()
    optuna = _optuna()
    folder = Path(out)
    spec = config.spec.validated()
    bounds = {name: (lo, hi) for name, lo, hi in config.bounds}
    space = search_space(spec.method, fixed=tuple(spec.params), only=config.only, bounds=bounds, span=config.span)
    study = _open_study(config, folder, space)
    recovered = _recover(study)
    if recovered:
        yield Log(f"sweep: {recovered} trial(s) interrupted earlier will run again with the same hyperparameters")
    done = sum(1 for t in study.trials if _counted(t))
    todo = max(0, config.trials - done)
    yield Log(f"sweep: {spec.method}, {len(space)} hyperparameters ({', '.join(space)}), {done} trial(s) done, "
              f"{todo} to run on {executor.name} with {executor.workers} worker(s), {config.seeds} seed(s) each")
    path = folder / SWEEP_NAME
    at_once = max(1, math.ceil(executor.workers / config.seeds))
    running: dict[int, tuple[Any, list[Future[RunRecord]], float]] = {}
    launched = 0
    finished = 0

    def launch() -> None:
        nonlocal launched
        trial = study.ask(fixed_distributions=dict(space))
        futures = [executor.submit(spec.with_changes(params={**spec.params, **trial.params}, seed=spec.seed + k),
                                   on_event=on_job_event) for k in range(config.seeds)]
        running[trial.number] = (trial, futures, time.perf_counter())
        launched += 1

    yield Progress("sweep", done / config.trials if config.trials else 1.0, f"{done}/{config.trials} trials")
    try:
        while launched < todo or running:
            while launched < todo and len(running) < at_once:
                token.check()
                launch()
            all_futures = [f for _, fs, _ in running.values() for f in fs]
            wait(all_futures, timeout=0.2, return_when=FIRST_COMPLETED)
            token.check()
            for number in [n for n, (_, fs, _) in running.items() if all(f.done() for f in fs)]:
                trial, futures, t0 = running.pop(number)
                records = _tell(study, optuna, trial, futures, time.perf_counter() - t0)
                finished += 1
                summary = summarise(study, config, space)
                atomic_write_json(path, summary)
                index = next(i for i, e in enumerate(summary["trials"]) if e["number"] == number)
                yield TrialDone(index, summary["trials"][index], summary["pareto"], done + finished, config.trials, records)
                yield Progress("sweep", min(1.0, (done + finished) / config.trials), f"{done + finished}/{config.trials} trials")
    except (Cancelled, KeyboardInterrupt, GeneratorExit):
        executor.cancel()
        for trial, _futures, _t0 in running.values():  # run again, same hyperparameters, on resume
            study.enqueue_trial(dict(trial.params), skip_if_exists=False)
            trial.set_user_attr("interrupted", True)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    summary = summarise(study, config, space)
    atomic_write_json(path, summary)
    yield SweepFinished(summary, str(path))
    return summary


def _tell(study: Any, optuna: Any, trial: Any, futures: Sequence[Future[RunRecord]], wall: float) -> list[RunRecord]:
    """Tell Optuna the trial's result (its distance, or FAIL); return its records."""
    errors = []
    records = []
    for f in futures:
        try:
            records.append(f.result())
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed job fails its trial, the sweep goes on
            errors.append(str(exc))
    if errors:
        trial.set_user_attr("error", errors[0])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return []
    mean, std, seconds = trial_metrics(records)
    seconds["wall"] = wall
    trial.set_user_attr("metrics", mean)
    trial.set_user_attr("metrics_std", std)
    trial.set_user_attr("seconds", seconds)
    study.tell(trial, mean["distance"])
    return records


# ---------------------------------------------------------------------------------------------
# presets


def full_params(spec: JobSpec, trial_params: Mapping[str, Any]) -> dict[str, Any]:
    """Every hyperparameter of a trial: the spec's preset, its fixed params, then the trial's."""
    info = get_method(spec.method)
    values = {**info.presets.get(spec.preset or PAPER, {}), **spec.params, **trial_params}
    return dict(params_to_json(params_from_json(info.params, values)))


def save_preset(name: str, method: str, params: Mapping[str, Any], *, folder: str | Path | None = None,
                note: str = "") -> Path:
    """Save ``params`` as the user preset ``name`` of ``method`` (``<presets dir>/name.json``,
    other methods' entries in that file kept); a JobSpec's ``preset: name`` then resolves to it.

    Raises :class:`BadSpec` for a name that is not 1–64 letters, digits, ``_ . -``, that is
    ``paper`` or a built-in preset, or params that do not validate."""
    if not _PRESET_NAME_RE.match(name):
        raise BadSpec(f"preset name {name!r}: use 1-64 letters, digits, '_', '.' or '-'")
    folder = Path(folder) if folder is not None else user_presets_dir()
    path = folder / f"{name}.json"
    if name == PAPER or (name in preset_names() and not path.exists()):
        raise BadSpec(f"preset name {name!r} is a built-in preset", hint="choose another name")
    info = get_method(method)
    params_from_json(info.params, dict(params))
    data: dict[str, Any] = {"name": name, "methods": {}}
    if path.exists():
        import json

        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(old, dict) and isinstance(old.get("methods"), dict):
                data["methods"] = old["methods"]
        except (OSError, ValueError):
            pass
    data["methods"][method] = dict(params)
    if note:
        data.setdefault("notes", {})[method] = note
    atomic_write_json(path, data)
    return path


def best_params(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The best trial's full hyperparameters (None when no trial completed)."""
    if summary.get("best") is None:
        return None
    spec = JobSpec.from_json(summary["spec"])
    return full_params(spec, summary["trials"][summary["best"]]["params"])


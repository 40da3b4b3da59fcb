"""Multi-seed runs: one JobSpec repeated with seeds ``spec.seed, spec.seed + 1, ...`` on an executor.

:func:`run_seeds` submits every seed at once (the executor runs up to ``executor.workers`` of
them in parallel), waits for all of them and returns the records (in seed order) and a summary:
for every numeric metric of the unlearned model (``record.metrics``) and of each reference
(``record.references``: the original, Retrain), the mean and the sample standard deviation
(``n - 1``; 0.0 with one seed) over the seeds, non-finite values left out (``n`` says how many
counted). :func:`write_seeds` writes that summary as ``DIR/seeds.json`` (strict JSON, atomically).

Errors: a job that fails raises its :class:`~engine._core.errors.LetheError` and cancels the other
seeds (as :meth:`Executor.run_all`); ``seeds < 1`` raises :class:`BadSpec`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine._core.errors import BadSpec
from engine._core.fileio import atomic_write_json
from engine.executors.base import EventCallback, Executor
from engine.runs.record import RunRecord
from engine.runs.spec import JobSpec

SCHEMA_VERSION = 1
SEEDS_NAME = "seeds.json"


def seed_specs(spec: JobSpec, seeds: int) -> list[JobSpec]:
    """``seeds`` copies of ``spec`` with seeds ``spec.seed + k`` (k = 0 .. seeds-1)."""
    if seeds < 1:
        raise BadSpec(f"--seeds must be at least 1, got {seeds}")
    return [spec.with_changes(seed=spec.seed + k) for k in range(seeds)]


def mean_std(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """``{metric: {"mean", "std", "n"}}`` over ``rows`` (dicts of metrics; one row per seed).

    Only numeric (int / float, not bool) finite values count; ``std`` is the sample standard
    deviation (``n - 1`` in the denominator), 0.0 when ``n == 1``. Metrics with no finite value are
    left out. Keys come in the order first seen."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    out: dict[str, dict[str, float]] = {}
    for key in keys:
        values = [float(r[key]) for r in rows if _number(r.get(key))]
        if not values:
            continue
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
        out[key] = {"mean": mean, "std": std, "n": len(values)}
    return out


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def summarise_seeds(spec: JobSpec, records: Sequence[RunRecord]) -> dict[str, Any]:
    """seeds.json's content: the spec, the seeds, ``metrics`` (the method's, mean ± std),
    ``references`` (``{method: metrics mean ± std}``), ``seconds`` (mean ± std of each timing) and
    ``runs`` (per seed: seed, metrics, seconds, weights path if any)."""
    refs: dict[str, list[Mapping[str, Any]]] = {}
    for rec in records:
        for ref in rec.references:
            refs.setdefault(ref.method, []).append(ref.metrics)
    return {
        "schema_version": SCHEMA_VERSION,
        "method": spec.method,
        "spec": spec.to_json(),
        "seeds": [_seed_of(r) for r in records],
        "note": "mean and sample standard deviation (n - 1) over the seeds; non-finite values left out (n counts the rest)",
        "metrics": mean_std([r.metrics for r in records]),
        "references": {name: mean_std(rows) for name, rows in refs.items()},
        "seconds": mean_std([r.seconds for r in records]),
        "runs": [{"seed": _seed_of(r), "metrics": dict(r.metrics), "seconds": dict(r.seconds), "weights": r.weights}
                 for r in records],
    }


def _seed_of(record: RunRecord) -> int | None:
    seed = record.spec.get("seed")
    return int(seed) if isinstance(seed, int) else None


def run_seeds(spec: JobSpec, seeds: int, executor: Executor, *,
              on_event: EventCallback | None = None) -> tuple[list[RunRecord], dict[str, Any]]:
    """Run ``spec`` with ``seeds`` seeds on ``executor``; return (records in seed order, summary).

    See the module doc for the summary and the errors."""
    specs = seed_specs(spec.validated(), seeds)
    records = executor.run_all(specs, on_event=on_event)
    return records, summarise_seeds(specs[0], records)


def write_seeds(folder: str | Path, summary: Mapping[str, Any]) -> Path:
    """Write ``summary`` as ``folder/seeds.json`` (atomically, strict JSON); return the path."""
    path = Path(folder) / SEEDS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, dict(summary))
    return path

"""Executors: run many JobSpecs (sweeps, seeds, benchmarks, shadow-model fallbacks) in parallel.

One interface (:class:`Executor`), two implementations:

* :class:`LocalExecutor` (``"local"``, the default, embedded): W ``spawn`` job processes on this
  machine, each with its own torch threads (1 each on 2 cores);
* :class:`RayExecutor` (``"ray"``, optional extra ``lethe-studio[cluster]``): Ray tasks, locally
  (``ray.init``) or on a cluster (``address=``), GPUs as Ray resources;
* :class:`InProcessExecutor` (``"inline"``): one job at a time on a thread of this process.

Use::

    from engine.executors import make_executor

    with make_executor("local", workers=2) as ex:
        futures = [ex.submit(spec.with_changes(seed=s), on_event=print) for s in range(4)]
        records = [f.result() for f in futures]       # RunRecords; a failure raises LetheError
        ex.cancel(futures[0])                           # one job; ex.cancel() cancels all

For work that is not a JobSpec (e.g. one shadow model of a KLoM / U-LiRA ensemble that cannot be
vmapped): ``ex.submit_call(fn, *args)`` runs an importable function with picklable arguments in a
worker and returns a ``Future`` of its result. Code below this layer (``engine.evaluation``) must
not import this package: take a ``submit: Callable[..., Future]`` (pass ``ex.submit_call``) or an
:class:`Executor` object from the caller.

Sweeps over a method's hyperparameters with Optuna: :mod:`engine.executors.sweep`.
"""
from __future__ import annotations

from engine.executors.base import CANCEL_GRACE_S, EventCallback, Executor, WorkerLost
from engine.executors.local import InProcessExecutor, LocalExecutor, default_workers, worker_threads

EXECUTORS = ("local", "ray", "inline")


def make_executor(name: str = "local", workers: int | None = None, *, address: str | None = None, **kw: object) -> Executor:
    """``"local"`` -> :class:`LocalExecutor`; ``"ray"`` -> :class:`RayExecutor` (``address``: a cluster);
    ``"inline"`` -> :class:`InProcessExecutor` (one job at a time in this process: debugging, tests).

    Raises :class:`~engine._core.errors.BadSpec` for another name or an ``address`` without Ray,
    :class:`~engine._core.errors.LetheError` when Ray is asked for but not installed."""
    from engine._core.errors import BadSpec

    if name == "local":
        if address:
            raise BadSpec("--address is for the ray executor", hint="add --executor ray")
        return LocalExecutor(workers, **kw)  # type: ignore[arg-type]
    if name == "inline":
        return InProcessExecutor(workers, **kw)  # type: ignore[arg-type]
    if name == "ray":
        from engine.executors.ray_executor import RayExecutor

        return RayExecutor(workers, address=address, **kw)  # type: ignore[arg-type]
    raise BadSpec(f"executor: {name!r} is not one of {', '.join(EXECUTORS)}")


__all__ = [
    "CANCEL_GRACE_S",
    "EXECUTORS",
    "EventCallback",
    "Executor",
    "InProcessExecutor",
    "LocalExecutor",
    "WorkerLost",
    "default_workers",
    "make_executor",
    "worker_threads",
]

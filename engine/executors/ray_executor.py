"""RayExecutor: the same jobs as Ray tasks, on this machine or on a Ray cluster (optional extra).

Install with ``pip install lethe-studio[cluster]`` (``ray>=2.9``). ``RayExecutor()`` starts a
local Ray instance (``ray.init(num_cpus=...)``) unless one is running; ``RayExecutor(address=
"ray://host:10001")`` (or ``"auto"``) joins a cluster. Each job is one task (``num_cpus`` =
``threads``, ``num_gpus`` = ``gpus_per_job``: by default 1 when the cluster has GPUs and the spec's
device is not ``cpu``, so Ray places GPU jobs on GPU nodes and sets ``CUDA_VISIBLE_DEVICES``); it
is a streaming generator that yields the job's events, so progress reaches ``on_event`` live.
Tasks are never retried (a rerun would repeat a cancelled or crashed job silently).

Originals and retrain references are shared through the on-disk cache, keyed by the hashes of
dataset, architecture, recipe, seed and forget set (:mod:`engine._core.cache`), with a per-entry
lock so two tasks that need the same model train it once. Locally the workers use the driver's
cache folder; on a cluster pass ``cache_dir`` = a folder every node mounts (a shared file system),
or each node keeps its own cache. Each Ray worker process keeps one :class:`Runner`, so models
stay in memory between the jobs it runs.

Cancel stops a running task with ``ray.cancel(force=True)`` (its worker process is killed at once;
Ray starts another for later jobs).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from engine._core.cache import cache_dir as _cache_dir
from engine._core.cancel import CancelToken
from engine._core.errors import Cancelled, LetheError
from engine._core.events import Event, Finished, Geometry
from engine.executors.base import EventCallback, TrackingExecutor, WorkerLost, new_job_id, safe_call, settle
from engine.runs.record import RunRecord
from engine.runs.spec import JobSpec

_WORKER_RUNNER: Any = None  # one Runner per Ray worker process


def _job_events(spec_json: dict[str, Any], job_id: str, threads: int, env: dict[str, str]) -> Iterator[Event]:
    """The Ray task: run one JobSpec in this worker's Runner and yield its events (portable)."""
    global _WORKER_RUNNER
    import torch

    from engine.runs.runner import Runner
    from engine.runs.worker_host import encode_event

    os.environ.update(env)
    torch.set_num_threads(max(1, threads))
    if _WORKER_RUNNER is None:
        _WORKER_RUNNER = Runner(threads=max(1, threads))
    for ev in _WORKER_RUNNER.run(JobSpec.from_json(spec_json), CancelToken(), job_id=job_id):
        if not isinstance(ev, Geometry):
            yield encode_event(ev)


def _writable(ev: Event) -> Event:
    """Ray hands NumPy arrays back read-only (zero-copy from its object store); a model is
    rebuilt from writable copies (torch refuses to wrap read-only arrays)."""
    from engine.runs.worker_host import PortableModel

    if isinstance(ev, Finished) and isinstance(getattr(ev.record, "model", None), PortableModel):
        pm = ev.record.model
        state = {k: np.array(v) if isinstance(v, np.ndarray) and not v.flags.writeable else v for k, v in pm.state.items()}
        ev.record.model = dataclasses.replace(pm, state=state)
    return ev


def _require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise LetheError("the ray executor needs Ray", hint='pip install "lethe-studio[cluster]" (or: pip install "ray>=2.9")') from None
    return ray


class RayExecutor(TrackingExecutor):
    """Jobs as Ray tasks. ``address``: a cluster to join (None: a local Ray, started here with
    ``num_cpus`` CPUs unless Ray is already initialised); ``workers``: how many jobs run at once
    (default: the cluster's CPUs ÷ ``threads``); ``threads``: CPUs (and torch threads) per job."""

    name = "ray"

    def __init__(self, workers: int | None = None, *, address: str | None = None, num_cpus: int | None = None,
                 threads: int = 1, gpus_per_job: float | None = None, cache_dir: str | None = None) -> None:
        ray = _require_ray()
        self._ray = ray
        self._owns_ray = False
        if not ray.is_initialized():
            env: dict[str, str] = {}
            if address is None:  # local workers: import this engine, whatever the installed one is
                root = str(Path(__file__).resolve().parents[2])
                env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
            ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                     log_to_driver=False, configure_logging=False, runtime_env={"env_vars": env} if env else None)
            self._owns_ray = True
        self.threads = max(1, threads)
        resources = ray.cluster_resources()
        self.workers = max(1, workers if workers is not None else int(resources.get("CPU", 1) // self.threads))
        self._has_gpus = resources.get("GPU", 0) > 0
        self.gpus_per_job = gpus_per_job
        self._env = {}
        cache = cache_dir if cache_dir is not None else (str(_cache_dir()) if address is None else None)
        if cache:
            self._env["LETHE_CACHE_DIR"] = cache
        if address is None and os.environ.get("LETHE_PRESETS_DIR"):
            self._env["LETHE_PRESETS_DIR"] = os.environ["LETHE_PRESETS_DIR"]
        self._remote = ray.remote(_job_events)
        self._init_tracking()  # self._lock; self._entries: future -> [generator, cancel_requested]
        self._threads: list[threading.Thread] = []
        self._slots = threading.Semaphore(self.workers)
        self._closed = False

    def _gpus_for(self, spec: JobSpec) -> float:
        if self.gpus_per_job is not None:
            return self.gpus_per_job
        return 1.0 if self._has_gpus and spec.device != "cpu" else 0.0

    def submit(self, spec: JobSpec, *, on_event: EventCallback | None = None, job_id: str | None = None) -> Future[RunRecord]:
        if self._closed:
            raise RuntimeError("this executor was shut down")
        spec = spec.validated()
        job_id = job_id or new_job_id()
        future: Future[RunRecord] = Future()
        entry: list[Any] = [None, False]
        self._track(future, entry)
        thread = threading.Thread(target=self._drive, args=(spec, job_id, future, on_event, entry),
                                  name=f"lethe-ray-{job_id}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return future

    def _drive(self, spec: JobSpec, job_id: str, future: Future[RunRecord], on_event: EventCallback | None,
               entry: list[Any]) -> None:
        """Hold one of ``workers`` slots, start the task, relay its events, resolve the future."""
        from engine.runs.worker_host import decode_event

        ray = self._ray
        with self._slots:
            if not future.set_running_or_notify_cancel():
                return
            with self._lock:
                if entry[1]:
                    future.set_exception(Cancelled("the job was cancelled"))
                    return
                gen = self._remote.options(num_cpus=self.threads, num_gpus=self._gpus_for(spec), max_retries=0,
                                           num_returns="streaming").remote(spec.to_json(), job_id, self.threads, self._env)
                entry[0] = gen
            try:
                for ref in gen:
                    ev = decode_event(_writable(ray.get(ref)))
                    safe_call(on_event, ev)
                    if settle(future, ev):
                        return
                raise LetheError("the Ray task ended without a result")
            except Exception as exc:  # noqa: BLE001 - cancel, a lost worker or a task error end the future
                if future.done():
                    return
                if entry[1]:
                    future.set_exception(Cancelled("the job was cancelled"))
                elif isinstance(exc, LetheError):
                    future.set_exception(exc)
                else:
                    future.set_exception(WorkerLost(f"the Ray task failed ({type(exc).__name__}: {exc})"))

    def _stop_running(self, entry: list[Any]) -> None:
        """Cancel the job's Ray task (its worker process is killed at once)."""
        with self._lock:
            entry[1] = True
            gen = entry[0]
        if gen is not None:
            with contextlib.suppress(Exception):  # the task may have ended meanwhile
                self._ray.cancel(gen, force=True)

    def submit_call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        if self._closed:
            raise RuntimeError("this executor was shut down")
        ref = self._ray.remote(fn).options(num_cpus=self.threads, max_retries=0).remote(*args, **kwargs)
        future: Future[Any] = ref.future()
        return future

    def shutdown(self, *, cancel: bool = False) -> None:
        if cancel:
            self.cancel()
        if self._closed:
            return
        self._closed = True
        for thread in self._threads:
            thread.join(60.0)
        if self._owns_ray:
            self._ray.shutdown()

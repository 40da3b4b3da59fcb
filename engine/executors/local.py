"""LocalExecutor: W long-lived job processes on this machine (``spawn``), the default executor.

Each worker is a :class:`~engine.runs.worker_host.JobProcess` (the studio's own job process: a
:class:`Runner` that keeps datasets, originals and retrains in memory between its jobs, events
batched over a pipe, cancel by message) with its own torch intra-op thread count
(:func:`worker_threads`: the cores split between the workers, 1 each on 2 cores). A slot thread
per worker takes the next queued job, streams its events to the job's ``on_event`` and resolves its
future. Workers share the on-disk cache (``LETHE_CACHE_DIR`` is inherited): an original or
retrain reference needed by two workers at once is trained by one of them while the other waits
on the entry's lock (:func:`engine._core.cache.entry_lock`) and then loads it.

Cancel: a queued job never starts; a running job's worker gets a cancel message (the job stops at
its next batch), and a worker whose job has not ended :data:`CANCEL_GRACE_S` later is killed and
replaced by a fresh process on the next job, so a cancel takes effect within ~1 s.

:meth:`LocalExecutor.submit_call` runs any importable function in a separate ``spawn`` process
pool of the same size, thread and priority settings (created on first use; its workers start with
the job processes' own :func:`~engine.runs.worker_host.init_worker_process`).
"""
from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import multiprocessing

from engine._core.device import cpu_thread_budget
from engine._core.errors import Cancelled
from engine._core.events import Geometry
from engine.executors.base import (
    CANCEL_GRACE_S,
    EventCallback,
    Executor,
    TrackingExecutor,
    WorkerLost,
    new_job_id,
    safe_call,
    settle,
)
from engine.runs.record import RunRecord
from engine.runs.spec import JobSpec
from engine.runs.worker_host import JobProcess, describe_exit, init_worker_process


def worker_threads(workers: int) -> int:
    """Torch threads per worker: ``LETHE_THREADS`` if set, else the cores split evenly, at least 1
    (never more than :func:`cpu_thread_budget`, which leaves one core to the caller)."""
    if os.environ.get("LETHE_THREADS"):
        return cpu_thread_budget()
    return max(1, min(cpu_thread_budget(), (os.cpu_count() or 1) // max(1, workers)))


def default_workers() -> int:
    """One worker per core (at least 1)."""
    return max(1, os.cpu_count() or 1)


@dataclass(eq=False)
class _Job:
    job_id: str
    spec: JobSpec
    future: Future[RunRecord]
    on_event: EventCallback | None
    cancel_requested: bool = False


class _Slot:
    """One worker process and the thread that feeds it jobs."""

    def __init__(self, owner: LocalExecutor, index: int) -> None:
        self.owner = owner
        self.index = index
        self.proc: JobProcess | None = None
        self.job: _Job | None = None
        self.thread = threading.Thread(target=self._loop, name=f"lethe-executor-{index}", daemon=True)

    def _loop(self) -> None:
        try:
            while (job := self.owner._queue.get()) is not None:
                if not job.future.set_running_or_notify_cancel():
                    continue  # cancelled while queued
                with self.owner._lock:
                    self.job = job
                try:
                    self._run(job)
                except BaseException as exc:  # noqa: BLE001 - the future must always end
                    if not job.future.done():
                        job.future.set_exception(exc)
                finally:
                    with self.owner._lock:
                        self.job = None
        finally:
            self._stop_process()

    def _process(self) -> JobProcess:
        if self.proc is None or not self.proc.is_alive():
            self._stop_process()
            proc = JobProcess(threads=self.owner.threads, nice=self.owner.nice, allow_debug=False)
            proc.start()
            self.proc = proc
        return self.proc

    def _run(self, job: _Job) -> None:
        proc = self._process()
        if job.cancel_requested:
            job.future.set_exception(Cancelled("the job was cancelled"))
            return
        proc.submit(job.job_id, "run", job.spec)  # a dead worker shows as EOF below
        while True:
            try:
                msg = proc.recv()
            except (EOFError, OSError):
                code = proc.join(2.0)
                proc.close()
                self.proc = None
                if job.cancel_requested:
                    job.future.set_exception(Cancelled("the job was cancelled (its worker was stopped)"))
                else:
                    job.future.set_exception(WorkerLost(f"the worker process ended unexpectedly ({describe_exit(code)})"))
                return
            if msg[0] != "events":
                continue
            for ev in msg[1]:
                if ev.job_id != job.job_id:
                    continue
                if not isinstance(ev, Geometry):
                    safe_call(job.on_event, ev)
                if settle(job.future, ev):
                    return

    def kill_if_running(self, job: _Job) -> None:
        """The grace period is over: kill the worker if ``job`` still runs on it (its slot sees EOF)."""
        with self.owner._lock:
            if self.job is job and not job.future.done() and self.proc is not None:
                self.proc.kill()

    def _stop_process(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.stop()
        proc.join(3.0)
        proc.close()


class LocalExecutor(TrackingExecutor):
    """``workers`` job processes (default: one per core) with ``threads`` torch threads each
    (default :func:`worker_threads`); ``nice``: the workers' added niceness (POSIX), so the caller's
    own thread (the studio's GUI) wins the CPU. Processes start on the first job."""

    name = "local"

    def __init__(self, workers: int | None = None, *, threads: int | None = None, nice: int = 5) -> None:
        self.workers = max(1, workers if workers is not None else default_workers())
        self.threads = threads if threads is not None else worker_threads(self.workers)
        self.nice = nice
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._init_tracking()  # self._lock; self._entries: future -> _Job
        self._slots: list[_Slot] = []
        self._calls: ProcessPoolExecutor | None = None
        self._closed = False

    def _start(self) -> None:
        if not self._slots:
            self._slots = [_Slot(self, i) for i in range(self.workers)]
            for slot in self._slots:
                slot.thread.start()

    def submit(self, spec: JobSpec, *, on_event: EventCallback | None = None, job_id: str | None = None) -> Future[RunRecord]:
        if self._closed:
            raise RuntimeError("this executor was shut down")
        spec = spec.validated()
        future: Future[RunRecord] = Future()
        job = _Job(job_id or new_job_id(), spec, future, on_event)
        self._track(future, job)
        self._start()
        self._queue.put(job)
        return future

    def cancel(self, future: Future[Any] | None = None) -> None:
        super().cancel(future)
        if future is None and self._calls is not None:
            self._calls.shutdown(wait=False, cancel_futures=True)
            self._calls = None

    def _stop_running(self, job: _Job) -> None:
        """Ask the job's worker to cancel; kill it if the job has not ended :data:`CANCEL_GRACE_S` later."""
        with self._lock:
            job.cancel_requested = True  # a job between queue and worker start is refused by its slot
            slot = next((s for s in self._slots if s.job is job), None)
            if slot is not None and slot.proc is not None:
                slot.proc.cancel(job.job_id)
        if slot is not None:
            timer = threading.Timer(CANCEL_GRACE_S, slot.kill_if_running, args=(job,))
            timer.daemon = True
            timer.start()

    def submit_call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        if self._closed:
            raise RuntimeError("this executor was shut down")
        if self._calls is None:
            self._calls = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                              initializer=init_worker_process, initargs=(self.threads, self.nice))
        return self._calls.submit(fn, *args, **kwargs)

    def shutdown(self, *, cancel: bool = False) -> None:
        if cancel:
            self.cancel()
        if self._closed:
            return
        self._closed = True
        for _ in self._slots:
            self._queue.put(None)
        for slot in self._slots:
            slot.thread.join(30.0)
        if self._calls is not None:
            self._calls.shutdown(wait=True, cancel_futures=cancel)
            self._calls = None


class InProcessExecutor(Executor):
    """Jobs one after another on a background thread of this process, with one shared
    :class:`Runner` (``"inline"``): no process start-up, for notebooks, tests and debugging.
    ``workers`` is 1; cancel sets the running job's token (it stops at its next check)."""

    name = "inline"

    def __init__(self, workers: int | None = None, *, threads: int | None = None, runner: Any = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from engine.runs.runner import Runner

        self.workers = 1
        self.threads = threads if threads is not None else cpu_thread_budget()
        self.runner = runner if runner is not None else Runner(threads=self.threads)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="lethe-inline")
        self._lock = threading.Lock()
        self._tokens: dict[Future[Any], Any] = {}

    def submit(self, spec: JobSpec, *, on_event: EventCallback | None = None, job_id: str | None = None) -> Future[RunRecord]:
        from engine._core.cancel import CancelToken

        spec = spec.validated()
        token = CancelToken()
        job_id = job_id or new_job_id()
        outer: Future[RunRecord] = Future()

        def work() -> None:
            if not outer.set_running_or_notify_cancel():
                return
            for ev in self.runner.run(spec, token, job_id=job_id):
                if not isinstance(ev, Geometry):
                    safe_call(on_event, ev)
                if settle(outer, ev):
                    return

        with self._lock:
            self._tokens[outer] = token
        outer.add_done_callback(self._forget)
        self._pool.submit(work)
        return outer

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._tokens.pop(future, None)

    def cancel(self, future: Future[Any] | None = None) -> None:
        with self._lock:
            items = list(self._tokens.items()) if future is None else [(future, self._tokens.get(future))]
        for f, token in items:
            if not f.cancel() and token is not None:
                token.cancel()

    def submit_call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, *, cancel: bool = False) -> None:
        if cancel:
            self.cancel()
        self._pool.shutdown(wait=True)

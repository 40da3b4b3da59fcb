"""Engine jobs in, typed Qt signals out: the studio's :class:`JobController`.

The GUI freezes its choices into a :class:`engine.JobSpec`, calls :meth:`JobController.start` (or
:meth:`JobController.prepare`) and gets a job id back; the controller drops events of any job that
is no longer current and re-emits the rest as ``sig_progress``, ``sig_log``, ``sig_metrics``,
``sig_geometry``, ``sig_prepared``, ``sig_finished`` and ``sig_failed``. Where the job runs is the
controller's business, chosen by ``mode`` (or ``LETHE_WORKER=process|thread``):

* ``process`` (the default): a long-lived job process (:class:`engine.JobProcess`, ``spawn``) owns
  the runner and its caches. A reader thread here receives its messages (NumPy arrays as raw
  buffers) and posts them to the GUI thread. The GUI never shares the interpreter lock with engine
  work, and a crash, an out-of-memory kill or a hang of a job ends only the job process: the job
  gets a ``Failed`` that says what happened, and the next job starts a fresh process. Cancel is
  cooperative first (the job's token, within ~1 s); a job still running ``cancel_grace_s`` later is
  stopped with its process. A job that sends nothing (no event, no CPU heartbeat) for
  ``hang_timeout_s`` (``LETHE_WORKER_HANG_S``; 0 turns it off) is declared hung and stopped the same way.
* ``thread``: one ``QThread`` in this process runs the same engine generators
  (:func:`engine.job_events`). Kept for comparison (``python -m app.bench``) and for tests that share
  one in-process runner; a controller given a ``runner`` uses it.

Models: a finished run's record carries a CPU copy of the unlearned model (for *Save weights*); the
original and retrained reference stay in the job process (see ``engine.runs.worker_host``).
"""
from __future__ import annotations

import contextlib

import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from engine import (
    CancelToken,
    Event,
    Failed,
    Finished,
    Geometry,
    JobProcess,
    JobSpec,
    Log,
    Metrics,
    Prepared,
    Progress,
    Runner,
    cpu_thread_budget,
    describe_exit,
    is_end,
    job_events,
)

log = logging.getLogger(__name__)

DEBUG_ENV = "LETHE_WORKER_DEBUG"  # "1": accept the test-only debug tasks (engine.runs.worker_host.DEBUG_ENV)

MODES = ("process", "thread")
WORKER_ENV = "LETHE_WORKER"  # process | thread
HANG_ENV = "LETHE_WORKER_HANG_S"
DEFAULT_HANG_S = 300.0  # no event and no CPU use for 5 minutes while a job runs: hung
CANCEL_GRACE_S = 2.0  # a cancelled job still running after this is stopped with its process
WATCHDOG_MS = 200

_CONTROLLERS: weakref.WeakSet[JobController] = weakref.WeakSet()


def running_controllers() -> list[JobController]:
    """Controllers whose worker thread or job process still runs (the test suite fails a test that leaves one)."""
    return [c for c in list(_CONTROLLERS) if c.thread_running()]


def resolve_mode(mode: str | None = None, runner: Runner | None = None) -> str:
    """``mode`` if given; else "thread" when an in-process ``runner`` is given; else ``$LETHE_WORKER``; else "process"."""
    if mode is None:
        mode = "thread" if runner is not None else (os.environ.get(WORKER_ENV) or "process")
    if mode not in MODES:
        raise ValueError(f"{WORKER_ENV} / mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "process" and runner is not None:
        raise ValueError("a job process owns its own runner: pass runner= only with mode='thread'")
    return mode


def hang_timeout_from_env() -> float:
    raw = os.environ.get(HANG_ENV)
    return DEFAULT_HANG_S if not raw else max(0.0, float(raw))


@dataclass(frozen=True)
class Task:
    """What the worker is asked to do: ``kind`` "run" (unlearn), "prepare" (data + original) or "debug" (tests)."""

    job_id: str
    kind: str
    spec: Any  # JobSpec; a dict for "debug"
    token: CancelToken


def doing(task: Task) -> str:
    """What a task was doing, for messages: "running pour_d", "loading digits"."""
    if task.kind == "run" and isinstance(task.spec, JobSpec):
        return f"running {task.spec.method}"
    if task.kind == "prepare" and isinstance(task.spec, JobSpec):
        return f"loading {task.spec.dataset}"
    return f"doing {task.kind}"


# ---------------------------------------------------------------------------------------------
# thread mode


class JobWorker(QObject):
    """Runs tasks on the worker thread. Never touches a widget; talks only through ``sig_event``."""

    sig_event = Signal(object)  # an engine Event (or Prepared), stamped with its job id

    def __init__(self, runner: Runner) -> None:
        super().__init__()  # parentless: it is moved to the worker thread
        self.runner = runner

    @Slot()
    def _on_thread_started(self) -> None:
        # Intra-op threads of the worker; the GUI keeps a core (2 cores -> 1 torch thread).
        torch.set_num_threads(cpu_thread_budget())

    @Slot(object)
    def _on_sig_task(self, task: Task) -> None:
        allow_debug = os.environ.get(DEBUG_ENV) == "1"
        for event in job_events(self.runner, task.kind, task.spec, task.token, task.job_id, allow_debug=allow_debug):
            self.sig_event.emit(event)


class _ThreadBackend(QObject):
    """The in-process worker: one QThread, one JobWorker, one shared Runner."""

    sig_task = Signal(object)  # -> JobWorker._on_sig_task (queued: the worker lives on the thread)

    def __init__(self, runner: Runner, deliver: Callable[[Event], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._deliver = deliver
        self._thread = QThread()
        self._thread.setObjectName("lethe-worker")
        self._worker = JobWorker(runner)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker._on_thread_started)
        self.sig_task.connect(self._worker._on_sig_task, Qt.ConnectionType.QueuedConnection)
        self._worker.sig_event.connect(self._on_worker_event, Qt.ConnectionType.QueuedConnection)
        self._thread.start()

    @Slot(object)
    def _on_worker_event(self, event: Event) -> None:
        self._deliver(event)

    def submit(self, task: Task) -> None:
        self.sig_task.emit(task)

    def cancel(self, task: Task) -> None:
        task.token.cancel()

    def shutdown(self, timeout_ms: int) -> None:
        self._thread.quit()
        if not self._thread.wait(timeout_ms):  # pragma: no cover - a job ignoring its token
            log.error("the worker thread did not stop within %d ms", timeout_ms)
            self._thread.terminate()
            self._thread.wait()

    def running(self) -> bool:
        return self._thread.isRunning()


# ---------------------------------------------------------------------------------------------
# process mode


class _ProcessBackend(QObject):
    """The job process, its reader thread and a watchdog for cancel grace and hangs.

    Messages of a worker that was replaced (its ``generation`` is old) are dropped; when the worker
    is lost, its running job gets one ``Failed`` and jobs queued behind it go to a fresh worker.
    """

    sig_message = Signal(int, object)  # generation, message (posted by the reader thread)
    sig_ended = Signal(int, object)  # generation, exit code (posted by the reader thread)

    def __init__(self, deliver: Callable[[Event], None], *, hang_timeout_s: float, cancel_grace_s: float,
                 threads: int | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._deliver = deliver
        self.hang_timeout_s = hang_timeout_s
        self.cancel_grace_s = cancel_grace_s
        self.threads = threads
        self._proc: JobProcess | None = None
        self._reader: threading.Thread | None = None
        self._old: list[tuple[JobProcess, threading.Thread]] = []
        self._gen = 0
        self._queued: list[Task] = []
        self._running: Task | None = None
        self._running_since = 0.0
        self._cancel_at: dict[str, float] = {}
        self._shut = False
        self.last_message = 0.0  # monotonic; written by the reader thread
        self.worker_pid: int | None = None
        self.worker_threads: int | None = None
        self.starts = 0
        self._watchdog = QTimer(self)
        self._watchdog.setInterval(WATCHDOG_MS)
        self._watchdog.timeout.connect(self._on_watchdog_timeout)
        self.sig_message.connect(self._on_message, Qt.ConnectionType.QueuedConnection)
        self.sig_ended.connect(self._on_ended, Qt.ConnectionType.QueuedConnection)
        self._spawn()  # now: the first job need not wait for torch to import

    # ------------------------------------------------------------------ lifecycle
    def _spawn(self) -> None:
        self._gen += 1
        proc = JobProcess(threads=self.threads)
        proc.start()
        self.starts += 1
        self.worker_pid = proc.pid
        reader = threading.Thread(target=self._read, args=(proc, self._gen), name=f"lethe-reader-{self._gen}",
                                  daemon=True)
        reader.start()
        self._proc, self._reader = proc, reader

    def _read(self, proc: JobProcess, gen: int) -> None:
        """The reader thread: messages to the GUI thread; at EOF, reap the process and report its end."""
        while True:
            try:
                msg = proc.recv()
            except (EOFError, OSError):
                break
            except Exception:
                log.exception("could not decode a message from the job process")
                proc.kill()
                break
            self.last_message = time.monotonic()
            if msg[0] != "alive":  # heartbeats only reset the hang clock
                self.sig_message.emit(gen, msg)
        code = proc.join(2.0)
        proc.close()
        self.sig_ended.emit(gen, code)

    def _retire(self) -> None:
        """Forget the current worker (its later messages are stale) and kill it."""
        if self._proc is not None and self._reader is not None:
            self._old.append((self._proc, self._reader))
            with contextlib.suppress(OSError):  # already reaped
                self._proc.kill()
        self._gen += 1
        self._proc, self._reader = None, None
        self._running, self._queued = None, []
        self._cancel_at.clear()
        self._old = [(p, r) for p, r in self._old if r.is_alive()]

    def _lost(self, kind: str, why: str, hint: str, *, cancelled: bool = False) -> None:
        """The worker died or is being stopped: fail its running job, resubmit live queued ones."""
        running, queued = self._running, list(self._queued)
        if running is None and queued:
            # The worker takes tasks in order and may die before its "begin" got out: the head of
            # the queue is the one that may have been running. Failing it (never resubmitting it)
            # also means a task that kills every worker cannot loop.
            running, queued = queued[0], queued[1:]
        self._retire()
        live = [t for t in queued if not t.token.cancelled]
        if live or running is not None:
            self._spawn()
            for t in live:
                self.submit(t)
        if running is not None:
            self._deliver(Failed(kind, f"{why} while {doing(running)}", hint, cancelled=cancelled, job_id=running.job_id))
        for t in queued:
            if t.token.cancelled:
                self._deliver(Failed("Cancelled", "the job was cancelled", cancelled=True, job_id=t.job_id))

    # ------------------------------------------------------------------ API
    def submit(self, task: Task) -> None:
        if self._proc is None:
            self._spawn()
        assert self._proc is not None
        self._queued.append(task)
        self._proc.submit(task.job_id, task.kind, task.spec)  # a dead worker: its EOF reports it
        if not self._watchdog.isActive():
            self._watchdog.start()

    def cancel(self, task: Task) -> None:
        task.token.cancel()
        if self._proc is not None and (task in self._queued or task is self._running):
            self._proc.cancel(task.job_id)
            self._cancel_at.setdefault(task.job_id, time.monotonic())

    def shutdown(self, timeout_ms: int) -> None:
        """Ask the worker to stop, give it ``min(timeout, 1 s)``, then kill it; join every reader."""
        self._shut = True
        self._watchdog.stop()
        if self._proc is not None and self._reader is not None:
            self._proc.stop()
            self._reader.join(min(timeout_ms / 1000, 1.0))
            if self._reader.is_alive():
                self._proc.kill()
            self._old.append((self._proc, self._reader))
        for proc, reader in self._old:
            reader.join(5.0)
            if reader.is_alive():  # pragma: no cover - a process that survives SIGKILL
                log.error("the reader of job process %s did not stop", proc.pid)
        self._proc, self._reader, self._old = None, None, []

    def running(self) -> bool:
        return any(r.is_alive() or p.is_alive() for p, r in self._pairs())

    def _pairs(self) -> list[tuple[JobProcess, threading.Thread]]:
        pairs = list(self._old)
        if self._proc is not None and self._reader is not None:
            pairs.append((self._proc, self._reader))
        return pairs

    # ------------------------------------------------------------------ messages
    @Slot(int, object)
    def _on_message(self, gen: int, msg: Any) -> None:
        if gen != self._gen or self._shut:
            return  # from a worker that was replaced
        what = msg[0]
        if what == "events":
            for ev in msg[1]:
                if is_end(ev):
                    self._ended_job(ev.job_id)
                self._deliver(ev)
                if gen != self._gen:  # a slot above replaced the worker
                    return
        elif what == "begin":
            task = next((t for t in self._queued if t.job_id == msg[1]), None)
            if task is not None:
                self._queued.remove(task)
                self._running, self._running_since = task, time.monotonic()
        elif what == "hello":
            self.worker_pid, self.worker_threads = msg[1], msg[2]

    def _ended_job(self, job_id: str) -> None:
        if self._running is not None and self._running.job_id == job_id:
            self._running = None
        self._queued = [t for t in self._queued if t.job_id != job_id]
        self._cancel_at.pop(job_id, None)

    @Slot(int, object)
    def _on_ended(self, gen: int, code: int | None) -> None:
        if gen != self._gen or self._shut:
            return  # a worker we retired ourselves
        self._lost("WorkerDied", f"the job process ended unexpectedly ({describe_exit(code)})",
                   "the studio is fine and the next job starts a fresh job process; the terminal shows the "
                   "process's last output", cancelled=False)

    @Slot()
    def _on_watchdog_timeout(self) -> None:
        task = self._running
        if task is None:
            if not self._queued:
                self._watchdog.stop()
            return
        now = time.monotonic()
        asked = self._cancel_at.get(task.job_id)
        if asked is not None and now - asked > self.cancel_grace_s:
            self._lost("Cancelled", f"the job was cancelled; it did not stop within {self.cancel_grace_s:g} s, "
                       "so its process was stopped", "", cancelled=True)
            return
        quiet = now - max(self.last_message, self._running_since)
        if self.hang_timeout_s and quiet > self.hang_timeout_s:
            self._lost("WorkerHung", f"the job process stopped responding (nothing for {quiet:.0f} s)",
                       f"it was stopped; the next job starts a fresh one. {HANG_ENV} sets this timeout "
                       f"({self.hang_timeout_s:g} s)")


# ---------------------------------------------------------------------------------------------
# the controller


class JobController(QObject):
    """GUI-side handle on the worker: start, cancel, drop stale events, shut down.

    ``mode``: "process" or "thread" (see the module docstring); ``runner``: an in-process runner
    (thread mode only); ``hang_timeout_s`` and ``cancel_grace_s``: process mode's watchdog.
    """

    sig_started = Signal(str, str)  # job id, kind
    sig_progress = Signal(object)  # Progress
    sig_log = Signal(object)  # Log
    sig_metrics = Signal(object)  # Metrics
    sig_geometry = Signal(object)  # Geometry
    sig_prepared = Signal(object)  # Prepared
    sig_finished = Signal(object)  # Finished
    sig_failed = Signal(object)  # Failed
    sig_busy = Signal(bool)

    def __init__(self, runner: Runner | None = None, parent: QObject | None = None, *, mode: str | None = None,
                 hang_timeout_s: float | None = None, cancel_grace_s: float = CANCEL_GRACE_S,
                 threads: int | None = None) -> None:
        super().__init__(parent)
        self.mode = resolve_mode(mode, runner)
        self.runner: Runner | None = None
        self._backend: _ThreadBackend | _ProcessBackend
        if self.mode == "thread":
            self.runner = runner or Runner()  # one shared runner: datasets and originals stay cached
            self._backend = _ThreadBackend(self.runner, self._on_sig_event, self)
        else:
            self._backend = _ProcessBackend(
                self._on_sig_event, hang_timeout_s=hang_timeout_from_env() if hang_timeout_s is None else hang_timeout_s,
                cancel_grace_s=cancel_grace_s, threads=threads, parent=self)
        self._current: Task | None = None
        self._pending: set[str] = set()  # job ids submitted and not yet ended
        self._shut = False
        _CONTROLLERS.add(self)

    # ------------------------------------------------------------------ API
    @property
    def current_job(self) -> str | None:
        return self._current.job_id if self._current is not None else None

    @property
    def current_kind(self) -> str | None:
        return self._current.kind if self._current is not None else None

    @property
    def worker_pid(self) -> int | None:
        """The job process's pid (process mode), else None."""
        return self._backend.worker_pid if isinstance(self._backend, _ProcessBackend) else None

    @property
    def worker_starts(self) -> int:
        """How many job processes were started (1 + restarts); 0 in thread mode."""
        return self._backend.starts if isinstance(self._backend, _ProcessBackend) else 0

    def is_busy(self) -> bool:
        return self._current is not None

    def start(self, spec: JobSpec) -> str:
        """Start an unlearning run of ``spec``; a job still running is cancelled and its events dropped."""
        return self._submit("run", spec)

    def prepare(self, spec: JobSpec) -> str:
        """Load ``spec``'s dataset and original model (training it on first use)."""
        return self._submit("prepare", spec)

    def debug(self, op: dict[str, Any]) -> str:
        """Tests only: a misbehaving task (``engine.runs.worker_host._debug_op``; process mode needs
        ``LETHE_WORKER_DEBUG=1`` set before the worker started)."""
        return self._submit("debug", dict(op))

    def cancel(self) -> None:
        """Ask the current job to stop: within ~1 s (the engine checks every batch), or its process is stopped."""
        if self._current is not None:
            self._backend.cancel(self._current)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Cancel, stop the worker and wait for it: safe to call twice."""
        if self._shut:
            return
        self._shut = True
        self.cancel()
        self._backend.shutdown(timeout_ms)
        self._current = None

    def thread_running(self) -> bool:
        return self._backend.running()

    # ------------------------------------------------------------------ internals
    def _submit(self, kind: str, spec: Any) -> str:
        if self._shut:
            raise RuntimeError("the job controller was shut down")
        if self._current is not None:
            self._backend.cancel(self._current)  # superseded: its late events are dropped below
        job_id = uuid.uuid4().hex[:8]
        self._current = Task(job_id, kind, spec, CancelToken())
        self._pending.add(job_id)
        self._backend.submit(self._current)
        self.sig_started.emit(job_id, kind)
        self.sig_busy.emit(True)
        return job_id

    def _on_sig_event(self, event: Event) -> None:
        if isinstance(event, (Finished, Failed, Prepared)):
            self._pending.discard(event.job_id)
        if self._current is None or event.job_id != self._current.job_id:
            return  # a stale job's event
        if isinstance(event, Progress):
            self.sig_progress.emit(event)
        elif isinstance(event, Metrics):
            self.sig_metrics.emit(event)
        elif isinstance(event, Geometry):
            self.sig_geometry.emit(event)
        elif isinstance(event, Log):
            self.sig_log.emit(event)
        elif isinstance(event, (Finished, Failed, Prepared)):  # the end of a job
            self._current = None
            if isinstance(event, Finished):
                self.sig_finished.emit(event)
            elif isinstance(event, Prepared):
                self.sig_prepared.emit(event)
            else:
                self.sig_failed.emit(event)
            if self._current is None:  # (a slot above may have started the next job)
                self.sig_busy.emit(False)

"""The studio's one background thread: engine jobs in, typed Qt signals out.

:class:`JobController` lives on the GUI thread. It owns one long-lived ``QThread`` and a parentless
:class:`JobWorker` moved onto it. The GUI freezes its choices into a :class:`engine.JobSpec`, calls
:meth:`JobController.start` (or :meth:`JobController.prepare`) and gets a job id back; the worker
iterates the engine generator and emits each event; the controller drops events of any job that
is no longer current and re-emits the rest as ``sig_progress``, ``sig_log``, ``sig_metrics``,
``sig_geometry``, ``sig_prepared``, ``sig_finished`` and ``sig_failed``.
"""
from __future__ import annotations

import logging
import traceback
import uuid
import weakref
from dataclasses import dataclass, replace
from collections.abc import Iterator

import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from engine import (
    Cancelled,
    CancelToken,
    Event,
    Failed,
    Finished,
    Geometry,
    JobSpec,
    LetheError,
    Log,
    Metrics,
    Prepared,
    Progress,
    Runner,
    cpu_thread_budget,
    prepare,
)

log = logging.getLogger(__name__)

_CONTROLLERS: weakref.WeakSet[JobController] = weakref.WeakSet()


def running_controllers() -> list[JobController]:
    """Controllers whose worker thread still runs (the test suite fails a test that leaves one)."""
    return [c for c in list(_CONTROLLERS) if c.thread_running()]


@dataclass(frozen=True)
class Task:
    """What the worker is asked to do: ``kind`` "run" (unlearn) or "prepare" (data + original)."""

    job_id: str
    kind: str
    spec: JobSpec
    token: CancelToken


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
        if task.token.cancelled:  # cancelled (or superseded) before it started
            self.sig_event.emit(Failed("Cancelled", "the job was cancelled", cancelled=True, job_id=task.job_id))
            return
        try:
            for event in self._events(task):
                self.sig_event.emit(event)
        except Cancelled:
            self.sig_event.emit(Failed("Cancelled", "the job was cancelled", cancelled=True, job_id=task.job_id))
        except LetheError as exc:
            self.sig_event.emit(Failed(type(exc).__name__, exc.message, exc.hint, job_id=task.job_id))
        except Exception as exc:  # noqa: BLE001 - never let an exception vanish inside the thread
            tb = traceback.format_exc(limit=8)
            log.error("worker task failed: %s", tb)
            self.sig_event.emit(Failed(type(exc).__name__, f"{exc}\n{tb}", "this is a bug in Lethe; please report it",
                                       internal=True, job_id=task.job_id))

    def _events(self, task: Task) -> Iterator[Event]:
        if task.kind == "prepare":
            for ev in prepare(self.runner, task.spec, task.token):
                yield replace(ev, job_id=task.job_id)
            return
        # The runner streams the retrained model's probe positions (stage "retrain") for the ghosts.
        yield from self.runner.run(task.spec, task.token, job_id=task.job_id)


class JobController(QObject):
    """GUI-side handle on the worker thread: start, cancel, drop stale events, shut down."""

    sig_task = Signal(object)  # -> JobWorker._on_sig_task (queued: the worker lives on the thread)
    sig_started = Signal(str, str)  # job id, kind
    sig_progress = Signal(object)  # Progress
    sig_log = Signal(object)  # Log
    sig_metrics = Signal(object)  # Metrics
    sig_geometry = Signal(object)  # Geometry
    sig_prepared = Signal(object)  # Prepared
    sig_finished = Signal(object)  # Finished
    sig_failed = Signal(object)  # Failed
    sig_busy = Signal(bool)

    def __init__(self, runner: Runner | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner or Runner()  # one shared runner: datasets and originals stay cached
        self._thread = QThread()
        self._thread.setObjectName("lethe-worker")
        self._worker = JobWorker(self.runner)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker._on_thread_started)
        self.sig_task.connect(self._worker._on_sig_task, Qt.ConnectionType.QueuedConnection)
        self._worker.sig_event.connect(self._on_sig_event, Qt.ConnectionType.QueuedConnection)
        self._current: Task | None = None
        self._pending: set[str] = set()  # job ids submitted and not yet ended
        self._shut = False
        self._thread.start()
        _CONTROLLERS.add(self)

    # ------------------------------------------------------------------ API
    @property
    def current_job(self) -> str | None:
        return self._current.job_id if self._current is not None else None

    @property
    def current_kind(self) -> str | None:
        return self._current.kind if self._current is not None else None

    def is_busy(self) -> bool:
        return self._current is not None

    def start(self, spec: JobSpec) -> str:
        """Start an unlearning run of ``spec``; a job still running is cancelled and its events dropped."""
        return self._submit("run", spec)

    def prepare(self, spec: JobSpec) -> str:
        """Load ``spec``'s dataset and original model (training it on first use)."""
        return self._submit("prepare", spec)

    def cancel(self) -> None:
        """Ask the current job to stop; the engine checks every batch, so it ends within ~1 s."""
        if self._current is not None:
            self._current.token.cancel()

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Cancel, stop the thread's event loop and wait for it: safe to call twice."""
        if self._shut:
            return
        self._shut = True
        self.cancel()
        self._thread.quit()
        if not self._thread.wait(timeout_ms):  # pragma: no cover - a job ignoring its token
            log.error("the worker thread did not stop within %d ms", timeout_ms)
            self._thread.terminate()
            self._thread.wait()
        self._current = None

    def thread_running(self) -> bool:
        return self._thread.isRunning()

    # ------------------------------------------------------------------ internals
    def _submit(self, kind: str, spec: JobSpec) -> str:
        if self._shut:
            raise RuntimeError("the job controller was shut down")
        if self._current is not None:
            self._current.token.cancel()  # superseded: its late events are dropped below
        job_id = uuid.uuid4().hex[:8]
        self._current = Task(job_id, kind, spec, CancelToken())
        self._pending.add(job_id)
        self.sig_task.emit(self._current)
        self.sig_started.emit(job_id, kind)
        self.sig_busy.emit(True)
        return job_id

    @Slot(object)
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

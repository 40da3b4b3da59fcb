"""The executor interface: submit JobSpecs, get futures of RunRecords, stream events, cancel.

An :class:`Executor` runs :meth:`engine.runs.runner.Runner.run` for each submitted
:class:`~engine.runs.spec.JobSpec` somewhere else (a local worker process, a Ray task) and hands
back a :class:`concurrent.futures.Future`:

* ``future.result()`` is the :class:`~engine.runs.record.RunRecord` (its ``model``: a CPU copy
  of the unlearned model; its references carry metrics but no model);
* a job that failed raises the failure as a :class:`~engine._core.errors.LetheError` (message
  ``"Kind: message"``, as :meth:`Runner.run_to_record` does), a cancelled one raises
  :class:`~engine._core.errors.Cancelled`, a worker that died raises :class:`WorkerLost`.

``on_event`` (optional, per job) is called with every engine event of the job (Progress, Log,
Metrics, ..., then Finished or Failed; Geometry frames are not sent), each stamped with the
job's id, on an executor thread: keep it short and thread-safe (the studio forwards it to a
Qt signal).
"""
from __future__ import annotations

import abc
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait
from typing import Any

from engine._core.errors import Cancelled, LetheError
from engine._core.events import Event, Failed, Finished
from engine.runs.record import RunRecord
from engine.runs.spec import JobSpec

log = logging.getLogger(__name__)

EventCallback = Callable[[Event], None]
CANCEL_GRACE_S = 0.7  # a running job that ignores its cancel this long has its worker stopped


class WorkerLost(LetheError):
    default_hint = "the worker process ended unexpectedly (out of memory, a crash in native code); see its output"


def new_job_id() -> str:
    return uuid.uuid4().hex[:8]


def safe_call(callback: EventCallback | None, event: Event) -> None:
    """Call a user's event callback; an exception in it is logged, never kills the executor."""
    if callback is None:
        return
    try:
        callback(event)
    except Exception:  # a broken listener must not lose the job's result
        log.exception("an executor event callback failed")


def settle(future: Future[RunRecord], event: Event) -> bool:
    """Resolve ``future`` from a job's end event (Finished / Failed); False for any other event."""
    if future.done():
        return isinstance(event, (Finished, Failed))
    if isinstance(event, Finished):
        future.set_result(event.record)
        return True
    if isinstance(event, Failed):
        if event.cancelled:
            future.set_exception(Cancelled(event.message))
        else:
            future.set_exception(LetheError(f"{event.kind}: {event.message}", event.hint))
        return True
    return False


class Executor(abc.ABC):
    """Runs JobSpecs in workers. Use as a context manager, or call :meth:`shutdown`."""

    name: str = ""
    workers: int = 1

    @abc.abstractmethod
    def submit(self, spec: JobSpec, *, on_event: EventCallback | None = None, job_id: str | None = None) -> Future[RunRecord]:
        """Queue ``spec`` (validated here: a bad spec raises at once); return the future of its record."""

    @abc.abstractmethod
    def cancel(self, future: Future[Any] | None = None) -> None:
        """Cancel one job (its future) or, with no argument, every queued and running job.

        A queued job never starts (``future.cancelled()``); a running one stops at its next
        cancellation check, and its worker is stopped if it has not ended within ~1 s; its future
        raises :class:`Cancelled`. Returns at once."""

    @abc.abstractmethod
    def submit_call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` in a worker (``fn`` importable by name, arguments and result
        picklable): for work that is not a JobSpec, e.g. one shadow model of an ensemble."""

    @abc.abstractmethod
    def shutdown(self, *, cancel: bool = False) -> None:
        """Stop the workers (after the queued jobs, or at once with ``cancel``); idempotent."""

    def run_all(self, specs: Iterable[JobSpec], *, on_event: EventCallback | None = None) -> list[RunRecord]:
        """Submit every spec and wait: their records in order (the first failure raises, the rest are cancelled)."""
        futures = [self.submit(s, on_event=on_event) for s in specs]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                self.cancel(f)
            with contextlib.suppress(Exception):
                wait(futures, timeout=5.0)
            raise

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown(cancel=exc[0] is not None)


class TrackingExecutor(Executor):
    """An executor that keeps an entry per unfinished job (its future -> the executor's own job
    state) and cancels alike: a queued job's future is cancelled (it never starts), a running one
    is handed to :meth:`_stop_running`; ``cancel()`` does so for every tracked job.

    Subclasses call :meth:`_init_tracking` in ``__init__`` (it creates ``self._lock``, which
    guards ``self._entries``) and :meth:`_track` when a job is submitted."""

    _lock: threading.Lock
    _entries: dict[Future[Any], Any]

    def _init_tracking(self) -> None:
        self._lock = threading.Lock()
        self._entries = {}

    def _track(self, future: Future[Any], entry: Any) -> None:
        """Keep ``entry`` for ``future`` until the future is done."""
        with self._lock:
            self._entries[future] = entry
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._entries.pop(future, None)

    def cancel(self, future: Future[Any] | None = None) -> None:
        if future is None:
            with self._lock:
                futures = list(self._entries)
            for f in futures:
                self.cancel(f)
            return
        if future.cancel():  # still queued: it never starts
            return
        with self._lock:
            entry = self._entries.get(future)
        if entry is not None:  # None: it ended meanwhile
            self._stop_running(entry)

    @abc.abstractmethod
    def _stop_running(self, entry: Any) -> None:
        """Stop the running job of ``entry`` (the executor's own state of it); returns at once."""

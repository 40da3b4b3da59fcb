"""The job process: a long-lived worker that owns a :class:`Runner` and streams engine events back.

The studio keeps engine work out of its own process, so a job can neither stall the GUI (the GIL
is not shared) nor take it down (a segfault, an out-of-memory kill or a hang ends only the worker).
This module is the Qt-free half; ``app.worker`` turns its messages into Qt signals. Notebooks and
the CLI keep calling :class:`Runner` in-process: the host runs exactly the same generators
(:func:`job_events`), so there is one engine code path.

Pieces, bottom up:

* :func:`job_events`: one task ("run", "prepare", or a test-only "debug" op) as a generator of
  events that never raises; the in-thread studio worker uses it too.
* :func:`send_message` / :func:`recv_message`: pickle protocol 5 with out-of-band buffers, so NumPy
  arrays (Geometry coordinates, the Prepared bundle and embedding, model weights) cross the pipe as
  raw bytes, written and read without an extra copy, and arrive writable.
* :class:`PortableModel`: how a :class:`RunRecord`'s ``model`` travels. **Choice**: the worker sends
  the unlearned model's exportable weights (CPU arrays + config + logit mask) and the GUI rebuilds a
  CPU copy, so *Save weights* and exports keep working on the GUI side, and keep working after the
  worker crashed or restarted. The references' models (the original and the retrained reference)
  are **not** sent: they live only in the worker's runner caches, so the GUI cannot modify the
  loaded original by construction.
* :class:`FrameCoalescer` / :class:`Outbox`: Geometry frames are thinned at the source to what the
  plots can draw (one every ``min_interval`` seconds, 0.1 s by default); a held frame is always
  delivered (on time, or before the job's end event), and a frame of one stage never replaces one
  of another (the "original" and "retrain" frames always arrive). Every other event goes through in order, batched into one message per wake-up.
* :class:`WorkerHost`: the loop inside the worker (a listener thread for cancel / stop, the main
  thread for tasks) and :func:`worker_main`, the process's entry point.
* :class:`JobProcess`: the parent's handle: start (``spawn`` context, so CUDA works), submit, cancel,
  receive, stop, and a plain-words account of how the process ended (:func:`describe_exit`).

Wire protocol (tuples, first item the message kind)::

    parent -> worker: ("task", job_id, kind, payload) | ("cancel", job_id) | ("stop",)
    worker -> parent: ("hello", pid, torch_threads) | ("begin", job_id) | ("events", [Event, ...])
                      | ("alive",)  (a heartbeat while a task computes)
"""
from __future__ import annotations

import contextlib

import collections
import faulthandler
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np
import torch

from engine._core.cancel import CancelToken
from engine._core.device import cpu_thread_budget
from engine._core.events import Event, Failed, Finished, Geometry, Log, Progress, failed_event
from engine.models.base import LetheModel
from engine.models.registry import model_from_config
from engine.runs.prepare import Prepared, prepare
from engine.runs.record import RunRecord
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec

log = logging.getLogger(__name__)

TASK_KINDS = ("run", "prepare", "debug")
END_EVENTS = (Finished, Failed, Prepared)
FRAME_INTERVAL_S = 0.1  # ~10 Geometry frames a second: what the live plots redraw
DEBUG_ENV = "LETHE_WORKER_DEBUG"  # "1" lets a worker accept the test-only "debug" tasks


# ---------------------------------------------------------------------------------------------
# one task as events


def is_end(event: Event) -> bool:
    """True for the event that ends a job (Finished, Failed or Prepared)."""
    return isinstance(event, END_EVENTS)


def job_events(runner: Runner, kind: str, payload: Any, token: CancelToken, job_id: str,
               *, allow_debug: bool = False) -> Iterator[Event]:
    """The events of one task, each stamped with ``job_id``; ends with Finished, Prepared or Failed.

    ``kind`` "run" runs ``payload`` (a :class:`JobSpec`) with :meth:`Runner.run`; "prepare" loads its
    dataset and original (:func:`engine.runs.prepare.prepare`); "debug" (tests only, when
    ``allow_debug``) performs :func:`_debug_op`. Never raises: a failure becomes one ``Failed``.
    """
    if token.cancelled:  # cancelled (or superseded) before it started
        yield Failed("Cancelled", "the job was cancelled", cancelled=True, job_id=job_id)
        return
    try:
        if kind == "run":
            yield from runner.run(payload, token, job_id=job_id)  # stamps and catches itself
            return
        if kind == "prepare":
            for ev in prepare(runner, payload, token):
                yield replace(ev, job_id=job_id)
            return
        if kind == "debug" and allow_debug:
            yield from (replace(ev, job_id=job_id) for ev in _debug_op(payload, token))
            return
        raise ValueError(f"unknown task kind {kind!r}")
    except Exception as exc:  # noqa: BLE001 - every failure becomes one Failed event, never vanishes in a worker
        failed = failed_event(exc, job_id)
        if failed.internal:
            log.error("worker task failed: %s", failed.message)
        yield failed


def _debug_op(payload: dict[str, Any], token: CancelToken) -> Iterator[Event]:
    """Test-only misbehaviour, to check that the studio survives it.

    ``{"op": "sleep", "seconds": s}``: block in native code (``time.sleep``) ignoring the token, as a
    hung kernel would; ``{"op": "exit", "code": n}``: ``os._exit(n)``; ``{"op": "signal", "signum": n}``:
    the process sends itself signal ``n`` (9 = an OOM kill, 11 = a segfault); ``{"op": "frames",
    "count": n, "seconds": s}``: ``n`` Geometry frames over ``s`` seconds, then Finished(None);
    ``{"op": "spin", "seconds": s}``: compute for ``s`` seconds without an event (alive, not hung).
    """
    op = payload.get("op")
    yield Progress("debug", 0.0, f"debug op {op}")
    if op == "sleep":
        time.sleep(float(payload.get("seconds", 3600.0)))
    elif op == "exit":
        os._exit(int(payload.get("code", 3)))
    elif op == "signal":
        os.kill(os.getpid(), int(payload.get("signum", signal.SIGKILL)))
        time.sleep(5.0)  # a handled signal would fall through to here
    elif op == "spin":
        t_end = time.monotonic() + float(payload.get("seconds", 1.0))
        x = 0
        while time.monotonic() < t_end:
            x += sum(range(1000))
    elif op == "frames":
        n, seconds = int(payload.get("count", 100)), float(payload.get("seconds", 1.0))
        rng = np.random.default_rng(0)
        labels = np.repeat(np.arange(10), 20)
        for i in range(n):  # a training-like burst (t = step): thinned, unlike an interpolation's frames
            token.check()
            yield Geometry("unlearn", i, float(i), rng.normal(size=(200, 2)).astype(np.float32), labels,
                           labels == 3, np.zeros((10, 2)), np.eye(10), {"nc1": float(i)})
            time.sleep(seconds / max(1, n))
    else:
        raise ValueError(f"unknown debug op {op!r}")
    yield Finished(None)


# ---------------------------------------------------------------------------------------------
# the wire: pickle protocol 5, NumPy buffers out of band


class UnsendableMessage(Exception):
    """A message could not be pickled (nothing of it was sent; the connection is still usable)."""


def send_message(conn: Connection, obj: Any) -> int:
    """Send ``obj`` as three parts: the buffer sizes, the pickle stream, then each raw buffer.

    Returns the bytes sent. Contiguous NumPy arrays are not copied into the pickle stream (protocol
    5 out-of-band buffers). One sender per connection end: the parts of two messages must not mix.
    """
    buffers: list[pickle.PickleBuffer] = []
    try:
        body = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    except Exception as exc:
        raise UnsendableMessage(f"{type(exc).__name__}: {exc}") from exc
    views = [b.raw() for b in buffers]
    sizes = [v.nbytes for v in views]
    conn.send_bytes(pickle.dumps(sizes, protocol=5))
    conn.send_bytes(body)
    for v in views:
        if v.nbytes:
            conn.send_bytes(v)
    return len(body) + sum(sizes)


def recv_message(conn: Connection) -> Any:
    """Receive one :func:`send_message` message; NumPy arrays come back writable (own bytearrays).

    Raises EOFError when the other end closed (the worker ended), OSError on a broken connection.
    """
    sizes: list[int] = pickle.loads(conn.recv_bytes())
    body = conn.recv_bytes()
    bufs: list[bytearray] = []
    for n in sizes:
        buf = bytearray(n)
        if n:
            conn.recv_bytes_into(buf)
        bufs.append(buf)
    return pickle.loads(body, buffers=bufs)


# ---------------------------------------------------------------------------------------------
# models across the boundary


@dataclass(frozen=True)
class PortableModel:
    """A model's exportable weights as CPU NumPy arrays, plus what rebuilds it.

    config: the registry config (``model_from_config``); logit_mask: masked classes; state: the
    ``state_dict`` as arrays (float32 etc.; tensors NumPy cannot hold stay tensors).
    """

    config: dict[str, Any]
    logit_mask: list[int]
    state: dict[str, Any]

    @classmethod
    def from_model(cls, model: LetheModel) -> PortableModel:
        exp = model.exportable()
        state: dict[str, Any] = {}
        for k, v in exp.state_dict().items():
            t = v.detach().to("cpu")
            try:
                state[k] = t.numpy().copy()
            except TypeError:  # e.g. bfloat16: no NumPy dtype
                state[k] = t.clone()
        return cls(dict(exp.config), sorted(int(i) for i in exp.logit_mask), state)

    def build(self) -> LetheModel:
        """A fresh CPU model with these weights, in eval mode."""
        model = model_from_config(self.config)
        tensors = {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in self.state.items()}
        model.load_state_dict(tensors)
        model.logit_mask = list(self.logit_mask)
        return model.eval()

    @property
    def nbytes(self) -> int:
        return int(sum(v.nbytes if isinstance(v, np.ndarray) else v.numel() * v.element_size()
                       for v in self.state.values()))


def encode_event(event: Event) -> Event:
    """What crosses the pipe: a Finished record carries a :class:`PortableModel` of its unlearned
    model, and its references carry none (the original and retrain stay in the worker)."""
    if isinstance(event, Finished) and isinstance(event.record, RunRecord):
        rec = event.record
        model = PortableModel.from_model(rec.model) if isinstance(rec.model, LetheModel) else None
        refs = [replace(r, model=None, references=[]) for r in rec.references]
        return replace(event, record=replace(rec, model=model, references=refs))
    return event


def decode_event(event: Event) -> Event:
    """The parent side of :func:`encode_event`: rebuild the unlearned model (CPU)."""
    if (isinstance(event, Finished) and isinstance(event.record, RunRecord)
            and isinstance(event.record.model, PortableModel)):
        event.record.model = event.record.model.build()
    return event


# ---------------------------------------------------------------------------------------------
# coalescing Geometry frames at the source


def is_interpolation_frame(ev: Geometry) -> bool:
    """A frame of a closed-form method's interpolation: an unlearning frame whose ``t`` is not its
    step (training methods' frames carry t = step)."""
    return ev.stage == "unlearn" and abs(float(ev.t) - float(ev.step)) > 1e-9


class FrameCoalescer:
    """Thins Geometry frames to one per ``min_interval`` seconds; pure logic over a given clock.

    :meth:`push` returns the events to send now (in order); a frame arriving too soon is held and
    replaces an older held frame of the same job and stage. A held frame is released by
    :meth:`due` once its slot comes, before any end event of the job, and before a frame of another
    stage or job (so the "original" and "retrain" frames and each stage's last frame always arrive).
    A closed-form method's interpolation frames (POUR-P's ``animation_frames``, at most 100, whose
    ``t`` runs 0..1 while ``step`` counts them) are never thinned: they are the animation itself,
    so a replay always has all of them, however fast they were computed.
    """

    def __init__(self, min_interval: float = FRAME_INTERVAL_S) -> None:
        self.min_interval = float(min_interval)
        self.held: Geometry | None = None
        self.last_sent = -float("inf")
        self.dropped = 0

    def push(self, event: Event, now: float) -> list[Event]:
        if not isinstance(event, Geometry):
            if is_end(event) or (self.held is not None and event.job_id != self.held.job_id):
                return [*self._release(now), event]
            return [event]
        if is_interpolation_frame(event):
            return [*self._release(now), event]  # (after a held frame: order kept)
        if self.held is not None and (self.held.job_id, self.held.stage) != (event.job_id, event.stage):
            out = self._release(now)  # never replaced by a frame of another stage or job
            self.held = event  # right behind another frame: wait for the next slot
            return out
        if self.held is None and now - self.last_sent >= self.min_interval:
            self.last_sent = now
            return [event]
        if self.held is not None:
            self.dropped += 1
        self.held = event
        return []

    def deadline(self) -> float | None:
        """When the held frame is due (None when nothing is held)."""
        return None if self.held is None else self.last_sent + self.min_interval

    def due(self, now: float) -> list[Event]:
        d = self.deadline()
        return self._release(now) if d is not None and now >= d else []

    def _release(self, now: float) -> list[Event]:
        if self.held is None:
            return []
        ev, self.held = self.held, None
        self.last_sent = now
        return [ev]


class Outbox:
    """A sender thread: events in (from any thread), batched, coalesced messages out.

    ``send(obj)`` is called on this thread only, with ("events", [...]) batches or with control
    messages given to :meth:`put_control`. :meth:`close` delivers what is queued, then stops.
    """

    def __init__(self, send: Callable[[Any], Any], min_interval: float = FRAME_INTERVAL_S) -> None:
        self._send = send
        self._coalescer = FrameCoalescer(min_interval)
        self._queue: collections.deque[tuple[bool, Any]] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.broken = False  # the other end went away: events are dropped from then on
        self._thread = threading.Thread(target=self._loop, name="lethe-outbox", daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        with self._cond:
            self._queue.append((False, event))
            self._cond.notify()

    def put_control(self, message: Any) -> None:
        with self._cond:
            self._queue.append((True, message))
            self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    d = self._coalescer.deadline()
                    if d is not None and time.monotonic() >= d:
                        break
                    self._cond.wait(None if d is None else max(0.0, d - time.monotonic()))
                items = list(self._queue)
                self._queue.clear()
                closing = self._closed
            now = time.monotonic()
            batch: list[Event] = []
            for is_control, item in items:
                if is_control:
                    self._flush(batch)
                    batch = []
                    self._deliver(item)
                else:
                    batch.extend(self._coalescer.push(item, now))
            batch.extend(self._coalescer.due(now))
            if closing:
                batch.extend(self._coalescer._release(now))
            self._flush(batch)
            if closing:
                return

    def _flush(self, batch: list[Event]) -> None:
        if not batch:
            return
        try:
            self._deliver(("events", [encode_event(e) for e in batch]))
        except Exception:  # noqa: BLE001 - one event cannot cross: send the others, and say which
            for e in batch:
                try:
                    self._deliver(("events", [encode_event(e)]))
                except Exception as exc:
                    log.exception("an event could not be sent to the studio")
                    self._deliver(("events", [_unsendable(e, exc)]))

    def _deliver(self, message: Any) -> None:
        """Send; raises UnsendableMessage for a message pickle refuses (nothing was sent)."""
        if self.broken:
            return
        try:
            self._send(message)
        except (OSError, EOFError):  # the parent is gone (or closed its end)
            self.broken = True


def _unsendable(event: Event, exc: Exception) -> Event:
    """What to send instead of an event that cannot cross the pipe (a job's end must still arrive)."""
    if is_end(event):
        return Failed(type(exc).__name__, f"the job's result could not be sent to the studio: {exc}",
                      "this is a bug in Lethe; please report it", internal=True, job_id=event.job_id)
    return Log(f"a {type(event).__name__} event could not be sent to the studio: {exc}", level="warning",
               job_id=event.job_id)


# ---------------------------------------------------------------------------------------------
# inside the worker process


class WorkerHost:
    """The worker's loop: one task at a time on the calling thread, cancel / stop on a listener.

    Stops on ("stop",) or when the parent's end of the pipe closes (the studio went away); a job
    that ignores its token then is left to the parent's terminate, or to ``orphan_exit_s``.

    While a task runs, a heartbeat thread sends ("alive",) every ``heartbeat_s`` seconds in which the
    process used CPU (at least 5 % of one core): a long computation that yields no event (an audit)
    is alive, while a job stuck in a native wait (a deadlock, a dead file system) or one holding the
    interpreter lock forever sends nothing, and the parent's hang timeout catches it.
    """

    def __init__(self, conn: Connection, runner: Runner | None = None, *, allow_debug: bool = False,
                 min_interval: float = FRAME_INTERVAL_S, orphan_exit_s: float = 10.0,
                 heartbeat_s: float = 1.0) -> None:
        self.conn = conn
        self.runner = runner or Runner()
        self.allow_debug = allow_debug
        self.orphan_exit_s = orphan_exit_s
        self.heartbeat_s = heartbeat_s
        self._busy = False
        self._stopping = threading.Event()
        self.outbox = Outbox(lambda m: send_message(conn, m), min_interval)
        self._tasks: queue.Queue[tuple[str, str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._tokens: dict[str, CancelToken] = {}
        self._cancelled_early: set[str] = set()

    def serve(self) -> None:
        listener = threading.Thread(target=self._listen, name="lethe-listener", daemon=True)
        listener.start()
        heartbeat = threading.Thread(target=self._heartbeat, name="lethe-heartbeat", daemon=True)
        heartbeat.start()
        self.outbox.put_control(("hello", os.getpid(), torch.get_num_threads()))
        while (task := self._tasks.get()) is not None:
            job_id, kind, payload = task
            token = CancelToken()
            with self._lock:
                self._tokens[job_id] = token
                if job_id in self._cancelled_early:
                    token.cancel()
            self.outbox.put_control(("begin", job_id))
            self._busy = True
            for event in job_events(self.runner, kind, payload, token, job_id, allow_debug=self.allow_debug):
                self.outbox.put(event)
            self._busy = False
            with self._lock:
                self._tokens.pop(job_id, None)
                self._cancelled_early.discard(job_id)
        self._stopping.set()
        self.outbox.close()

    def _heartbeat(self) -> None:
        last = time.process_time()  # CPU seconds of every thread of this process
        while not self._stopping.wait(self.heartbeat_s):
            now = time.process_time()
            if self._busy and now - last >= 0.05 * self.heartbeat_s:
                self.outbox.put_control(("alive",))
            last = now

    def _listen(self) -> None:
        while True:
            try:
                msg = recv_message(self.conn)
            except (EOFError, OSError):  # the studio closed the pipe or died
                self._cancel_all()
                self._tasks.put(None)
                timer = threading.Timer(self.orphan_exit_s, os._exit, args=(0,))
                timer.daemon = True  # only a job ignoring its token keeps the process alive that long
                timer.start()
                return
            what = msg[0]
            if what == "task":
                _, job_id, kind, payload = msg
                self._tasks.put((job_id, kind, payload))
            elif what == "cancel":
                with self._lock:
                    token = self._tokens.get(msg[1])
                    if token is not None:
                        token.cancel()
                    else:
                        self._cancelled_early.add(msg[1])
            elif what == "stop":
                self._cancel_all()
                self._tasks.put(None)
                return
            else:
                log.error("the job process got an unknown message %r", what)

    def _cancel_all(self) -> None:
        with self._lock:
            for token in self._tokens.values():
                token.cancel()


def init_worker_process(threads: int, nice: int) -> None:
    """What every Lethe worker process does first (a job process, an executor's ``submit_call``
    pool worker): add ``nice`` to its niceness (POSIX; 0 keeps the parent's priority; ignored where
    not possible) so the caller's own thread wins a busy CPU, and use ``threads`` torch threads."""
    if nice:
        with contextlib.suppress(AttributeError, OSError):  # Windows / not permitted
            os.nice(nice)
    torch.set_num_threads(max(1, threads))


def worker_main(conn: Connection, threads: int, allow_debug: bool, nice: int) -> None:
    """Entry point of the job process (``spawn``): set threads and priority, then serve until stopped."""
    faulthandler.enable()  # a segfault prints the Python stack to the inherited stderr
    init_worker_process(threads, nice)
    host = WorkerHost(conn, Runner(threads=max(1, threads)), allow_debug=allow_debug)
    try:
        host.serve()
    finally:
        conn.close()
    # Everything is delivered: leave now rather than spend a second in interpreter teardown.
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(0)


# ---------------------------------------------------------------------------------------------
# the parent's handle


_SIGNAL_WORDS = {
    "SIGKILL": "killed, possibly out of memory",
    "SIGSEGV": "segmentation fault, a crash in native code",
    "SIGABRT": "aborted by native code",
    "SIGBUS": "bus error, a crash in native code",
    "SIGFPE": "arithmetic fault in native code",
    "SIGTERM": "terminated",
}


def describe_exit(exitcode: int | None) -> str:
    """How a process ended, in words: "signal 9: killed, possibly out of memory", "exit code 3"."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        num = -exitcode
        try:
            name = signal.Signals(num).name
        except ValueError:
            name = ""
        return f"signal {num}: {_SIGNAL_WORDS.get(name, name or 'an unknown signal')}"
    return f"exit code {exitcode}"


class JobProcess:
    """The parent's handle on one job process (``spawn`` context).

    ``threads``: torch intra-op threads of the worker (default: every core but the caller's share,
    :func:`cpu_thread_budget`); ``nice``: the worker's added niceness (POSIX; 0 keeps the parent's
    priority), so on a busy machine the studio's own thread wins the CPU. Messages come from
    :meth:`recv` (blocking; one reader thread), commands go from one other thread.
    """

    def __init__(self, *, threads: int | None = None, nice: int = 5, allow_debug: bool | None = None) -> None:
        self.threads = threads if threads is not None else cpu_thread_budget()
        self.nice = nice
        self.allow_debug = os.environ.get(DEBUG_ENV) == "1" if allow_debug is None else allow_debug
        self._ctx = multiprocessing.get_context("spawn")
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None
        self._send_lock = threading.Lock()

    def start(self) -> None:
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        self._process = self._ctx.Process(target=worker_main, name="lethe-job",
                                          args=(child_end, self.threads, self.allow_debug, self.nice), daemon=True)
        # "spawn" re-runs the parent's main module in the child unless it is someone's __main__.py. The
        # worker needs nothing from it (its target is importable by name), and re-running it would
        # import Qt into the worker (python -m app.bench) or start a script without a main guard
        # again. So the child is shown an empty main module while it is launched.
        real_main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            self._process.start()
        finally:
            sys.modules["__main__"] = real_main
        child_end.close()  # only the child holds it now: its death is our EOF
        self._conn = parent_end

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def exitcode(self) -> int | None:
        return None if self._process is None else self._process.exitcode

    def is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _send(self, message: Any) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            with self._send_lock:
                send_message(conn, message)
            return True
        except (OSError, ValueError):  # the worker is gone: the reader sees EOF and reports it
            return False

    def submit(self, job_id: str, kind: str, payload: JobSpec | dict[str, Any]) -> bool:
        if kind not in TASK_KINDS:
            raise ValueError(f"task kind must be one of {TASK_KINDS}, got {kind!r}")
        return self._send(("task", job_id, kind, payload))

    def cancel(self, job_id: str) -> bool:
        return self._send(("cancel", job_id))

    def stop(self) -> bool:
        """Ask the worker to cancel its job and exit (cooperative)."""
        return self._send(("stop",))

    def poll(self, timeout: float = 0.0) -> bool:
        """True when a message (or the end of the worker) is ready within ``timeout`` seconds."""
        return self._conn is not None and self._conn.poll(timeout)

    def recv(self) -> Any:
        """The next message (blocking); events already decoded. EOFError once the worker has ended."""
        if self._conn is None:
            raise EOFError("the job process was not started")
        msg = recv_message(self._conn)
        if msg[0] == "events":
            return ("events", [decode_event(e) for e in msg[1]])
        return msg

    def terminate(self) -> None:
        """SIGTERM now (a hung native call does not block it)."""
        if self._process is not None and self._process.is_alive():
            self._process.terminate()

    def kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()

    def join(self, timeout: float | None = None) -> int | None:
        """Wait for the process to end, killing it if it outlives ``timeout``; returns the exit code."""
        if self._process is None:
            return None
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5.0)
        return self._process.exitcode

    def close(self) -> None:
        """Close our end of the pipe (the worker then stops on its own)."""
        if self._conn is not None:
            self._conn.close()


def run_headless(spec: JobSpec, *, kind: str = "run", process: JobProcess | None = None,
                 timeout: float | None = None) -> Iterator[Event]:
    """Run one task in a fresh job process and yield its events (notebooks: survive a crash).

    The process is stopped afterwards. A worker that dies yields one ``Failed`` describing how.
    """
    proc = process or JobProcess()
    proc.start()
    job_id = "headless"
    proc.submit(job_id, kind, spec)
    t_end = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            if t_end is not None and not proc.poll(max(0.0, t_end - time.monotonic())):
                proc.kill()  # no message in time: its end comes as EOF below
                t_end, timed_out = None, True
            try:
                what, *rest = proc.recv()
            except (EOFError, OSError):
                code = proc.join(2.0)
                if timed_out:
                    yield Failed("WorkerHung", f"the job process sent nothing for {timeout:g} s and was stopped",
                                 job_id=job_id)
                else:
                    yield Failed("WorkerDied", f"the job process ended unexpectedly ({describe_exit(code)})",
                                 "see the terminal for its last output", job_id=job_id)
                return
            if what != "events":
                continue
            for ev in rest[0]:
                yield ev
                if is_end(ev):
                    return
    finally:
        proc.stop()
        proc.join(5.0)
        proc.close()


__all__ = [
    "FRAME_INTERVAL_S",
    "FrameCoalescer",
    "JobProcess",
    "Outbox",
    "PortableModel",
    "UnsendableMessage",
    "WorkerHost",
    "decode_event",
    "describe_exit",
    "encode_event",
    "is_end",
    "job_events",
    "recv_message",
    "run_headless",
    "send_message",
    "worker_main",
]

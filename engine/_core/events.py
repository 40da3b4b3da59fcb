"""Events: the only contract between the engine and whoever drives it (studio, CLI, notebook).

Every event is a frozen dataclass of scalars, strings, dicts of scalars and numpy copies, so it
can cross threads safely. ``job_id`` is stamped by :class:`engine.runs.runner.Runner`; methods and loops
yield events with the default empty id.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable, Generator, Iterator
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Event:
    job_id: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class Progress(Event):
    """``fraction`` in [0, 1] of the current ``stage`` (the runner rescales it to the whole job).

    ``message``: what is happening, e.g. "epoch 3/15 · batch 12/40". ``eta_s``: seconds left in the
    stage, stamped by the runner once the stage has run 2 s (:mod:`engine._core.progress`), else None.
    """

    stage: str
    fraction: float
    message: str = ""
    eta_s: float | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Log(Event):
    message: str
    level: str = "info"


@dataclass(frozen=True)
class Metrics(Event):
    """Scalars measured at ``step`` of ``stage`` (losses, forget / retain accuracy, NC numbers)."""

    stage: str
    step: int
    values: dict[str, float]


@dataclass(frozen=True)
class Geometry(Event):
    """One frame of the feature geometry of the probe set on the fixed 2-D basis.

    coords: (N, 2) probe points; labels: (N,) class of each point; is_forget: (N,) bool;
    means2d: (C, 2) class means; gram: (C, C) Gram matrix of centred normalised class means;
    nc: neural-collapse numbers and the mean pairwise angle. ``t`` orders frames (step or 0..1).
    Optional per point (N,): ``indices`` into the training set, ``pred`` the predicted class and
    ``conf`` its softmax probability (None when the producer does not know them).
    """

    stage: str
    step: int
    t: float
    coords: np.ndarray
    labels: np.ndarray
    is_forget: np.ndarray
    means2d: np.ndarray
    gram: np.ndarray
    nc: dict[str, float]
    indices: np.ndarray | None = None
    pred: np.ndarray | None = None
    conf: np.ndarray | None = None


@dataclass(frozen=True)
class Finished(Event):
    """The job's result: ``record`` is a :class:`engine.runs.record.RunRecord`."""

    record: Any


@dataclass(frozen=True)
class Failed(Event):
    """The job stopped: ``kind`` is the error class name, ``cancelled`` is True on user cancel."""

    kind: str
    message: str
    hint: str = ""
    cancelled: bool = False
    internal: bool = False  # True for a bug (not a LetheError): the CLI exits 1, not 2


def to_numpy(t: Any) -> np.ndarray:
    """A numpy copy safe to hand to another thread (``.cpu()`` does not copy a CPU tensor)."""
    if isinstance(t, np.ndarray):
        return t.copy()
    return t.detach().to("cpu", copy=True).numpy()


def drain(gen: Any) -> Any:
    """Run an event generator to its end, dropping the events, and return its value (notebooks, tests)."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def forward(
    events: Iterator[Event], on_progress: Callable[[Progress], Event | None], keep: Callable[[Event], bool] | None = None,
) -> Generator[Event, None, Any]:
    """Yield a sub-job's events, Progress mapped by ``on_progress`` (None drops it) and the others
    kept where ``keep`` says (all by default); return the sub-job's value. The one way a stage, a
    phase or a shadow model relays its part of a job's events."""
    while True:
        try:
            ev = next(events)
        except StopIteration as stop:
            return stop.value
        if isinstance(ev, Progress):
            mapped = on_progress(ev)
            if mapped is not None:
                yield mapped
        elif keep is None or keep(ev):
            yield ev


def failed_event(exc: Exception, job_id: str = "") -> Failed:
    """The one ``Failed`` event for an exception that ended a job (the runner and the job process
    both use it): Cancelled -> cancelled; a LetheError -> its message and hint; running out of
    memory -> OutOfMemory; anything else -> an internal error with a short traceback (a bug)."""
    import traceback

    import torch

    from engine._core.errors import Cancelled, LetheError, OutOfMemory

    if isinstance(exc, Cancelled):
        return Failed("Cancelled", "the job was cancelled", cancelled=True, job_id=job_id)
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        exc = OutOfMemory("the device ran out of memory")
    if isinstance(exc, LetheError):
        return Failed(type(exc).__name__, exc.message, exc.hint, job_id=job_id)
    tb = traceback.format_exc(limit=8)
    return Failed(type(exc).__name__, f"{exc}\n{tb}", "this is a bug in Lethe; please report it", internal=True,
                  job_id=job_id)
